-- SPDX-License-Identifier: GPL-2.0
-- Nothing outlives the process: a sockhost script stopped by SIGINT, SIGTERM, SIGKILL or
-- its own error leaves no program attached to its cgroup and none of its programs loaded (a
-- program stays loaded while a link, a socket or a map still holds it, so this covers the
-- cgroup and tracepoint links, the sockmap attachment and the socket filter).
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local bpftool = require "helpers.bpftool"

local bin = proc.env("SOCKHOST_BIN")

local read_file, wait_for = proc.read_file, proc.wait_for
local prog_exists = bpftool.prog_exists

--- The script the child runs: attaches sock_ops to the cgroup, a tracepoint, an sk_msg
-- program and a socket filter (on a UDP socket of its own), reports its pid and program ids,
-- then waits in run() and writes what run() returned.
local SCRIPT = [[
local sockhost = require "sockhost"
local socket = require "socket"
local cg, dir, mode = arg[1], arg[2], arg[3]
local fixtures = require "helpers.fixtures"
local hello = sockhost.open("hello-sockops")
local l1 = hello:program("hello"):attach(cg)
local tp = fixtures.open("tpcount", { programs = { "sys_enter_getppid" } })
local l2 = tp:program("sys_enter_getppid"):attach()
local sk = fixtures.open("skmsg", { programs = { "msg_count" } })
local l3 = sk:program("msg_count"):attach(sk:map("sock_map"))
local filter = fixtures.open("sockcount")
-- the filter holds its program through the socket only: the object closes right away
local u = assert(socket.udp4())
assert(u:setsockname("127.0.0.1", 0))
filter:program("count"):attach(u)
local ids = { hello:program("hello"):info().id, tp:program("sys_enter_getppid"):info().id,
              sk:program("msg_count"):info().id, filter:program("count"):info().id }
filter:close()
local function ready()
   local f = assert(io.open(dir .. "/ready.tmp", "w"))
   f:write(sockhost.pid(), " ", table.concat(ids, " "), "\n")
   f:close()
   os.rename(dir .. "/ready.tmp", dir .. "/ready")
end
-- ready is said from inside run(), so a signal the spec sends always finds run() waiting
if mode == "busy" then ready() else sockhost.after(0.01, ready) end
if mode == "error" then
   -- the error comes when the spec says so, after it has seen everything attached
   sockhost.every(0.02, function()
      if io.open(dir .. "/go") then error("boom from a timer") end
   end)
end
if mode == "busy" then
   while true do end
end
local reason, sig = sockhost.run()
local f = assert(io.open(dir .. "/summary", "w"))
f:write(reason, " ", tostring(sig), "\n")
f:close()
]]

describe("teardown #kernel", function()
   local cg, dir, script, child
   before_each(function()
      child = nil
      cg = cgroup.new("teardown")
      dir = proc.tmpdir()
      script = dir .. "/script.lua"
      local f = assert(io.open(script, "w"))
      f:write(SCRIPT)
      f:close()
   end)
   after_each(function()
      -- a failed test can leave the child running ("busy" spins forever): its whole group goes
      local gone = proc.reap(child)
      proc.sh("rm -rf " .. proc.quote(dir))
      assert(wait_for(function() return cgroup.remove(cg) end, 5))
      assert(gone, "the script's process group " .. tostring(child) .. " did not go")
   end)

   --- Start the script; returns its pid and its 4 program ids once everything is attached.
   local function start(mode)
      -- the status file appears whole (rename), so status() never reads it half written
      child = proc.spawn(string.format("%s %s %s %s %s 2>%s/stderr; echo $? > %s/status.tmp; "
         .. "mv %s/status.tmp %s/status", proc.quote(bin), proc.quote(script),
         proc.quote(cg), proc.quote(dir), mode or "run", dir, dir, dir, dir))
      local ready = wait_for(function() return read_file(dir .. "/ready") end)
      assert(ready, "script did not get ready: " .. tostring(read_file(dir .. "/stderr")))
      local nums = {}
      for n in ready:gmatch("%d+") do nums[#nums + 1] = math.tointeger(tonumber(n)) end
      local pid = table.remove(nums, 1)
      assert.equal(4, #nums, ready)
      assert.same({ nums[1] }, bpftool.prog_ids_attached_to_cgroup(cg))
      for _, id in ipairs(nums) do assert.is_true(prog_exists(id), "program id " .. id) end
      return pid, nums
   end

   --- The script's exit status, once the shell has written it.
   local function status()
      local s = wait_for(function() return (read_file(dir .. "/status") or ""):match("^(%d+)\n$") end)
      return s and math.tointeger(tonumber(s))
   end

   local function assert_nothing_left(ids)
      assert.same({}, bpftool.prog_ids_attached_to_cgroup(cg))
      -- programs are freed after an RCU grace period once the last reference goes
      for _, id in ipairs(ids) do
         assert.is_true(wait_for(function() return not prog_exists(id) end, 5) or false,
            "program id " .. id .. " is still loaded")
      end
   end

   for _, sig in ipairs({ "INT", "TERM" }) do
      it("on SIG" .. sig .. " returns from run, lets the script finish, then detaches", function()
         local pid, ids = start()
         assert(proc.sh("kill -" .. sig .. " " .. pid))
         assert.equal(0, status())
         assert.equal("signal SIG" .. sig .. "\n", read_file(dir .. "/summary"))
         assert_nothing_left(ids)
      end)
   end

   it("on SIGKILL leaves nothing attached (the kernel drops the links)", function()
      local pid, ids = start()
      assert(proc.sh("kill -KILL " .. pid))
      assert.equal(137, status())
      assert.is_nil(read_file(dir .. "/summary"))
      assert_nothing_left(ids)
   end)

   it("on SIGINT outside run interrupts the script, detaches and exits 130", function()
      local pid, ids = start("busy")
      assert(proc.sh("kill -INT " .. pid))
      assert.equal(130, status())
      assert.matches("interrupted", read_file(dir .. "/stderr"))
      assert_nothing_left(ids)
   end)

   it("on a callback error stops with the traceback, detaches and exits 1", function()
      local _, ids = start("error")
      assert(io.open(dir .. "/go", "w")):close()
      assert.equal(1, status())
      local err = read_file(dir .. "/stderr")
      assert.matches("boom from a timer", err)
      assert.matches("stack traceback", err)
      assert.is_nil(read_file(dir .. "/summary"))
      assert_nothing_left(ids)
   end)
end)
