-- SPDX-License-Identifier: GPL-2.0
-- scripts/redirect.lua (bpf/redirect.bpf.c) run as a user runs it, on the spec's own cgroup,
-- with traffic from build/spec/tcpcheck: processes that join that cgroup before they make
-- their sockets, send streams whose every byte is known, and report what they sent, what
-- they received (checked byte by byte) and a hash of each (spec/bin/tcpcheck.c), and
-- build/spec/halfclose: request, shutdown(SHUT_WR), blocking recv() of the reply, on plain
-- blocking sockets (spec/bin/halfclose.c).
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local bpftool = require "helpers.bpftool"
local socket = require "socket"
local cjson = require "cjson"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")
local build = proc.env("SOCKHOST_BUILD_DIR")
local script = src .. "/scripts/redirect.lua"
local tcpcheck = build .. "/spec/tcpcheck"
local halfclose = build .. "/spec/halfclose"
local q = proc.quote

local GiB = 1024 * 1024 * 1024

local read_file, wait_for, records = proc.read_file, proc.wait_for, proc.records
local prog_exists = bpftool.prog_exists

describe("scripts/redirect.lua #tools", function()
   local cg, dir, runs

   before_each(function()
      cg = cgroup.new("redirect")
      dir = proc.tmpdir()
      runs = {}
   end)

   after_each(function()
      for _, r in ipairs(runs) do
         proc.reap(r.pid)
      end
      proc.sh("rm -rf " .. q(dir))
      assert(wait_for(function() return cgroup.remove(cg) end, 5))
   end)

   --- Start the script on the spec's cgroup with --json (and flags); returns the run once
   -- its start record (written after both attachments) is out.
   local function start(flags)
      local n = #runs + 1
      local r = { out = ("%s/out%d"):format(dir, n), err = ("%s/err%d"):format(dir, n) }
      r.pid = proc.spawn(("exec %s %s --cgroup %s --json %s >%s 2>%s"):format(q(bin),
         q(script), q(cg), flags or "", r.out, r.err))
      runs[n] = r
      r.start = wait_for(function()
         local first = (read_file(r.out) or ""):match("^[^\n]+\n")
         return first and cjson.decode(first)
      end)
      assert(r.start, "redirect.lua never started: " .. tostring(read_file(r.err)))
      assert.equal("start", r.start.type)
      return r
   end

   --- Stop a run with a signal; returns its records (start, stats..., total) and stderr.
   local function stop(r, sig)
      assert(proc.kill(r.pid, sig or "INT"))
      assert(proc.wait_gone(r.pid, 10), "redirect.lua did not exit")
      return records(read_file(r.out)), read_file(r.err)
   end

   local function total(recs)
      local last = recs[#recs]
      assert.equal("total", last.type)
      return last
   end

   --- Run tcpcheck with args; returns its reports by role (client, server).
   local function check(args)
      local _, out = proc.sh(("%s %s 2>&1"):format(q(tcpcheck), args))
      local by = {}
      for line in out:gmatch("[^\n]+") do
         local ok, rec = pcall(cjson.decode, line)
         assert(ok and type(rec) == "table", "tcpcheck: " .. out)
         by[rec.role] = rec
      end
      return by
   end

   local function in_cg(args)
      return check(("--cgroup %s %s"):format(q(cg), args))
   end

   --- Run halfclose in the spec's cgroup; returns its one report.
   local function half(args)
      local _, out = proc.sh(("%s --cgroup %s %s 2>&1"):format(q(halfclose), q(cg), args))
      local ok, rec = pcall(cjson.decode, out)
      assert(ok and type(rec) == "table", "halfclose: " .. out)
      return rec
   end

   --- Both directions arrived whole: the checks passed, and each side's received hash is
   -- the other side's sent hash.
   local function assert_intact(r, c2s, s2c)
      assert.is_true(r.client.ok, cjson.encode(r.client))
      assert.is_true(r.server.ok, cjson.encode(r.server))
      assert.equal(c2s, r.client.sent)
      assert.equal(c2s, r.server.received)
      assert.equal(s2c, r.server.sent)
      assert.equal(s2c, r.client.received)
      assert.equal(r.client.sent_hash, r.server.recv_hash)
      assert.equal(r.server.sent_hash, r.client.recv_hash)
   end

   describe("redirect", function()
      for _, host in ipairs({ "127.0.0.1", "::1" }) do
         it("counts every message it redirects, and the data arrives intact (" .. host .. ")",
            function()
               local run = start()
               -- 1000 messages of 64 bytes one way, 500 of 64 the other: one verdict each
               local r = in_cg(("pair --host %s --bytes 64000 --reply 32000 --msg 64"):format(host))
               assert_intact(r, 64000, 32000)
               assert.equal(1000, r.client.sends)
               assert.equal(500, r.server.sends)
               local recs = stop(run)
               local t = total(recs)
               assert.same({ 1500, 96000, 0, 0, 2, 0, 0 },
                  { t.msgs, t.bytes, t.passed, t.passed_bytes, t.added, t.add_failed, t.skipped })
            end)
      end

      it("moves 1 GiB each way with matching hashes", function()
         local run = start()
         local r = in_cg(("pair --bytes %d --reply %d --msg 262144 --timeout 120"):format(GiB, GiB))
         assert_intact(r, GiB, GiB)
         local t = total(stop(run))
         assert.equal(2 * GiB, t.bytes)
         assert.equal(0, t.passed)
      end)

      it("handles messages larger than the socket buffers, non-blocking sends and MSG_MORE",
         function()
            local run = start()
            local r = in_cg("pair --bytes 20000000 --reply 5000000 --msg 262144 --sndbuf 16384 "
               .. "--rcvbuf 16384 --nonblock --more --timeout 30")
            assert_intact(r, 20000000, 5000000)
            local b = in_cg("pair --bytes 20000000 --reply 5000000 --msg 262144 --sndbuf 16384 "
               .. "--rcvbuf 16384 --more --timeout 30")
            assert_intact(b, 20000000, 5000000)
            local t = total(stop(run))
            -- every byte the senders got accepted went through the verdict, redirected
            assert.equal(50000000, t.bytes)
            assert.equal(0, t.passed)
         end)

      it("handles partial writes where the sockets take the TCP path (--mode pass)", function()
         -- An ingress redirect never writes short: the peer's queue takes everything. Short
         -- writes happen on the TCP path, which is where sk_msg hands back to TCP.
         local run = start("--mode pass")
         local r = in_cg("pair --bytes 20000000 --reply 5000000 --msg 262144 --sndbuf 16384 "
            .. "--nonblock --timeout 30")
         assert_intact(r, 20000000, 5000000)
         assert.is_true(r.client.partial > 0, "no short write happened")
         local t = total(stop(run))
         -- Nothing redirected. passed counts verdicts, not sends: after a short write the
         -- kernel applies the pending verdict to the rest without running the program again.
         assert.equal(0, t.msgs)
         assert.is_true(t.passed > 0)
      end)

      it("delivers what was sent before the sender closed, then EOF", function()
         local run = start()
         -- the client sends 8 MB and closes at once; the server starts reading 300 ms later
         local r = in_cg("pair --bytes 8000000 --shut --read-delay 300")
         assert_intact(r, 8000000, 0)
         assert.equal(8000000, total(stop(run)).bytes)
      end)

      it("survives the receiver closing while messages are in flight", function()
         local run = start()
         local r = in_cg("pair --bytes 100000000 --abort-after 1000000 --timeout 20")
         assert.is_true(r.server.ok, cjson.encode(r.server))
         assert.equal(1000000, r.server.received)
         -- the client's sends fail once the server is gone (its queued data went with it)
         assert.matches("^send: [%a ]+ after %d+ bytes$", r.client.send_error)
         assert.is_true(r.client.sent < 100000000)
         -- and the next connection is redirected as usual
         assert_intact(in_cg("pair --bytes 640 --reply 640 --msg 64"), 640, 640)
         local t = total(stop(run))
         assert.equal(4, t.added)
      end)
   end)

   describe("half-close", function()
      -- The server replies 200 ms after the request's EOF: long after the ACK of the
      -- client's FIN (at most the peer's delayed ACK, ~40 ms), which is the wake-up that
      -- tcp_bpf_recvmsg() turns into EAGAIN (bpf/redirect.bpf.c, release_half_closed()).
      for _, mode in ipairs({ "ingress", "egress", "pass" }) do
         it("a blocking recv() after shutdown(SHUT_WR) fails with EAGAIN with "
            .. "--keep-half-closed (--mode " .. mode .. ")", function()
               local run = start("--keep-half-closed --mode " .. mode)
               assert.is_false(run.start.release)
               local r = half("--delay 200")
               -- the request arrived whole; the client's first recv() failed before the reply
               assert.same({ 1, 0, 100, 0, -1, "EAGAIN" },
                  { r.rounds, r.ok, r.request_bytes, r.reply_bytes, r.recv.ret, r.recv.errno })
               assert.equal("round 1: recv: Resource temporarily unavailable after 0 of 1000 "
                  .. "bytes", r.error)
               assert.is_true(r.recv.ms < 200, "recv() waited for the reply: " .. r.recv.ms)
               local t = total(stop(run))
               assert.same({ 2, 0, 0 }, { t.added, t.released, t.kept })
            end)
      end

      it("plain TCP: the same client waits and gets the reply", function()
         local r = half("--delay 200")
         assert.same({ 1, 1, 100, 1000, 1000, "" },
            { r.rounds, r.ok, r.request_bytes, r.reply_bytes, r.recv.ret, r.recv.errno })
         assert.is_nil(r.error)
         assert.is_true(r.recv.ms >= 200, "recv() returned before the reply: " .. r.recv.ms)
      end)

      -- What each mode does with the request (client -> server, both in the map) and the
      -- reply (server -> client, the client released): msgs/bytes redirected, passed.
      local expect = {
         ingress = function(req, rep) return req, rep end, -- the reply finds no peer entry
         egress = function(req, rep) return req + rep, 0 end, -- own key: the server's is there
         pass = function(req, rep) return 0, req + rep end,
      }
      for _, mode in ipairs({ "ingress", "egress", "pass" }) do
         it("takes a half-closed socket out of the map: 200 exchanges lose no byte (--mode "
            .. mode .. ")", function()
               local run = start("--mode " .. mode)
               assert.is_true(run.start.release)
               -- 150 at once (the reply right after the request's EOF), 50 IPv6 ones with
               -- 100 KB each way, and 5 where the reply comes long after the FIN's ACK
               local a = half("--rounds 150 --request 100 --reply 1000")
               local b = half("--host ::1 --rounds 50 --request 100000 --reply 100000")
               local c = half("--rounds 5 --delay 100 --request 5000 --reply 70000")
               assert.same({ 150, 150, 15000, 150000 },
                  { a.rounds, a.ok, a.request_bytes, a.reply_bytes }, a.error)
               assert.same({ 50, 50, 5000000, 5000000 },
                  { b.rounds, b.ok, b.request_bytes, b.reply_bytes }, b.error)
               assert.same({ 5, 5, 25000, 350000 },
                  { c.rounds, c.ok, c.request_bytes, c.reply_bytes }, c.error)
               assert.is_nil(a.server_error or b.server_error or c.server_error)
               local t = total(stop(run))
               local redirected, passed = expect[mode](15000 + 5000000 + 25000,
                  150000 + 5000000 + 350000)
               -- every client socket left the map at its shutdown(SHUT_WR)
               assert.same({ 410, 0, 205, 0, redirected, passed },
                  { t.added, t.add_failed, t.released, t.kept, t.bytes, t.passed_bytes })
            end)
      end

      it("keeps a socket whose redirected bytes wait unread at its half-close: none is lost",
         function()
            local run = start()
            -- the server sends its 1000 bytes at once (redirected into the client's psock);
            -- the client half-closes 20 ms later, with them still queued: the release would
            -- free them, so the socket stays in the map and reads them from its psock
            local r = half("--early --pause 20000 --rounds 20 --reply 1000")
            local tried = r.ok + (r.error and 1 or 0)
            assert.equal(1000 * tried, r.reply_bytes)
            assert.equal(100 * tried, r.request_bytes)
            -- a kept socket may still get EAGAIN where it waits for EOF, never a short reply
            if r.error then
               assert.matches("recv: Resource temporarily unavailable after 1000 of 1000 bytes$",
                  r.error)
            end
            assert.is_nil(r.server_error)
            local t = total(stop(run))
            assert.same({ tried, 0, 1000 * tried }, { t.kept, t.released, t.bytes - 100 * tried })
         end)

      it("cannot help a thread blocked in recv() while another one calls shutdown(SHUT_WR)",
         function()
            -- tcpcheck --shut-while-reading: the sender thread half-closes while the main
            -- thread may already wait for EOF. inet_shutdown() wakes that waiter inside
            -- tcp_bpf_recvmsg(), which returns EAGAIN; the socket is not released either (the
            -- waiter holds a psock reference). Whether the waiter is there yet is a race.
            local function attempts(n, under)
               local failed, msgs = 0, {}
               for _ = 1, n do
                  local r = (under and in_cg or check)("pair --bytes 64 --reply 0 "
                     .. "--shut-while-reading --timeout 5")
                  -- either side can be the one waiting when its own sender half-closes
                  for _, side in pairs(r) do
                     if not side.ok then
                        failed = failed + 1
                        msgs[tostring(side.recv_error or side.send_error)] = true
                     end
                  end
               end
               return failed, msgs
            end
            local run = start()
            local failed, msgs = attempts(10, true)
            local t = total(stop(run))
            assert.is_true(failed > 0, "no side saw EAGAIN in 10 runs")
            for msg in pairs(msgs) do
               assert.matches("^recv: EAGAIN on a blocking socket after %d+ bytes$", msg)
            end
            assert.is_true(t.kept >= failed, cjson.encode(t))
            -- plain TCP: never
            assert.same({ 0, {} }, { attempts(10, false) })
         end)
   end)

   describe("scope", function()
      it("leaves connections from outside the cgroup untouched", function()
         local run = start()
         local r = check("pair --bytes 64000 --reply 6400 --msg 64")
         assert_intact(r, 64000, 6400)
         local t = total(stop(run))
         assert.same({ 0, 0, 0 }, { t.added, t.msgs, t.passed })
      end)

      it("passes messages whose peer is not in the map", function()
         local run = start()
         local port_file = dir .. "/port"
         -- the server outside the cgroup, the client inside
         local server = proc.spawn(("exec %s server --port-file %s --bytes 6400 --reply 640 "
            .. "--msg 64 >%s/server.json"):format(q(tcpcheck), port_file, dir))
         runs[#runs + 1] = { pid = server } -- after_each kills it if the test fails
         local port = wait_for(function() return read_file(port_file) end)
         assert(port, "tcpcheck server did not start")
         local r = in_cg(("client --port %d --bytes 6400 --reply 640 --msg 64"):format(
            math.tointeger(tonumber(port))))
         assert(proc.wait_gone(server, 10))
         r.server = cjson.decode(read_file(dir .. "/server.json"))
         assert_intact(r, 6400, 640)
         local t = total(stop(run))
         -- only the client's socket is in the map; its 100 messages find no peer there
         assert.same({ 1, 0, 100, 6400 }, { t.added, t.msgs, t.passed, t.passed_bytes })
      end)

      it("co-exists with a second run on the same cgroup: the first owns the sockets",
         function()
            local first = start()
            local second = start()
            assert_intact(in_cg("pair --bytes 6400 --reply 640 --msg 64"), 6400, 640)
            -- 3 half-closing clients: the owner releases them; the other run sees their
            -- state callbacks too, and neither counts nor touches them
            local h = half("--rounds 3 --delay 50")
            assert.same({ 3, 300, 3000 }, { h.ok, h.request_bytes, h.reply_bytes }, h.error)
            local t1 = total(stop(first))
            assert.same({ 8, 113, 3, 0 }, { t1.added, t1.msgs, t1.passed, t1.kept })
            -- the 3 clients, and the tcpcheck side that half-closed first (or both sides,
            -- when each shut down before the other's FIN came)
            assert.is_true(t1.released == 4 or t1.released == 5, cjson.encode(t1))
            -- now the second run owns new connections
            assert_intact(in_cg("pair --bytes 6400 --reply 640 --msg 64"), 6400, 640)
            local t2, err = stop(second)
            t2 = total(t2)
            assert.same({ 2, 8, 110, 0, 0 },
               { t2.added, t2.add_failed, t2.msgs, t2.passed, t2.kept })
            assert.is_true(t2.released == 1 or t2.released == 2, cjson.encode(t2))
            assert.matches("EBUSY means another redirect on this cgroup owns them", err)
         end)
   end)

   describe("--json", function()
      -- The records and their keys as --help documents them (JSON_RECORDS in the script):
      -- "integer" is a JSON number without a fraction, "number" any JSON number.
      local COUNTERS = { "msgs", "bytes", "passed", "passed_bytes", "added", "add_failed",
         "skipped", "released", "kept" }
      local function with_counters(t)
         for _, k in ipairs(COUNTERS) do t[k] = "integer" end
         return t
      end
      local SCHEMA = {
         start = { type = "string", ts = "number", cgroup = "string", mode = "string",
            release = "boolean",
            prog_ids = { sock_ops = "integer", msg_redirect = "integer" } },
         stats = with_counters({ type = "string", ts = "number", interval = "number",
            rates = { msgs = "number", bytes = "number", passed = "number",
               passed_bytes = "number" } }),
         trace = { type = "string", ts = "number", op = "string", family = "string",
            laddr = "string", lport = "integer", raddr = "string", rport = "integer",
            result = "string" },
         total = with_counters({ type = "string", ts = "number", duration = "number",
            reason = "string" }),
      }
      -- python3's json: the first two keys, and each value's type (int vs float told apart)
      local PY = [[
import json, sys
def shape(v):
    if isinstance(v, bool): return "boolean"
    if isinstance(v, int): return "integer"
    if isinstance(v, float): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, dict): return {k: shape(x) for k, x in v.items()}
    return type(v).__name__
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"first": list(r)[:2], "shape": shape(r)}))
]]
      -- jq: each value's JSON type, one level into objects
      local JQ = 'with_entries(.value |= (if type == "object" then with_entries(.value |= type) '
         .. 'else type end))'

      --- want with "integer" and "number" both read as jq's "number".
      local function as_jq(want)
         if type(want) == "table" then
            local t = {}
            for k, v in pairs(want) do t[k] = as_jq(v) end
            return t
         end
         return (want == "integer" or want == "number") and "number" or want
      end

      --- python's shape against want: an integral float prints without a fraction, so a
      -- "number" may come back "integer".
      local function as_py(want, got)
         if type(want) == "table" then
            local t = {}
            for k, v in pairs(want) do t[k] = as_py(v, type(got) == "table" and got[k] or nil) end
            return t
         end
         if want == "number" and got == "integer" then return "integer" end
         return want
      end

      it("writes exactly the documented keys and types, each record with type and ts first",
         function()
            local run = start("--trace")
            assert_intact(in_cg("pair --bytes 6400 --reply 640 --msg 64"), 6400, 640)
            -- at least one stats record: they come every second
            assert(wait_for(function()
               return (read_file(run.out) or ""):find('"type":"stats"', 1, true)
            end, 5), "no stats record")
            stop(run)
            local _, py = proc.sh(("python3 -c %s %s 2>&1"):format(q(PY), q(run.out)))
            local _, jq = proc.sh(("jq -c %s %s 2>&1"):format(q(JQ), q(run.out)))
            local seen, n = {}, 0
            local pys, jqs = records(py), records(jq)
            for i, line in ipairs(records(read_file(run.out))) do
               local want = SCHEMA[line.type]
               assert(want, "undocumented record type: " .. tostring(line.type))
               seen[line.type] = (seen[line.type] or 0) + 1
               assert.same({ "type", "ts" }, pys[i].first)
               assert.same(as_py(want, pys[i].shape), pys[i].shape)
               assert.same(as_jq(want), jqs[i])
               n = i
            end
            assert.equal(n, #pys)
            assert.equal(n, #jqs)
            -- one start, the two sockets' trace records, stats, one total last
            assert.equal(1, seen.start)
            assert.equal(2, seen.trace)
            assert.is_true(seen.stats >= 1)
            assert.equal(1, seen.total)
         end)

      it("--help documents every key", function()
         local _, help = proc.sh(("%s %s --help 2>&1"):format(q(bin), q(script)))
         for kind, keys in pairs(SCHEMA) do
            assert.truthy(help:find("\n  " .. kind .. " ", 1, true), kind)
            for k, v in pairs(keys) do
               assert.truthy(help:find(k, 1, true), k)
               if type(v) == "table" then
                  for sub in pairs(v) do assert.truthy(help:find(sub, 1, true), sub) end
               end
            end
         end
      end)
   end)

   describe("text output", function()
      it("prints per-second rates in human units, then a totals table", function()
         local run = { out = dir .. "/text", err = dir .. "/text.err" }
         run.pid = proc.spawn(("exec %s %s --cgroup %s >%s 2>%s"):format(q(bin), q(script),
            q(cg), run.out, run.err))
         runs[#runs + 1] = run
         assert(wait_for(function() return #bpftool.prog_ids_attached_to_cgroup(cg) == 1 end),
            "never attached: " .. tostring(read_file(run.err)))
         -- 1500 messages, 96000 bytes redirected; the client half-closes and is released
         assert_intact(in_cg("pair --bytes 64000 --reply 32000 --msg 64"), 64000, 32000)
         assert(wait_for(function()
            return (read_file(run.out) or ""):find("redirected [1-9]")
         end, 5), "no per-second line with the traffic: " .. tostring(read_file(run.out)))
         assert(proc.kill(run.pid, "INT"))
         assert(proc.wait_gone(run.pid, 10))
         local lines = {}
         for line in read_file(run.out):gmatch("[^\n]+") do lines[#lines + 1] = line end
         local rate = "[%d.]+[kMGTPE]?/s [%d.]+ [KMGTPE]?i?B/s"
         for i = 1, #lines - 4 do
            assert.matches("^%d%d:%d%d:%d%d redirected " .. rate .. " | passed " .. rate
               .. " | sockets %+%d+ added, %+%d+ refused, %+%d+ not local, %+%d+ released, "
               .. "%+%d+ kept$", lines[i])
         end
         local n = #lines
         assert.matches("^TOTAL [%d.]+ s +MSGS +BYTES +MSGS/S +BYTES/S$", lines[n - 3])
         assert.matches("^redirected +1%.5k +93%.8 KiB +[%d.]+[kM]?/s +[%d.]+ [KM]?i?B/s$",
            lines[n - 2])
         assert.matches("^passed +0 +0 B +0/s +0 B/s$", lines[n - 1])
         assert.matches("^sockets 2 added, 0 refused, 0 not local, [12] released at half%-close, "
            .. "0 kept$", lines[n])
      end)
   end)

   describe("--trace", function()
      it("shows the establishment of both ends of one connection", function()
         local run = { out = dir .. "/trace", err = dir .. "/trace.err" }
         run.pid = proc.spawn(("exec %s %s --cgroup %s --trace >%s 2>%s"):format(q(bin),
            q(script), q(cg), run.out, run.err))
         runs[#runs + 1] = run
         assert(wait_for(function() return #bpftool.prog_ids_attached_to_cgroup(cg) == 1 end),
            "never attached: " .. tostring(read_file(run.err)))
         local r = in_cg("pair --bytes 64 --reply 64")
         assert_intact(r, 64, 64)
         local c, s = r.client.lport, r.client.rport
         local want = {
            ("<<< ipv4 op 4 active_established_cb, port %d --> %d (127.0.0.1 -> 127.0.0.1): "
               .. "added"):format(c, s),
            ("<<< ipv4 op 5 passive_established_cb, port %d --> %d (127.0.0.1 -> 127.0.0.1): "
               .. "added"):format(s, c),
         }
         assert(proc.kill(run.pid, "INT"))
         assert(proc.wait_gone(run.pid, 10))
         local got = {}
         for line in read_file(run.out):gmatch("[^\n]+") do
            if line:find("^<<<") then got[#got + 1] = line end
         end
         assert.same(want, got)
      end)
   end)

   describe("teardown", function()
      for _, sig in ipairs({ "INT", "TERM", "KILL" }) do
         it("leaves nothing attached after SIG" .. sig .. ", and open connections keep working",
            function()
               local run = start()
               local ids = run.start.prog_ids
               assert.same({ ids.sock_ops }, bpftool.prog_ids_attached_to_cgroup(cg))
               -- a connection made while the redirect runs, used before and after it stops
               local srv, cli, conn = cgroup.within(cg, function()
                  local l = assert(socket.bind("127.0.0.1", 0))
                  local ip, port = l:getsockname()
                  local c = assert(socket.connect(ip, port))
                  return l, c, assert(l:accept())
               end)
               srv:close()
               cli:settimeout(5)
               conn:settimeout(5)
               assert(cli:send("before\n"))
               assert.equal("before", conn:receive("*l"))
               local recs, err = stop(run, sig)
               if sig == "KILL" then
                  assert.are_not.equal("total", recs[#recs].type)
               else
                  assert.equal(1, total(recs).msgs)
                  assert.matches("%(signal SIG" .. sig .. ", cgroup ", err)
               end
               assert.same({}, bpftool.prog_ids_attached_to_cgroup(cg))
               for _, id in pairs(ids) do
                  assert.is_true(wait_for(function() return not prog_exists(id) end, 5) or false,
                     "program id " .. id .. " is still loaded")
               end
               assert(conn:send("after\n"))
               assert.equal("after", cli:receive("*l"))
               cli:close()
               conn:close()
            end)
      end
   end)

   describe("bad input", function()
      local function run_bad(args)
         local ok, out, code = proc.sh(("%s %s %s 2>&1"):format(q(bin), q(script), args))
         return ok, out, code
      end

      it("refuses a cgroup that does not exist, attaching nothing", function()
         local ok, out, code = run_bad("--cgroup /nonexistent/cg")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.equal("redirect: cgroup '/nonexistent/cg': No such file or directory\n", out)
         assert.equal(0, bpftool.link_count_for_prog_name("msg_redirect"))
      end)

      it("refuses a directory that is not a cgroup v2", function()
         local ok, out, code = run_bad("--cgroup " .. q(dir))
         assert.is_false(ok)
         assert.equal(1, code)
         assert.equal(("redirect: cgroup '%s': not a cgroup v2 directory (cgroup2 is "
            .. "mounted at %s)\n"):format(dir, cgroup.root()), out)
         assert.equal(0, bpftool.link_count_for_prog_name("msg_redirect"))
      end)

      it("refuses an unknown --mode", function()
         local ok, out = run_bad("--cgroup " .. q(cg) .. " --mode sideways")
         assert.is_false(ok)
         assert.matches("argument for option '%-%-mode' must be one of 'ingress', 'egress', "
            .. "'pass'", out)
      end)
   end)
end)
