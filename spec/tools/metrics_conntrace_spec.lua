-- SPDX-License-Identifier: GPL-2.0
-- scripts/conntrace.lua with --metrics, scraped by a real Prometheus (1 s scrape), filtering
-- by the spec's own cgroup, in which the spec makes TCP connections with known byte counts:
-- orderly ones (a python3 client, so a second comm, against a server in this process), a
-- refused connect(), a reset (SO_LINGER 0) and one held open across a scrape. Prometheus'
-- query API must report exactly what was done, family by family; the --json records of the
-- same run must agree with the metrics (closes, states, bytes, the duration histogram and
-- its _sum), and `promtool check metrics` must pass on a scrape. Table mode serves the same.
local socket = require "socket"
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local traffic = require "helpers.traffic"
local prometheus = require "helpers.prometheus"
local check = require "helpers.promcheck"

local q, read_file, wait_for, records = proc.quote, proc.read_file, proc.wait_for, proc.records
local bin = proc.env("SOCKHOST_BIN")
local script = proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/conntrace.lua"

-- python3's connections: i = 1 .. #UP sends UP[i] bytes, reads DOWN[i], closes first
local UP, DOWN = { 1001, 2002, 3003 }, { 7000, 14000, 21000 }
local RESET_UP, RESET_DOWN = 500, 4000 -- the connection this process resets
local HELD_UP, HELD_DOWN = 300, 600    -- the one held open across a scrape

local CLIENT = [[
import socket, sys
port, sizes = int(sys.argv[1]), sys.argv[2:]
for s in sizes:
    up, down = (int(x) for x in s.split(":"))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"u" * up)
    got = 0
    while got < down:
        d = c.recv(65536)
        if not d:
            break
        got += len(d)
    print(c.getsockname()[1], got, flush=True)
    c.close()
]]

local function sum(t)
   local n = 0
   for _, v in ipairs(t) do n = n + v end
   return n
end

local free_port = proc.free_port

-- Reads up to the peer's FIN, which must come with nothing before it.
local function eof(conn)
   local data, err, partial = conn:receive("*a")
   assert.equal("", data or (err == "closed" and partial) or err)
end

local scrape = prometheus.scrape

-- { ["role/state"] = value } of the closed family
local function closed_by(prom)
   local out = {}
   for _, r in ipairs(prom:query("sockhost_conntrace_connections_closed_total") or {}) do
      out[r.metric.role .. "/" .. r.metric.state] = r.value
   end
   return out
end

-- The microsecond log2 bucket of sockhost.bpf.h's sh_log2_bucket: [0] 1, [2^(k-2), 2^(k-1)) k.
local function log2_top(le)
   return tonumber(le) * 1e6 -- the inclusive top, in microseconds (2^(k-1) - 1)
end

describe("conntrace metrics scraped by Prometheus #tools", function()
   local dir, cg, pids
   local comm = read_file("/proc/self/comm"):gsub("\n$", "")

   before_each(function()
      dir = proc.tmpdir()
      cg = cgroup.new("mconntrace")
      pids = {}
   end)
   after_each(function()
      for _, pid in ipairs(pids) do proc.reap(pid) end
      assert(wait_for(function() return cgroup.remove(cg) end, 5))
      proc.sh("rm -rf " .. q(dir))
   end)

   -- conntrace --metrics 127.0.0.1:0 --cgroup <cg> <flags>, started outside the cgroup (its
   -- own and Prometheus' connections are not the cgroup's); returns { pid, port, stop() }.
   local function start(flags)
      local err = dir .. "/conntrace.err"
      local pid = proc.spawn(("exec %s %s --metrics 127.0.0.1:0 --cgroup %s %s >%s 2>%s")
         :format(q(bin), q(script), q(cg), flags, q(dir .. "/conntrace.out"), q(err)))
      pids[#pids + 1] = pid
      local t = { pid = pid, port = prometheus.tool_port(err) }
      assert(wait_for(function()
         return (read_file(err) or ""):find("conntrace: filters:", 1, true)
      end, 10), "conntrace never attached: " .. tostring(read_file(err)))
      function t.stop()
         proc.kill(pid, "INT")
         assert(proc.wait_gone(pid, 10), "conntrace did not stop")
         return read_file(dir .. "/conntrace.out"), read_file(err)
      end
      return t
   end

   it("--json: every family exactly, and as the records of the same run say", function()
      local ndjson = dir .. "/records.ndjson"
      local tool = start("--json --output " .. q(ndjson))
      local prom = prometheus.start(dir, { "127.0.0.1:" .. tool.port })
      pids[#pids + 1] = prom.pid
      finally(function() prom:stop() end)
      prom:wait_up()
      local function nrecs() return #records(read_file(ndjson)) end

      -- orderly: python3 connects #UP times to a listener of this process, in the cgroup
      local lsn = assert(cgroup.within(cg, socket.bind, "127.0.0.1", 0))
      local _, lport = lsn:getsockname()
      local sizes = {}
      for i = 1, #UP do sizes[i] = UP[i] .. ":" .. DOWN[i] end
      local py_out = dir .. "/client.out"
      pids[#pids + 1] = cgroup.within(cg, proc.spawn, ("exec /usr/bin/python3 -c %s %d %s >%s "
         .. "2>&1"):format(q(CLIENT), lport, table.concat(sizes, " "), q(py_out)))
      lsn:settimeout(10)
      for i = 1, #UP do
         local conn = assert(lsn:accept())
         conn:settimeout(10)
         assert.equal(UP[i], #assert(conn:receive(UP[i])))
         assert(conn:send(("d"):rep(DOWN[i])))
         eof(conn) -- the client's FIN: CLOSE_WAIT
         conn:close()
      end
      lsn:close()
      assert(proc.wait_gone(pids[#pids], 10), "python3 did not exit")
      local got = {}
      for n in (read_file(py_out) or ""):gmatch("%d+ (%d+)\n") do got[#got + 1] = tonumber(n) end
      assert.same(DOWN, got, read_file(py_out))

      -- refused: nothing listens on the port
      local s = assert(cgroup.within(cg, socket.tcp4))
      assert.same({ nil, "connection refused" }, { s:connect("127.0.0.1", free_port()) })
      s:close()

      -- reset: the client closes with SO_LINGER 0, an RST instead of a FIN, both from
      -- ESTABLISHED
      local cli, conn = cgroup.within(cg, traffic.tcp_pair, "127.0.0.1")
      cli:settimeout(5)
      conn:settimeout(5)
      assert(cli:send(("u"):rep(RESET_UP)))
      assert.equal(RESET_UP, #assert(conn:receive(RESET_UP)))
      assert(conn:send(("d"):rep(RESET_DOWN)))
      assert.equal(RESET_DOWN, #assert(cli:receive(RESET_DOWN)))
      assert(cli:setoption("linger", { on = true, timeout = 0 }))
      cli:close()
      local closes = 2 * #UP + 1 + 2
      assert(wait_for(function() return nrecs() == closes end), "no records for the closes: "
         .. tostring(read_file(ndjson)))
      conn:close() -- CLOSE already: nothing more to count

      -- held open across a scrape: the open gauge has it, nothing closed counts it
      local hcli, hconn = cgroup.within(cg, traffic.tcp_pair, "127.0.0.1")
      hcli:settimeout(5)
      hconn:settimeout(5)
      assert(hcli:send(("u"):rep(HELD_UP)))
      assert.equal(HELD_UP, #assert(hconn:receive(HELD_UP)))
      assert(hconn:send(("d"):rep(HELD_DOWN)))
      assert.equal(HELD_DOWN, #assert(hcli:receive(HELD_DOWN)))
      prom:after_scrape()
      assert.same({ client = "1", server = "1" },
         prom:values("sockhost_conntrace_connections_open", "role"))
      assert.equal(tostring(closes), prom:value("sockhost_conntrace_duration_seconds_count"))
      hcli:close() -- then the server: an orderly close
      eof(hconn)
      hconn:close()
      closes = closes + 2
      assert(wait_for(function() return nrecs() == closes end), "no records for the held "
         .. "connection: " .. tostring(read_file(ndjson)))
      prom:after_scrape()

      -- what the spec did
      local n = #UP
      assert.same({ client = tostring(n + 3), server = tostring(n + 2) },
         prom:values("sockhost_conntrace_connections_opened_total", "role"))
      assert.same({ ["client/fin_wait2"] = tostring(n + 1), ["server/last_ack"] = tostring(n + 1),
         ["client/syn_sent"] = "1", ["client/established"] = "1",
         ["server/established"] = "1" }, closed_by(prom))
      local mine = sum(DOWN) + RESET_UP + RESET_DOWN + HELD_UP + HELD_DOWN
      local mine_in = sum(UP) + RESET_DOWN + RESET_UP + HELD_DOWN + HELD_UP
      assert.same({ python3 = tostring(sum(UP)), [comm] = tostring(mine) },
         prom:values("sockhost_conntrace_sent_bytes_total", "comm"))
      assert.same({ python3 = tostring(sum(DOWN)), [comm] = tostring(mine_in) },
         prom:values("sockhost_conntrace_received_bytes_total", "comm"))
      assert.same({ client = "0", server = "0" },
         prom:values("sockhost_conntrace_connections_open", "role"))
      assert.equal(tostring(closes), prom:value("sockhost_conntrace_duration_seconds_count"))
      assert.equal(tostring(closes), prom:value(
         'sockhost_conntrace_duration_seconds_bucket{le="+Inf"}'))
      -- the built-in ledger: every close record read, none lost
      assert.equal(tostring(closes), prom:value('sockhost_events_received_total{name="events"}'))
      assert.equal("0", prom:value('sockhost_events_dropped_total{name="events"}'))

      -- what the records of the same run say, against the metrics
      local recs = records(read_file(ndjson))
      assert.equal(closes, #recs)
      local by_state, sent, received, us = {}, {}, {}, {}
      for i, r in ipairs(recs) do
         local key = r.role .. "/" .. r.states[#r.states - 1]
         by_state[key] = tostring(math.tointeger(tonumber(by_state[key] or 0) + 1))
         sent[r.comm] = tostring(math.tointeger(tonumber(sent[r.comm] or 0) + r.bytes_sent))
         received[r.comm] = tostring(math.tointeger(tonumber(received[r.comm] or 0)
            + r.bytes_received))
         us[i] = r.duration_us
      end
      assert.same(by_state, closed_by(prom))
      assert.same(sent, prom:values("sockhost_conntrace_sent_bytes_total", "comm"))
      assert.same(received, prom:values("sockhost_conntrace_received_bytes_total", "comm"))
      -- _sum: the kernel's sum of the records' duration_us, exported in seconds
      assert.equal(sum(us) / 1e6, tonumber(prom:value("sockhost_conntrace_duration_seconds_sum")))
      -- every bucket: the records at or below its top
      local buckets = prom:values("sockhost_conntrace_duration_seconds_bucket", "le")
      local nb = 0
      for le, v in pairs(buckets) do
         nb = nb + 1
         local want = 0
         for _, d in ipairs(us) do
            if le == "+Inf" or d <= log2_top(le) then want = want + 1 end
         end
         assert.equal(tostring(want), v, "bucket le=" .. le)
      end
      assert.equal(65, nb) -- sh_log2_bucket 1 .. 64 (0, negatives, left out while empty), +Inf

      assert.same({ 0, "" }, { check.promtool(scrape(tool.port)) })
      local _, stderr = tool.stop()
      assert.matches(("conntrace: %d connections seen, %d closed, 0 still open, 0 events "
         .. "dropped, 0 discarded %%(signal SIGINT%%)\n$"):format(2 * n + 5, closes), stderr)
   end)

   it("--pid: a server that process accept()s counts from accept(), the other's client not",
      function()
      local tool = start("--json --pid " .. proc.pid())
      local lsn = assert(cgroup.within(cg, socket.bind, "127.0.0.1", 0))
      local _, lport = lsn:getsockname()
      local py_out = dir .. "/client.out"
      pids[#pids + 1] = cgroup.within(cg, proc.spawn, ("exec /usr/bin/python3 -c %s %d %d:%d >%s "
         .. "2>&1"):format(q(CLIENT), lport, UP[1], DOWN[1], q(py_out)))
      lsn:settimeout(10)
      local conn = assert(lsn:accept())
      lsn:close()
      conn:settimeout(10)
      assert.equal(UP[1], #assert(conn:receive(UP[1])))
      assert(conn:send(("d"):rep(DOWN[1])))
      eof(conn)
      conn:close()
      local text
      assert(wait_for(function()
         text = scrape(tool.port)
         return text:find("\nsockhost_conntrace_duration_seconds_count 1\n", 1, true)
      end), "the scrape never counted the close: " .. tostring(text))
      for _, line in ipairs({
         'sockhost_conntrace_connections_opened_total{role="client"} 0',
         'sockhost_conntrace_connections_opened_total{role="server"} 1',
         'sockhost_conntrace_connections_closed_total{role="server",state="last_ack"} 1',
         ('sockhost_conntrace_sent_bytes_total{comm="%s"} %d'):format(comm, DOWN[1]),
         ('sockhost_conntrace_received_bytes_total{comm="%s"} %d'):format(comm, UP[1]),
      }) do
         assert.matches("\n" .. line:gsub("%p", "%%%0") .. "\n", text)
      end
      -- nothing else: python3's client end is not this process's
      local _, nclosed = text:gsub("\nsockhost_conntrace_connections_closed_total{", "")
      local _, ncomms = text:gsub("\nsockhost_conntrace_sent_bytes_total{", "")
      assert.same({ 1, 1 }, { nclosed, ncomms })
      local _, stderr = tool.stop()
      assert.matches("conntrace: 1 connections seen, 1 closed, 0 still open", stderr, 1, true)
   end)

   it("table mode serves the same families from its loop", function()
      local tool = start("")
      local ports = cgroup.within(cg, traffic.tcp_exchange, { send = 100, reply = 2000 })
      local s = assert(cgroup.within(cg, socket.tcp4))
      assert.same({ nil, "connection refused" }, { s:connect("127.0.0.1", free_port()) })
      s:close()
      local text
      assert(wait_for(function()
         text = scrape(tool.port)
         return text:find("\nsockhost_conntrace_duration_seconds_count 3\n", 1, true)
      end), "the scrape never counted 3 closes: " .. tostring(text))
      for _, line in ipairs({
         'sockhost_conntrace_connections_opened_total{role="client"} 2',
         'sockhost_conntrace_connections_opened_total{role="server"} 1',
         'sockhost_conntrace_connections_closed_total{role="client",state="fin_wait2"} 1',
         'sockhost_conntrace_connections_closed_total{role="client",state="syn_sent"} 1',
         'sockhost_conntrace_connections_closed_total{role="server",state="last_ack"} 1',
         ('sockhost_conntrace_sent_bytes_total{comm="%s"} 2100'):format(comm),
         ('sockhost_conntrace_received_bytes_total{comm="%s"} 2100'):format(comm),
         'sockhost_conntrace_connections_open{role="client"} 0',
         'sockhost_conntrace_connections_open{role="server"} 0',
      }) do
         assert.matches("\n" .. line:gsub("%p", "%%%0") .. "\n", text)
      end
      local _, nclosed = text:gsub("\nsockhost_conntrace_connections_closed_total{", "")
      assert.equal(3, nclosed)
      assert.same({ 0, "" }, { check.promtool(text) })
      local stdout, stderr = tool.stop()
      -- the table still prints: both ends of the exchange, by their local ports
      assert.matches(("127.0.0.1:%d"):format(ports.client_port), stdout, 1, true)
      assert.matches(("127.0.0.1:%d"):format(ports.server_port), stdout, 1, true)
      assert.matches("conntrace: 3 connections seen, 3 closed, 0 still open, 0 events "
         .. "dropped, 0 discarded %(signal SIGINT%)\n$", stderr)
   end)
end)
