-- SPDX-License-Identifier: GPL-2.0
-- scripts/hello-sockops.lua run as a user runs it, against one connection the spec makes
-- inside the spec's own cgroup.
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local traffic = require "helpers.traffic"
local bpftool = require "helpers.bpftool"
local cjson = require "cjson"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")
local script = src .. "/scripts/hello-sockops.lua"

local read_file, wait_for = proc.read_file, proc.wait_for

describe("scripts/hello-sockops.lua #tools", function()
   local cg, out, pid
   before_each(function()
      pid = nil
      cg = cgroup.new("hello")
      out = os.tmpname()
   end)
   after_each(function()
      -- a failed wait leaves the script running, attached to the cgroup
      local gone = proc.reap(pid)
      os.remove(out)
      os.remove(out .. ".err")
      os.remove(out .. ".status")
      assert(wait_for(function() return cgroup.remove(cg) end, 5))
      assert(gone, "the script " .. tostring(pid) .. " did not go")
   end)

   --- Run the script on the spec's cgroup, make one connection in it, stop it with SIGINT.
   local function run(flags, host)
      pid = proc.spawn(string.format("exec %s %s --cgroup %s %s >%s 2>%s.err",
         proc.quote(bin), proc.quote(script), proc.quote(cg), flags, out, out))
      assert(wait_for(function() return #bpftool.prog_ids_attached_to_cgroup(cg) == 1 end),
         "script never attached: " .. tostring(read_file(out .. ".err")))
      local ports = cgroup.within(cg, function()
         return traffic.tcp_exchange({ host = host, send = 64, reply = 64 })
      end)
      -- the connect callback comes last among the ones checked below; wait for its line
      assert(wait_for(function()
         local s = read_file(out) or ""
         return s:find("passive_established_cb", 1, true) and s:find("active_established_cb", 1, true)
      end), "no establishment lines: " .. tostring(read_file(out)))
      assert(proc.sh("kill -INT " .. pid))
      assert(proc.wait_gone(pid, 10))
      assert.same({}, bpftool.prog_ids_attached_to_cgroup(cg))
      return ports, read_file(out), read_file(out .. ".err")
   end

   it("prints one line per callback with pid, local address and op name", function()
      local ports, stdout, stderr = run("", "127.0.0.1")
      local function count(pattern)
         local n = 0
         for _ in stdout:gmatch(pattern) do n = n + 1 end
         return n
      end
      local c, s = ports.client_port, ports.server_port
      assert.equal(1, count("PID %d+ | from 127%.0%.0%.1:" .. c .. " | op tcp_connect_cb | to 127%.0%.0%.1:" .. s .. "[^\n]*\n"))
      assert.equal(1, count("PID %d+ | from 127%.0%.0%.1:" .. c .. " | op active_established_cb |"))
      assert.equal(1, count("PID %d+ | from 127%.0%.0%.1:" .. s .. " | op passive_established_cb |"))
      assert.equal(1, count("PID %d+ | from 127%.0%.0%.1:" .. s .. " | op tcp_listen_cb"))
      assert.matches("hello%-sockops: %d+ events, 0 dropped %(signal SIGINT, cgroup .+%)\n$", stderr)
   end)

   it("writes NDJSON with the documented fields (IPv6)", function()
      local ports, stdout = run("--json", "::1")
      local ops = {}
      for line in stdout:gmatch("[^\n]+") do
         local r = cjson.decode(line)
         assert.equal("inet6", r.family)
         assert.equal("::1", r.laddr)
         assert.is_number(r.pid)
         local key = r.op .. ":" .. math.tointeger(r.lport)
         ops[key] = (ops[key] or 0) + 1
         if r.op == "tcp_connect_cb" then
            assert.equal(ports.server_port, r.rport)
            assert.equal("::1", r.raddr)
         end
      end
      assert.equal(1, ops["tcp_connect_cb:" .. ports.client_port])
      assert.equal(1, ops["active_established_cb:" .. ports.client_port])
      assert.equal(1, ops["passive_established_cb:" .. ports.server_port])
   end)

   it("refuses a cgroup that does not exist, attaching nothing", function()
      local ok, stdout, code = proc.sh(string.format("%s %s --cgroup /nonexistent/cg 2>&1",
         proc.quote(bin), proc.quote(script)))
      assert.is_false(ok)
      assert.equal(1, code)
      assert.matches("cgroup '/nonexistent/cg': No such file or directory", stdout)
   end)
end)
