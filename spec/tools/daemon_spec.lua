-- SPDX-License-Identifier: GPL-2.0
-- Daemon mode (README "Daemon mode"): --output FILE and its logrotate contract (after
-- `mv FILE FILE.1; kill -HUP pid` the records go on to a new FILE: every record exactly once
-- across FILE.1 and FILE), the error for an --output that cannot be opened, the installed
-- sockhost@.service under `systemd-analyze verify`, and the capabilities the unit grants,
-- tried as an unprivileged uid. conntrace runs filtered to this process's pid (or in --demo's
-- own cgroup), sockex1 on a veth pair in a network namespace of the spec's own.
local cjson = require "cjson"
local p = require "helpers.packets"
local proc = require "helpers.proc"
local wire = require "helpers.wire"
local traffic = require "helpers.traffic"

local bin = proc.env("SOCKHOST_BIN")
local build = proc.env("SOCKHOST_BUILD_DIR")
local quote, read_file, wait_for, records = proc.quote, proc.read_file, proc.wait_for, proc.records

-- Run a tool to its end; returns exit status, stdout, stderr.
local function run(cmd)
   local out, err = os.tmpname(), os.tmpname()
   local ok, _, code = os.execute(("%s >%s 2>%s"):format(cmd, out, err))
   local o, e = read_file(out), read_file(err)
   os.remove(out)
   os.remove(err)
   return ok and 0 or code, o, e
end

local function mode_of(path)
   local ok, out = proc.sh("stat -c %a " .. quote(path))
   assert(ok, out)
   return (out:gsub("\n$", ""))
end

-- logrotate's move and signal; returns once the tool has opened the new file.
local function rotate(pid, file)
   assert(os.rename(file, file .. ".1"))
   assert(proc.kill(pid, "HUP"))
   assert(wait_for(function() return read_file(file) ~= nil end, 5),
      "no new " .. file .. " after SIGHUP")
end

describe("--output #tools", function()
   local dir
   before_each(function() dir = proc.tmpdir() end)
   after_each(function() proc.sh("rm -rf " .. quote(dir)) end)

   describe("conntrace", function()
      local pid
      after_each(function() proc.reap(pid) end)

      it("puts every record in exactly one of FILE.1 and FILE across a SIGHUP", function()
         local file, err = dir .. "/c.ndjson", dir .. "/err"
         pid = proc.spawn(("exec %s conntrace --json --pid %d --output %s >%s/stdout 2>%s")
            :format(quote(bin), proc.pid(), quote(file), quote(dir), quote(err)))
         assert(wait_for(function()
            return (read_file(err) or ""):find("conntrace: filters:", 1, true)
         end), "conntrace never started: " .. tostring(read_file(err)))
         assert.equal("640", mode_of(file))
         local ports = {}
         local function exchange(n)
            local x = traffic.tcp_exchange({ host = "127.0.0.1", send = 10, reply = 20 })
            ports[#ports + 1] = x.client_port
            assert(wait_for(function() return #records(read_file(file) or "") >= n end),
               "no close records: " .. tostring(read_file(file)))
         end
         exchange(2)
         exchange(4)
         rotate(pid, file)
         exchange(2)
         assert(proc.kill(pid, "INT"))
         assert(proc.wait_gone(pid, 10), "conntrace did not exit on SIGINT")
         local old, new = records(read_file(file .. ".1")), records(read_file(file))
         assert.equal(4, #old)
         assert.equal(2, #new)
         assert.equal("", read_file(dir .. "/stdout"))
         assert.equal("640", mode_of(file))
         -- each connection's client record once, in the file of its time
         local function clients(recs)
            local set = {}
            for _, r in ipairs(recs) do
               if r.role == "client" then set[#set + 1] = r.sport end
            end
            table.sort(set)
            return set
         end
         local first = { ports[1], ports[2] }
         table.sort(first)
         assert.same(first, clients(old))
         assert.same({ ports[3] }, clients(new))
         assert.matches("conntrace: 6 connections seen, 6 closed, 0 still open, 0 events "
            .. "dropped, 0 discarded %(signal SIGINT%)\n$", read_file(err))
      end)

      it("--demo: a rotation while it runs loses and repeats none of its records", function()
         local file, err = dir .. "/d.ndjson", dir .. "/err"
         pid = proc.spawn(("exec %s conntrace --demo --duration 3 --json --output %s 2>%s")
            :format(quote(bin), quote(file), quote(err)))
         assert(wait_for(function()
            return (read_file(err) or ""):find("conntrace: filters:", 1, true)
         end), "conntrace never started: " .. tostring(read_file(err)))
         -- the demo closes its connections at 0.6 * duration (1.8 s)
         rotate(pid, file)
         assert(proc.wait_gone(pid, 10), "conntrace --demo did not end")
         local stderr = read_file(err)
         local seen = {}
         for _, path in ipairs({ file .. ".1", file }) do
            for _, r in ipairs(records(read_file(path))) do
               local key = r.role .. " " .. r.sport
               assert.is_nil(seen[key], "twice: " .. key)
               seen[key] = true
               seen[#seen + 1] = key
            end
         end
         -- 3 connections (2 without IPv6), a record per side, each in one of the files
         local n = stderr:match("conntrace: (%d+) connections seen, (%d+) closed")
         assert.is_true(n == "6" or n == "4", stderr)
         assert.equal(tonumber(n), #seen)
         assert.is_true(#records(read_file(file)) > 0, "nothing after the rotation")
      end)
   end)

   describe("sockex1", function()
      local bed
      setup(function() bed = wire.create("daemon") end)
      teardown(function() if bed then wire.remove(bed) end end)

      local function frames(n)
         local udp = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_UDP,
            payload = p.udp { sport = 1, dport = 2, data = "x" } }
         local t = {}
         for i = 1, n do t[i] = p.eth { src = "02:00:00:00:00:0a", type = p.ETH_P_IP,
            payload = udp } end
         return t
      end

      local function udp_packets(r)
         local u = r.protocols.udp
         return u and u.packets or 0
      end

      it("puts every report in exactly one of FILE.1 and FILE across a SIGHUP", function()
         local file = dir .. "/s.ndjson"
         local t = wire.tool(bed, "sockex1", bed.a, "--json --output " .. quote(file))
         local function until_packets(path, n)
            assert(wait_for(function()
               local recs = records(read_file(path) or "")
               return #recs > 0 and udp_packets(recs[#recs]) == n
            end, 5), ("no record with %d packets in %s"):format(n, tostring(read_file(path))))
         end
         local out, err
         local ok, e = pcall(function()
            wire.send(bed, bed.a, frames(3))
            until_packets(file, 3)
            rotate(t.pid, file)
            wire.send(bed, bed.a, frames(4))
            until_packets(file, 7)
         end)
         out, err = wire.finish(t)
         assert(ok, e)
         assert.equal("", out)
         local old, new = records(read_file(file .. ".1")), records(read_file(file))
         assert.is_true(#old >= 1 and #new >= 1, ("%d and %d records"):format(#old, #new))
         -- the reports, one a second, then the final one: elapsed 1, 2, ..., n across the
         -- two files, none missing and none twice, and the final one last
         local all = {}
         for _, r in ipairs(old) do all[#all + 1] = r end
         for _, r in ipairs(new) do all[#all + 1] = r end
         for i = 1, #all - 1 do
            assert.is_false(all[i].final)
            assert.equal(i, math.floor(all[i].elapsed + 0.5), cjson.encode(all))
         end
         assert.is_true(all[#all].final)
         assert.equal(7, udp_packets(all[#all]))
         assert.is_true(udp_packets(old[#old]) == 3, cjson.encode(old))
         assert.matches("sockex1: wa %(out%) after", err)
      end)
   end)

   describe("errors", function()
      it("an --output that cannot be opened: one line, exit status 1, nothing attached",
         function()
         local code, out, err = run(("%s conntrace --json --output %s"):format(quote(bin),
            quote(dir .. "/no/such/dir/x.ndjson")))
         assert.same({ 1, "", ("conntrace: --output %s/no/such/dir/x.ndjson: No such file or "
            .. "directory\n"):format(dir) }, { code, out, err })
         code, out, err = run(("%s sockex1 --iface lo --json --output %s"):format(quote(bin),
            quote(dir)))
         assert.same({ 1, "", ("sockex1: --output %s: Is a directory\n"):format(dir) },
            { code, out, err })
      end)

      it("a reopen that fails says so and keeps writing to the old file", function()
         proc.must("mkdir " .. quote(dir .. "/logs"))
         local file, err = dir .. "/logs/s.ndjson", dir .. "/err"
         local pid = proc.spawn(("exec %s sockex1 --iface lo --json --output %s 2>%s")
            :format(quote(bin), quote(file), quote(err)))
         finally(function() proc.reap(pid) end)
         assert(wait_for(function() return #records(read_file(file) or "") >= 1 end, 5),
            "no report: " .. tostring(read_file(err)))
         -- the whole directory goes: the path cannot be opened anew
         assert(os.rename(dir .. "/logs", dir .. "/moved"))
         assert(proc.kill(pid, "HUP"))
         local line = ("sockex1: --output %s: No such file or directory; still writing to the "
            .. "old file\n"):format(file)
         assert(wait_for(function() return (read_file(err) or ""):find(line, 1, true) end, 5),
            "no complaint: " .. tostring(read_file(err)))
         local n = #records(read_file(dir .. "/moved/s.ndjson"))
         assert(wait_for(function()
            return #records(read_file(dir .. "/moved/s.ndjson")) > n
         end, 5), "no report after the failed reopen")
         assert(proc.kill(pid, "INT"))
         assert(proc.wait_gone(pid, 10), "sockex1 did not exit on SIGINT")
         assert.is_true(records(read_file(dir .. "/moved/s.ndjson"))[n + 1] ~= nil)
         assert.is_nil(read_file(file))
      end)

      it("--output without --json", function()
         local code, out, err = run(("%s hello-sockops --output %s/x"):format(quote(bin),
            quote(dir)))
         assert.same({ 1, "", "hello-sockops: --output needs --json\n" }, { code, out, err })
         assert.is_nil(read_file(dir .. "/x"))
      end)

      it("appends to an existing file and keeps its mode", function()
         local file = dir .. "/keep.ndjson"
         proc.must(("printf 'old\\n' >%s && chmod 600 %s"):format(quote(file), quote(file)))
         local code = run(("%s sockex1 --iface lo --json --duration 0.2 --output %s")
            :format(quote(bin), quote(file)))
         assert.equal(0, code)
         local text = read_file(file)
         assert.equal("old\n", text:sub(1, 4))
         assert.equal(1, #records(text:sub(5)))
         assert.equal("600", mode_of(file))
      end)
   end)
end)

describe("sockhost@.service #tools", function()
   local prefix
   setup(function()
      prefix = proc.tmpdir()
      proc.must(("cmake --install %s --prefix %s >/dev/null"):format(quote(build), quote(prefix)))
   end)
   teardown(function() if prefix then proc.sh("rm -rf " .. quote(prefix)) end end)

   local function unit() return prefix .. "/lib/systemd/system/sockhost@.service" end

   it("is installed with ExecStart the installed sockhost, and passes systemd-analyze verify",
      function()
      local text = assert(read_file(unit()))
      assert.matches("\nExecStart=" .. prefix:gsub("%p", "%%%0") .. "/bin/sockhost %%i "
         .. "%$SOCKHOST_ARGS\n", text)
      assert.matches("\nExecReload=/bin/kill %-HUP %$MAINPID\n", text)
      assert.matches("\nEnvironmentFile=/etc/sockhost/%%i.conf\n", text)
      local ok, out = proc.sh("systemd-analyze verify --man=no " .. quote(unit()) .. " 2>&1")
      assert.same({ true, "" }, { ok, out })
      -- and verify does look: a unit whose ExecStart is not there fails it
      local bad = prefix .. "/sockhost@.service"
      proc.must(("sed 's|^ExecStart=[^ ]*|ExecStart=/nonexistent/sockhost|' %s >%s")
         :format(quote(unit()), quote(bad)))
      ok, out = proc.sh("systemd-analyze verify --man=no " .. quote(bad) .. " 2>&1")
      assert.is_false(ok)
      assert.matches("/nonexistent/sockhost is not executable", out, 1, true)
   end)

   it("installs the logrotate snippet: SIGHUP through systemctl reload, no copytruncate",
      function()
      local text = assert(read_file(prefix .. "/etc/logrotate.d/sockhost"))
      assert.matches("/var/log/sockhost/*.ndjson {", text, 1, true)
      assert.matches("systemctl reload 'sockhost@*.service'", text, 1, true)
      assert.is_nil(text:find("\n%s*copytruncate"))
      assert.matches("\n%s*nocreate\n", text)
   end)

   it("the logrotate snippet, run by logrotate on a running sockex1: every report once",
      function()
      -- scripts/install-deps.sh installs logrotate: missing is a failure, not a skip
      assert(proc.sh("command -v logrotate >/dev/null"), "logrotate is not installed")
      local dir = proc.tmpdir()
      local file, pid = dir .. "/sockex1.ndjson", nil
      finally(function()
         proc.reap(pid)
         proc.sh("rm -rf " .. quote(dir))
      end)
      pid = proc.spawn(("exec %s sockex1 --iface lo --json --output %s 2>%s/err")
         :format(quote(bin), quote(file), quote(dir)))
      assert(wait_for(function() return #records(read_file(file) or "") >= 2 end, 5),
         "no reports: " .. tostring(read_file(dir .. "/err")))
      -- the installed snippet with this file and this pid in place of the service's
      local conf = read_file(prefix .. "/etc/logrotate.d/sockhost")
         :gsub("/var/log/sockhost/%*%.ndjson", dir .. "/*.ndjson")
         :gsub("systemctl reload 'sockhost@%*%.service'", "kill -HUP " .. pid)
      local f = assert(io.open(dir .. "/logrotate.conf", "w"))
      f:write(conf)
      f:close()
      proc.must(("logrotate -f -s %s/state %s/logrotate.conf"):format(quote(dir), quote(dir)))
      assert(wait_for(function() return #records(read_file(file) or "") >= 2 end, 5),
         "no reports after the rotation")
      assert(proc.kill(pid, "INT"))
      assert(proc.wait_gone(pid, 10), "sockex1 did not exit on SIGINT")
      -- delaycompress: the first rotation is sockex1.ndjson.1, uncompressed
      local old, new = records(read_file(file .. ".1")), records(read_file(file))
      assert.is_true(#old >= 2 and #new >= 2, ("%d and %d records"):format(#old, #new))
      local all = table.move(new, 1, #new, #old + 1, table.move(old, 1, #old, 1, {}))
      for i = 1, #all - 1 do
         assert.equal(i, math.floor(all[i].elapsed + 0.5), cjson.encode(all))
      end
      assert.is_true(all[#all].final)
      assert.equal("640", mode_of(file))
   end)
end)

-- The unit's capabilities, per tool, as README "Daemon mode" documents them: the tool runs
-- as uid nobody with exactly those (ambient) and fails with any one of them dropped.
describe("capabilities #tools", function()
   local dir
   before_each(function()
      dir = proc.tmpdir()
      proc.must("chown nobody " .. quote(dir))
   end)
   after_each(function() proc.sh("rm -rf " .. quote(dir)) end)

   local function as_nobody(caps, cmd)
      local list = table.concat(caps, ",")
      return run(("capsh --caps=%s --keep=1 --user=nobody --addamb=%s -- -c %s"):format(
         quote(list .. "+eip cap_setpcap,cap_setuid,cap_setgid+ep"), list, quote(cmd)))
   end

   -- hello-sockops and redirect attach to a cgroup of the spec's own (made in setup)
   local cg
   setup(function() cg = require("helpers.cgroup").new("daemoncaps") end)
   teardown(function() if cg then require("helpers.cgroup").remove(cg) end end)
   local TOOLS = {
      { "conntrace", { "cap_bpf", "cap_perfmon", "cap_dac_read_search" }, "" },
      { "hello-sockops", { "cap_bpf", "cap_net_admin" }, "--cgroup CG" },
      { "redirect", { "cap_bpf", "cap_perfmon", "cap_net_admin" }, "--cgroup CG" },
      { "sockex1", { "cap_bpf", "cap_net_raw" }, "--iface lo" },
   }
   it("the unit grants each of them, ambient and in its bounding set", function()
      local unit = read_file(proc.env("SOCKHOST_SOURCE_DIR") .. "/dist/sockhost@.service.in")
      for _, key in ipairs({ "AmbientCapabilities", "CapabilityBoundingSet" }) do
         local set = " " .. assert(unit:match("\n" .. key .. "=([^\n]*)"), key) .. " "
         for _, tool in ipairs(TOOLS) do
            for _, c in ipairs(tool[2]) do
               assert.truthy(set:find(" " .. c:upper() .. " ", 1, true), key .. " lacks " .. c)
            end
         end
      end
   end)

   for _, tool in ipairs(TOOLS) do
      local name, caps, args = tool[1], tool[2], tool[3]
      it(name .. " runs as nobody with " .. table.concat(caps, " ") .. ", not with fewer",
         function()
         local cmd = ("%s %s %s --json --duration 0.3 --output %s/o.ndjson"):format(quote(bin),
            name, (args:gsub("CG", quote(cg))), dir)
         local code, _, err = as_nobody(caps, cmd)
         assert.equal(0, code, err)
         -- created by nobody; sockex1 writes its final report even with nothing counted
         assert.equal("640", mode_of(dir .. "/o.ndjson"))
         if name == "sockex1" then
            assert.equal(1, #records(read_file(dir .. "/o.ndjson")))
         elseif name == "redirect" then -- a start and a total record
            assert.equal(2, #records(read_file(dir .. "/o.ndjson")))
         end
         for drop = 1, #caps do
            local fewer = {}
            for i, c in ipairs(caps) do if i ~= drop then fewer[#fewer + 1] = c end end
            code, _, err = as_nobody(fewer, cmd)
            assert.equal(1, code, "without " .. caps[drop] .. ": " .. err)
            -- refused by the kernel: EPERM/EACCES, or (redirect without CAP_PERFMON) the
            -- verifier, which keeps bpf_skc_to_tcp_sock from a program without it
            assert.matches("^" .. name:gsub("%-", "%%-") .. ": ", err)
            assert.is_true(err:find("Operation not permitted", 1, true) ~= nil
               or err:find("Permission denied", 1, true) ~= nil
               or err:find("was rejected by the verifier", 1, true) ~= nil, err)
         end
      end)
   end
end)
