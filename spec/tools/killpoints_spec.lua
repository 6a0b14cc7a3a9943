-- SPDX-License-Identifier: GPL-2.0
-- Kill points: every shipped tool, ended by SIGINT, SIGTERM or SIGKILL while it starts and
-- while it runs, leaves no program loaded, no cgroup, no pin and no process behind. SIGKILL
-- runs no cleanup at all: the kernel drops what the process held, and what it cannot drop
-- (a --demo cgroup, a --pin) the next run of the tool finds: the demo cgroup is removed, the
-- pin is reported.
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local socket = require "socket"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")

local function cmd(tool, args)
   return ("%s %s/scripts/%s.lua %s"):format(proc.quote(bin), proc.quote(src), tool, args)
end

-- names of the loaded BPF programs (bpftool), counted
local function programs()
   local ok, out = proc.sh("bpftool prog show 2>/dev/null")
   assert(ok, "bpftool prog show failed")
   local n = {}
   for name in out:gmatch("\n?%d+: [%w_]+%s+name (%S+)") do n[name] = (n[name] or 0) + 1 end
   return n
end

-- programs loaded now beyond what before had ("" when none): a program of the previous
-- test's process may still be on its way out in before, so only growth counts
local function new_programs(before, now)
   local list = {}
   for name, n in pairs(now) do
      if n > (before[name] or 0) then list[#list + 1] = name end
   end
   table.sort(list)
   return table.concat(list, " ")
end

local function sockhost_cgroups()
   local _, out = proc.sh("ls -1 " .. proc.quote(cgroup.root()) .. " 2>/dev/null")
   local set = {}
   for entry in out:gmatch("[^\n]+") do
      if entry:match("^sockhost%-") then set[entry] = true end
   end
   return set
end

-- the sockhost-* cgroups in now that were not in before ("" when none)
local function new_cgroups(before, now)
   local list = {}
   for name in pairs(now) do
      if not before[name] then list[#list + 1] = name end
   end
   table.sort(list)
   return table.concat(list, " ")
end

local function pins()
   local _, out = proc.sh("ls -1 /sys/fs/bpf 2>/dev/null")
   return out
end

describe("#tools kill points", function()
   local cg

   setup(function()
      cg = cgroup.new("killpoints")
   end)

   teardown(function()
      if cg then cgroup.remove(cg) end
   end)

   local tools = {
      { "conntrace", "--demo --duration 30" },
      { "hello-sockops", "--demo --duration 30" },
      { "redirect", function() return "--cgroup " .. proc.quote(cg) .. " --duration 30" end },
      { "sockex1", "--iface lo --duration 30" },
      { "sockex3", "--iface lo --duration 30" },
   }
   for _, t in ipairs(tools) do
      for _, sig in ipairs({ "INT", "TERM", "KILL" }) do
         for _, at in ipairs({ 0.05, 0.6 }) do
            local when = at < 0.1 and "while it starts" or "while it runs"
            it(("%s on SIG%s %s leaves nothing behind"):format(t[1], sig, when), function()
               local args = type(t[2]) == "function" and t[2]() or t[2]
               local before_progs, before_cg, before_pins = programs(), sockhost_cgroups(), pins()
               local pid = proc.spawn(cmd(t[1], args))
               finally(function() proc.reap(pid) end)
               socket.sleep(at)
               proc.kill(pid, sig)
               assert.is_true(proc.wait_gone(pid, 10), "still running after SIG" .. sig)
               -- the kernel frees a dead process's programs shortly after, not at once
               proc.wait_for(function() return new_programs(before_progs, programs()) == "" end, 5)
               assert.equal("", new_programs(before_progs, programs()))
               assert.equal(before_pins, pins())
               if sig == "KILL" and args:find("--demo", 1, true) then
                  -- its demo cgroup may be left: the next run removes it, and says so
                  local ok, out = proc.sh(cmd(t[1], "--demo --duration 0.3") .. " 2>&1 >/dev/null")
                  assert.is_true(ok, out)
               end
               assert.equal("", new_cgroups(before_cg, sockhost_cgroups()))
            end)
         end
      end
   end

   it("conntrace --pin: SIGINT removes the pin, SIGKILL leaves it and the next start says so", function()
      local path = "/sys/fs/bpf/sockhost-spec-conns-" .. proc.next_id()
      finally(function() os.remove(path) end)
      local pid = proc.spawn(cmd("conntrace", "--pin " .. path .. " --duration 30"))
      assert.truthy(proc.wait_for(function() return io.open(path) end, 5))
      proc.kill(pid, "INT")
      assert.is_true(proc.wait_gone(pid, 10))
      assert.is_nil(io.open(path))
      pid = proc.spawn(cmd("conntrace", "--pin " .. path .. " --duration 30"))
      assert.truthy(proc.wait_for(function() return io.open(path) end, 5))
      proc.kill(pid, "KILL")
      assert.is_true(proc.wait_gone(pid, 10))
      local ok, out, code = proc.sh(cmd("conntrace", "--pin " .. path .. " --duration 0.2") .. " 2>&1")
      assert.is_false(ok)
      assert.equal(1, code)
      assert.equal(("conntrace: --pin %s: a conntrace connections map is already pinned there (left "
         .. "by a conntrace that was killed?); remove it with: rm %s\n"):format(path, path), out)
   end)
end)
