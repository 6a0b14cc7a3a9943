-- SPDX-License-Identifier: GPL-2.0
-- hello-sockops and redirect with --metrics on a cgroup of the spec's own, scraped by a real
-- Prometheus (1 s scrape) while the spec makes TCP traffic it knows exactly: Prometheus' query
-- API must report the callbacks, messages, bytes and sockets the traffic made, series by
-- series, and the same figures the tool itself writes (its --json records, its summary);
-- `promtool check metrics` must pass on each tool's scrape.
local socket = require "socket"
local cjson = require "cjson"
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local bpftool = require "helpers.bpftool"
local traffic = require "helpers.traffic"
local testbed = require "helpers.testbed"
local prometheus = require "helpers.prometheus"
local check = require "helpers.promcheck"

local q, read_file, wait_for = proc.quote, proc.read_file, proc.wait_for
local build = proc.env("SOCKHOST_BUILD_DIR")
local tcpcheck = build .. "/spec/tcpcheck"
local halfclose = build .. "/spec/halfclose"

-- scripts/<name>.lua --cgroup <cg> --metrics 127.0.0.1:0 <extra>, stdout and stderr into dir,
-- running until stopped; returns { pid =, port =, out =, err =, stop = function() -> stdout,
-- stderr }, once its programs are attached to the cgroup (n of them there then).
local function start_tool(dir, name, cg, extra, n)
   local tag = name .. (n or 1)
   local t = { out = ("%s/%s.out"):format(dir, tag), err = ("%s/%s.err"):format(dir, tag) }
   t.pid = proc.spawn(("exec %s %s --cgroup %s --metrics 127.0.0.1:0 %s >%s 2>%s"):format(
      q(proc.env("SOCKHOST_BIN")), q(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name
      .. ".lua"), q(cg), extra or "", q(t.out), q(t.err)))
   t.port = prometheus.tool_port(t.err)
   t.instance = "127.0.0.1:" .. t.port
   assert(wait_for(function() return #bpftool.prog_ids_attached_to_cgroup(cg) == (n or 1) end,
      10), name .. " never attached: " .. tostring(read_file(t.err)))
   function t.stop()
      proc.kill(t.pid, "INT")
      assert(proc.wait_gone(t.pid, 10), name .. " did not stop")
      return read_file(t.out), read_file(t.err)
   end
   return t
end

local scrape = prometheus.scrape

-- JSON from a spec tool's stdout (one object, or one per line keyed by role)
local function report(cmd)
   local _, out = proc.sh(cmd .. " 2>&1")
   local by, last = {}, nil
   for line in out:gmatch("[^\n]+") do
      local ok, rec = pcall(cjson.decode, line)
      assert(ok and type(rec) == "table", cmd .. ": " .. out)
      by[rec.role or #by + 1], last = rec, rec
   end
   return last, by
end

describe("sock_ops tools' metrics scraped by Prometheus #tools", function()
   local cg, dir, pids, bed
   before_each(function()
      cg = cgroup.new("msockops")
      dir = proc.tmpdir()
      pids, bed = {}, nil
   end)
   after_each(function()
      for _, pid in ipairs(pids) do proc.reap(pid) end
      if bed then testbed.remove(bed) end
      proc.sh("rm -rf " .. q(dir))
      assert(wait_for(function() return cgroup.remove(cg) end, 5))
   end)

   -- each family in --help's list as "  name{labels}  type: help" (cli.metrics_help)
   local FAMILIES = {
      ["hello-sockops"] = { "sockhost_hello_sockops_callbacks_total{op,family}" },
      redirect = { "sockhost_redirect_messages_total{verdict}",
         "sockhost_redirect_bytes_total{verdict}", "sockhost_redirect_sockets_total{result,reason}",
         "sockhost_redirect_half_closed_total{result}" },
   }
   for name, families in pairs(FAMILIES) do
      it(name .. ": --help lists its families; a --metrics address in use stops it first",
         function()
            local tool = q(proc.env("SOCKHOST_BIN")) .. " "
               .. q(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name .. ".lua")
            local help = proc.must("COLUMNS=200 " .. tool .. " --help")
            for _, line in ipairs(families) do
               assert.truthy(help:find("\n  " .. line:gsub("%p", "%%%0") .. " +counter: %S"), line)
            end
            local busy = assert(socket.bind("127.0.0.1", 0))
            finally(function() busy:close() end)
            local _, port = busy:getsockname()
            local ok, out, code = proc.sh(("%s --cgroup %s --json --metrics 127.0.0.1:%s "
               .. "2>%s/err"):format(tool, q(cg), port, q(dir)))
            assert.same({ false, 1, "" }, { ok, code, out })
            assert.equal(("%s: --metrics: cannot listen on '127.0.0.1:%s': Address already in "
               .. "use (EADDRINUSE: another socket listens on it)\n"):format(name, port),
               read_file(dir .. "/err"))
         end)
   end

   it("hello-sockops: callbacks by op and family, as many as the lines it wrote", function()
      local tool = start_tool(dir, "hello-sockops", cg, "--json")
      pids[#pids + 1] = tool.pid
      local prom = prometheus.start(dir, { tool.instance })
      pids[#pids + 1] = prom.pid
      finally(function() prom:stop() end)
      prom:wait_up()
      -- nothing happened in the cgroup yet: the family has no series
      assert.same({}, prom:query("sockhost_hello_sockops_callbacks_total"))

      -- N4 IPv4 and N6 IPv6 connections, each with a listener of its own, inside the cgroup
      local N4, N6 = 3, 2
      cgroup.within(cg, function()
         for _ = 1, N4 do traffic.tcp_exchange({ host = "127.0.0.1", send = 100, reply = 10 }) end
         for _ = 1, N6 do traffic.tcp_exchange({ host = "::1", send = 100, reply = 10 }) end
      end)
      local want = { inet = N4, inet6 = N6 }
      for family, n in pairs(want) do
         for _, op in ipairs({ "tcp_listen_cb", "tcp_connect_cb", "active_established_cb",
            "passive_established_cb" }) do
            local expr = ('sockhost_hello_sockops_callbacks_total{op="%s",family="%s"}')
               :format(op, family)
            assert.equal(tostring(n), prom:wait(expr, tostring(n)), expr)
         end
      end
      prom:after_scrape()
      local got, total = {}, 0
      for _, r in ipairs(prom:query("sockhost_hello_sockops_callbacks_total")) do
         got[r.metric.op .. "/" .. r.metric.family] = r.value
         total = total + tonumber(r.value)
      end
      local received = prom:value('sockhost_events_received_total{name="events"}')
      assert.same({ 0, "" }, { check.promtool(scrape(tool.port)) })

      local stdout, stderr = tool.stop()
      -- the tool's own records, counted the same way: every series, exactly
      local lines = {}
      for _, r in ipairs(proc.records(stdout)) do
         local key = r.op .. "/" .. r.family
         lines[key] = tostring(math.tointeger((tonumber(lines[key]) or 0) + 1))
      end
      assert.same(lines, got)
      assert.equal(tostring(total), received)
      assert.matches(("hello%%-sockops: %d events, 0 dropped %%(signal SIGINT"):format(total),
         stderr)
      socket.sleep(0)
   end)

   it("redirect: messages, bytes, sockets and half-closes of two runs, as each one sums them",
      function()
         bed = testbed.create("msockops")
         -- the first run owns the cgroup's sockets; the second one's inserts are refused
         local first = start_tool(dir, "redirect", cg, "--json", 1)
         pids[#pids + 1] = first.pid
         local second = start_tool(dir, "redirect", cg, "--json", 2)
         pids[#pids + 1] = second.pid
         local prom = prometheus.start(dir, { first.instance, second.instance })
         pids[#pids + 1] = prom.pid
         finally(function() prom:stop() end)
         prom:wait_up()

         local function values(run, family, label, extra)
            return prom:values(('%s{instance="%s"%s}'):format(family, run.instance,
               extra or ""), label)
         end
         local function sockets(run)
            return prom:values(('sum by (result) (sockhost_redirect_sockets_total{instance="%s"})')
               :format(run.instance), "result")
         end
         -- before any traffic every series is there, at 0 (so rate() sees the first one)
         for _, run in ipairs({ first, second }) do
            assert.same({ redirected = "0", passed = "0" },
               values(run, "sockhost_redirect_messages_total", "verdict"))
            assert.same({ added = "0", refused = "0", not_local = "0" }, sockets(run))
            assert.same({ EBUSY = "0" }, values(run, "sockhost_redirect_sockets_total",
               "reason", ',result="refused"'))
            assert.same({ released = "0", kept = "0" },
               values(run, "sockhost_redirect_half_closed_total", "result"))
         end

         -- R request / half-close / reply rounds: the request (REQ bytes, one send) is
         -- redirected, the client leaves the map at its shutdown(SHUT_WR), so the reply (REP
         -- bytes, one send) finds no peer entry and is passed to TCP
         local R, REQ, REP = 5, 300, 2000
         local a = report(("%s --cgroup %s --rounds %d --request %d --reply %d"):format(
            q(halfclose), q(cg), R, REQ, REP))
         assert.same({ R, R, R * REQ, R * REP }, { a.rounds, a.ok, a.request_bytes,
            a.reply_bytes }, a.error)
         -- K rounds where the reply (1000 bytes) is redirected into the client before its
         -- half-close, unread: those clients stay in the map (kept). A round may end in
         -- EAGAIN after the whole reply (redirect_spec); it still counts.
         local K = 3
         local b = report(("%s --cgroup %s --early --pause 20000 --rounds %d --reply 1000")
            :format(q(halfclose), q(cg), K))
         local tried = math.tointeger(b.ok + (b.error and 1 or 0))
         assert.is_true(tried >= 1, cjson.encode(b))
         assert.same({ 1000 * tried, 100 * tried }, { b.reply_bytes, b.request_bytes })
         -- one connection to a server across a veth pair: its client socket is not local
         local port_file = dir .. "/port"
         local server = proc.spawn(("exec ip netns exec %s %s server --host %s --port-file %s "
            .. "--bytes 6400 --reply 640 --msg 64 >%s/server.json"):format(q(bed.ns),
            q(tcpcheck), bed.ns_ip, q(port_file), q(dir)))
         pids[#pids + 1] = server
         local port = wait_for(function() return read_file(port_file) end)
         assert(port, "tcpcheck server did not start")
         local _, c = report(("%s --cgroup %s client --host %s --port %d --bytes 6400 "
            .. "--reply 640 --msg 64"):format(q(tcpcheck), q(cg), bed.ns_ip,
            math.tointeger(tonumber(port))))
         assert.is_true(c.client.ok, cjson.encode(c.client))
         assert(proc.wait_gone(server, 10))

         local conns = R + tried -- local connections, two sockets each
         local function want_first()
            return {
               messages = { redirected = tostring(R + 2 * tried), passed = tostring(R) },
               bytes = { redirected = tostring(R * REQ + 1100 * tried), passed = tostring(R * REP) },
               sockets = { added = tostring(2 * conns), refused = "0", not_local = "1" },
               reasons = { EBUSY = "0" },
               half = { released = tostring(R), kept = tostring(tried) },
            }
         end
         local function want_second()
            return {
               messages = { redirected = "0", passed = "0" },
               bytes = { redirected = "0", passed = "0" },
               sockets = { added = "0", refused = tostring(2 * conns), not_local = "1" },
               reasons = { EBUSY = tostring(2 * conns) },
               half = { released = "0", kept = "0" },
            }
         end
         local function seen(run)
            return {
               messages = values(run, "sockhost_redirect_messages_total", "verdict"),
               bytes = values(run, "sockhost_redirect_bytes_total", "verdict"),
               sockets = sockets(run),
               reasons = values(run, "sockhost_redirect_sockets_total", "reason",
                  ',result="refused"'),
               half = values(run, "sockhost_redirect_half_closed_total", "result"),
            }
         end
         prom:after_scrape()
         local got1, got2 = seen(first), seen(second)
         assert.same(want_first(), got1)
         assert.same(want_second(), got2)
         -- not local and added carry no reason
         assert.equal("1", prom:value(('count(sockhost_redirect_sockets_total{instance="%s",'
            .. 'result="added",reason=""})'):format(first.instance)))
         for _, run in ipairs({ first, second }) do
            assert.same({ 0, "" }, { check.promtool(scrape(run.port)) })
         end

         -- what each run itself reports at exit: the same figures
         for _, case in ipairs({ { first, got1 }, { second, got2 } }) do
            local run, got = case[1], case[2]
            local stdout, stderr = run.stop()
            local recs = proc.records(stdout)
            local t = recs[#recs]
            assert.equal("total", t.type)
            local function s(n) return tostring(math.tointeger(n)) end
            assert.same(got, {
               messages = { redirected = s(t.msgs), passed = s(t.passed) },
               bytes = { redirected = s(t.bytes), passed = s(t.passed_bytes) },
               sockets = { added = s(t.added), refused = s(t.add_failed),
                  not_local = s(t.skipped) },
               reasons = got.reasons,
               half = { released = s(t.released), kept = s(t.kept) },
            })
            assert.matches(("redirect: redirected %d msgs %d bytes | passed %d msgs %d bytes | "
               .. "sockets %d added, %d refused, %d not local, %d released at half%%-close, "
               .. "%d kept"):format(t.msgs, t.bytes, t.passed, t.passed_bytes, t.added,
               t.add_failed, t.skipped, t.released, t.kept), stderr)
         end
      end)
end)
