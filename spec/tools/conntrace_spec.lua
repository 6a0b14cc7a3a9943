-- SPDX-License-Identifier: GPL-2.0
-- scripts/conntrace.lua run as a user runs it, against TCP connections the spec makes with
-- known payload sizes. Other specs make connections at the same time, so every run filters
-- (in the kernel) by this process's pid, or by the spec's own cgroup.
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local traffic = require "helpers.traffic"
local socket = require "socket"
local cjson = require "cjson"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")
local script = src .. "/scripts/conntrace.lua"

local SEND, REPLY = 1000, 54321

local read_file, wait_for, records = proc.read_file, proc.wait_for, proc.records

-- The one record of the given role and local port, or fails.
local function find(recs, role, sport)
   local found
   for _, r in ipairs(recs) do
      if r.role == role and r.sport == sport then
         assert(not found, ("two %s records with local port %d"):format(role, sport))
         found = r
      end
   end
   return assert(found, ("no %s record with local port %d in %s"):format(role, sport,
      cjson.encode(recs)))
end

-- A connected loopback pair in this process (client, accepted socket, both blocking with a
-- timeout) and its ports, closed when the test ends (through finally: the test's only one).
-- Payloads here stay far below the loopback window, so a blocking send never waits for a
-- read this process has yet to make.
local function pair()
   local cli, conn = traffic.tcp_pair("127.0.0.1")
   finally(function()
      cli:close()
      conn:close()
   end)
   cli:settimeout(5)
   conn:settimeout(5)
   local _, cport = cli:getsockname()
   local _, sport = conn:getsockname()
   return cli, conn, math.tointeger(tonumber(cport)), math.tointeger(tonumber(sport))
end

local free_port = proc.free_port

describe("scripts/conntrace.lua #tools", function()
   local out, pid
   local me = proc.pid()
   local comm = read_file("/proc/self/comm"):gsub("\n$", "")

   before_each(function()
      out = os.tmpname()
      pid = nil
   end)
   after_each(function()
      proc.reap(pid)
      os.remove(out)
      os.remove(out .. ".err")
   end)

   -- Start the script with flags; returns once its programs are attached (it says so on
   -- stderr: the filters line comes after the attach).
   local function start(flags)
      pid = proc.spawn(string.format("exec %s %s %s >%s 2>%s.err", proc.quote(bin),
         proc.quote(script), flags, out, out))
      assert(wait_for(function()
         return (read_file(out .. ".err") or ""):find("conntrace: filters:", 1, true)
      end), "conntrace never started: " .. tostring(read_file(out .. ".err")))
   end

   -- SIGINT, like Ctrl-C; returns stdout and stderr once it has exited.
   local function stop()
      assert(proc.kill(pid, "INT"))
      assert(proc.wait_gone(pid, 10), "conntrace did not exit on SIGINT")
      return read_file(out), read_file(out .. ".err")
   end

   -- One exchange; returns its ports and the seconds from before connect() until both of its
   -- records were printed (an upper bound for any duration reported).
   local function exchange(host, n_before, opts)
      local t0 = socket.gettime()
      local ports = traffic.tcp_exchange({ host = host, send = SEND, reply = REPLY,
         port = opts and opts.port })
      assert(wait_for(function() return #records(read_file(out)) >= n_before + 2 end),
         "no close records for the connection: " .. tostring(read_file(out)))
      return ports, socket.gettime() - t0
   end

   local function check_pair(recs, host, family, ports, wall)
      local c = find(recs, "client", ports.client_port)
      local s = find(recs, "server", ports.server_port)
      for _, r in ipairs({ c, s }) do
         assert.equal(me, r.pid)
         assert.equal(comm, r.comm)
         assert.equal(family, r.family)
         assert.equal(host, r.saddr)
         assert.equal(host, r.daddr)
         assert.is_true(r.duration_us > 0, "duration_us " .. r.duration_us)
         assert.is_true(r.duration_us < wall * 1e6, ("duration_us %d, wall %.0f us")
            :format(r.duration_us, wall * 1e6))
      end
      assert.same({ ports.server_port, SEND, REPLY }, { c.dport, c.bytes_sent, c.bytes_received })
      assert.same({ ports.client_port, REPLY, SEND }, { s.dport, s.bytes_sent, s.bytes_received })
      assert.same({ "syn_sent", "established", "fin_wait1", "fin_wait2", "close" }, c.states)
      assert.same({ "syn_recv", "established", "close_wait", "last_ack", "close" }, s.states)
   end

   it("reports exact bytes, role, addresses and duration per side (IPv4 and IPv6)", function()
      start("--json --pid " .. me)
      local v4, wall4 = exchange("127.0.0.1", 0)
      local recs = records(read_file(out))
      check_pair(recs, "127.0.0.1", "inet", v4, wall4)
      local v6, wall6 = exchange("::1", 2)
      check_pair(records(read_file(out)), "::1", "inet6", v6, wall6)
      local stdout, stderr = stop()
      assert.equal(4, #records(stdout))
      assert.matches("conntrace: hooks: tp_btf inet_sock_set_state", stderr, 1, true)
      assert.matches("conntrace: 4 connections seen, 4 closed, 0 still open, 0 events "
         .. "dropped, 0 discarded %(signal SIGINT%)\n$", stderr)
   end)

   it("gives the same exact counts through the classic tracepoint", function()
      start("--json --hooks tracepoint --pid " .. me)
      local ports, wall = exchange("127.0.0.1", 0)
      check_pair(records(read_file(out)), "127.0.0.1", "inet", ports, wall)
      local _, stderr = stop()
      assert.matches("conntrace: hooks: tracepoint sock/inet_sock_set_state", stderr, 1, true)
   end)

   it("--pid leaves out both ends of another process's connection", function()
      start("--json --pid " .. me)
      local other = os.tmpname()
      local child
      finally(function() -- busted keeps only a test's last finally: one for both
         proc.reap(child)
         os.remove(other)
      end)
      -- the other process: a lua5.4 doing the same exchange, printing its ports
      child = proc.spawn(string.format("exec lua5.4 -e %s >%s", proc.quote(
         ("package.path = %q .. package.path; local p = require('helpers.traffic')"
            .. ".tcp_exchange{send = 10, reply = 20}; print(p.client_port, p.server_port)")
            :format(src .. "/spec/?.lua;")), other))
      local theirs = assert(wait_for(function()
         local c, s = (read_file(other) or ""):match("(%d+)%s+(%d+)\n")
         return c and { tonumber(c), tonumber(s) }
      end), "the other process made no connection")
      assert(proc.wait_gone(child, 5), "the other process did not exit")
      local mine = exchange("127.0.0.1", 0)
      local stdout = stop()
      local recs = records(stdout)
      assert.equal(2, #recs)
      find(recs, "client", mine.client_port)
      find(recs, "server", mine.server_port)
      for _, r in ipairs(recs) do
         assert.is_false(r.sport == theirs[1] or r.sport == theirs[2], cjson.encode(r))
      end
   end)

   describe("in the spec's own cgroup", function()
      local cg
      before_each(function() cg = cgroup.new("conntrace") end)
      after_each(function()
         assert(wait_for(function() return cgroup.remove(cg) end, 5))
      end)

      it("--cgroup and --port keep only connections to that port made in the cgroup", function()
         local port, other_port = free_port(), free_port()
         start(("--json --cgroup %s --port %d"):format(proc.quote(cg), port))
         local t0 = socket.gettime()
         local outside = traffic.tcp_exchange({ port = port, send = 5, reply = 5 })
         local ports = cgroup.within(cg, function()
            traffic.tcp_exchange({ port = other_port, send = 7, reply = 7 })
            return traffic.tcp_exchange({ port = port, send = SEND, reply = REPLY })
         end)
         -- the wanted connection is the last made: wait for both of its records
         assert(wait_for(function()
            local client, server
            for _, r in ipairs(records(read_file(out))) do
               client = client or (r.role == "client" and r.sport == ports.client_port)
               server = server or (r.role == "server" and r.sport == ports.server_port)
            end
            return client and server
         end), "no close records for the connection: " .. tostring(read_file(out)))
         local wall = socket.gettime() - t0
         local stdout, stderr = stop()
         -- the kernel counts a connection as seen when it starts (in connect(), and on the
         -- SYN before accept() returns), so at this point all three are past the filter: a
         -- filter that let another through would say 3 or 4 here
         assert.matches("conntrace: 2 connections seen, 2 closed, 0 still open, 0 events "
            .. "dropped, 0 discarded %(signal SIGINT%)\n$", stderr)
         local recs = records(stdout)
         assert.equal(2, #recs, stdout)
         check_pair(recs, "127.0.0.1", "inet", ports, wall)
         assert.equal(port, ports.server_port)
         for _, r in ipairs(recs) do
            assert.not_equal(outside.client_port, r.sport)
         end
         -- the cgroup id is the directory's inode number
         local ok, ino = proc.sh("stat -c %i " .. proc.quote(cg))
         assert.is_true(ok)
         assert.equal(tonumber(ino), recs[1].cgroup_id)
      end)
   end)

   it("--pin lets a second sockhost read the open connections, and unpins at exit", function()
      local pin = ("/sys/fs/bpf/sockhost-spec-conntrace-%d"):format(me)
      local srv, cli, conn
      finally(function() -- busted keeps only a test's last finally: one for all
         for _, s in ipairs({ srv, cli, conn }) do s:close() end -- ipairs: those made
         os.remove(pin) -- only there when the test failed before conntrace unpinned it
      end)
      start(("--json --pid %d --pin %s"):format(me, pin))
      -- one connection held open while the other process looks
      srv = assert(socket.bind("127.0.0.1", 0))
      local _, sport = srv:getsockname()
      cli = assert(socket.connect("127.0.0.1", sport))
      conn = assert(srv:accept())
      srv:close()
      assert(cli:send(("x"):rep(300)))
      assert.equal(300, #assert(conn:receive(300)))
      local _, cport = cli:getsockname()
      local ok, listing = proc.sh(string.format("%s -e %s 2>&1", proc.quote(bin),
         proc.quote(("for _, c in pairs(sockhost.open_pinned(%q)) do "
            .. "print(c.pid, c.role, c.sport, c.dport, c.bytes_received) end"):format(pin))))
      cli:close()
      conn:close()
      assert.is_true(ok, listing)
      assert.matches(("%d\t1\t%d\t%d\t0\n"):format(me, cport, sport), listing)
      assert.matches(("%d\t2\t%d\t%d\t300\n"):format(me, sport, cport), listing)
      assert(wait_for(function() return #records(read_file(out)) >= 2 end))
      stop()
      assert.is_nil(io.open(pin, "r"))
   end)

   it("--keep-pin leaves the pin, and a pin path in use is refused and left alone", function()
      local pin = ("/sys/fs/bpf/sockhost-spec-conntrace-keep-%d"):format(me)
      finally(function() os.remove(pin) end)
      start(("--json --pid %d --pin %s --keep-pin"):format(me, pin))
      stop()
      local ok, listing = proc.sh(string.format("%s -e %s 2>&1", proc.quote(bin),
         proc.quote(("print(sockhost.open_pinned(%q))"):format(pin))))
      assert.is_true(ok, listing)
      assert.equal("sockhost.map 'conns' (lru_hash, 4096 entries)\n", listing)
      local output, code
      ok, output, code = proc.sh(string.format("%s %s --pin %s 2>&1", proc.quote(bin),
         proc.quote(script), pin))
      assert.is_false(ok)
      assert.equal(1, code)
      -- a connections map already there is what a killed conntrace leaves: said so, in one line
      assert.equal(("conntrace: --pin %s: a conntrace connections map is already pinned there "
         .. "(left by a conntrace that was killed?); remove it with: rm %s\n"):format(pin, pin),
         output)
      ok = proc.sh(string.format("%s -e %s 2>&1", proc.quote(bin),
         proc.quote(("sockhost.open_pinned(%q)"):format(pin))))
      assert.is_true(ok, "the existing pin was removed")
   end)

   describe("connections that do not end in an orderly close", function()
      local DOWN = 5000 -- the reply, small enough for the blocking sends of pair()

      -- The two close records of a connection, once both are out.
      local function both(cport, sport)
         local c, s
         assert(wait_for(function()
            c, s = nil, nil
            for _, r in ipairs(records(read_file(out))) do
               if r.role == "client" and r.sport == cport then c = r end
               if r.role == "server" and r.sport == sport then s = r end
            end
            return c and s
         end), ("no close records for %d -> %d: %s"):format(cport, sport,
            tostring(read_file(out))))
         return c, s
      end

      -- Both records of a loopback connection against what the spec did. w: cport, sport,
      -- up and down (payload bytes client -> server and back), cstates and sstates (the
      -- state paths), cpid and ccomm (the client's owner; default this process, which
      -- owns the server end).
      local function check_ends(c, s, w)
         assert.same({ w.cpid or me, w.ccomm or comm, "127.0.0.1", w.cport, "127.0.0.1", w.sport,
            w.up, w.down, w.cstates }, { c.pid, c.comm, c.saddr, c.sport, c.daddr, c.dport,
            c.bytes_sent, c.bytes_received, c.states })
         assert.same({ me, comm, "127.0.0.1", w.sport, "127.0.0.1", w.cport, w.down, w.up,
            w.sstates }, { s.pid, s.comm, s.saddr, s.sport, s.daddr, s.dport, s.bytes_sent,
            s.bytes_received, s.states })
      end
      local ORDERLY = { client = { "syn_sent", "established", "fin_wait1", "fin_wait2", "close" },
         server = { "syn_recv", "established", "close_wait", "last_ack", "close" } }

      it("a refused connect() keeps its local port, the one tcpstates reports", function()
         local port = free_port() -- nothing listens there
         local ts_out = os.tmpname()
         local ts
         finally(function()
            proc.reap(ts)
            os.remove(ts_out)
         end)
         -- libbpf-tools' tcpstates (scripts/install-deps.sh): the same tracepoint, its args
         ts = proc.spawn(("exec stdbuf -oL /usr/sbin/tcpstates -D %d >%s 2>&1"):format(port,
            ts_out))
         assert(wait_for(function() return (read_file(ts_out) or ""):find("SKADDR", 1, true) end),
            "tcpstates never started: " .. tostring(read_file(ts_out)))
         start("--json --pid " .. me)
         local s = assert(socket.tcp4())
         local ok, err = s:connect("127.0.0.1", port)
         -- the port connect() picked stays in inet_sport, which getsockname() reports
         local _, lport = s:getsockname()
         s:close()
         assert.same({ nil, "connection refused" }, { ok, err })
         lport = math.tointeger(tonumber(lport))
         assert.is_true(lport > 0)
         assert(wait_for(function() return #records(read_file(out)) >= 1 end),
            "no close record for the refused connection")
         local stdout = stop()
         local recs = records(stdout)
         assert.equal(1, #recs, stdout)
         local r = recs[1]
         assert.same({ me, comm, "client", "inet", "127.0.0.1", lport, "127.0.0.1", port, 0, 0,
            { "syn_sent", "close" } }, { r.pid, r.comm, r.role, r.family, r.saddr, r.sport,
            r.daddr, r.dport, r.bytes_sent, r.bytes_received, r.states })
         local ts_port
         assert(wait_for(function()
            ts_port = (read_file(ts_out) or ""):match(
               "\n%S+%s+%d+%s+%S+%s+127%.0%.0%.1%s+(%d+)%s+127%.0%.0%.1%s+" .. port
               .. "%s+SYN_SENT%s+%->%s+CLOSE%s")
            return ts_port
         end), "tcpstates did not show SYN_SENT -> CLOSE: " .. tostring(read_file(ts_out)))
         assert.equal(lport, tonumber(ts_port))
      end)

      it("a connection reset (SO_LINGER 0) keeps its bytes, ports and states", function()
         start("--json --pid " .. me)
         local cli, conn, cport, sport = pair()
         assert(cli:send(("u"):rep(SEND)))
         assert.equal(SEND, #assert(conn:receive(SEND)))
         assert(conn:send(("d"):rep(DOWN)))
         assert.equal(DOWN, #assert(cli:receive(DOWN)))
         assert(cli:setoption("linger", { on = true, timeout = 0 }))
         cli:close() -- tcp_disconnect(): CLOSE and an RST instead of a FIN
         -- the server goes from ESTABLISHED straight to CLOSE on the RST (no CLOSE_WAIT)
         local c, s = both(cport, sport)
         check_ends(c, s, { cport = cport, sport = sport, up = SEND, down = DOWN,
            cstates = { "syn_sent", "established", "close" },
            sstates = { "syn_recv", "established", "close" } })
      end)

      it("a half-closed connection counts what goes the other way after the FIN", function()
         start("--json --pid " .. me)
         local cli, conn, cport, sport = pair()
         assert(cli:send(("u"):rep(SEND)))
         assert(cli:shutdown("send")) -- FIN_WAIT1, FIN_WAIT2 once acked
         assert.equal(SEND, #assert(conn:receive("*a"))) -- up to the FIN: CLOSE_WAIT
         assert(conn:send(("d"):rep(DOWN))) -- the half still open
         assert.equal(DOWN, #assert(cli:receive(DOWN)))
         conn:close()
         local c, s = both(cport, sport)
         check_ends(c, s, { cport = cport, sport = sport, up = SEND, down = DOWN,
            cstates = ORDERLY.client, sstates = ORDERLY.server })
      end)

      it("a socket passed to another process over a unix socket is counted whole", function()
         local port = free_port()
         local py_out = os.tmpname()
         local py, srv, conn
         finally(function()
            proc.reap(py)
            os.remove(py_out)
            for _, x in ipairs({ srv, conn }) do x:close() end -- ipairs: those made
         end)
         start(("--json --port %d"):format(port))
         srv = assert(socket.bind("127.0.0.1", port))
         srv:settimeout(5)
         -- python3 connects, hands the socket to a forked child with SCM_RIGHTS and closes
         -- its own fd; the child sends SEND bytes, reads DOWN and closes
         py = proc.spawn(("exec /usr/bin/python3 -c %s %d %d %d >%s 2>&1"):format(proc.quote([[
import os, socket, sys
port, up, down = (int(a) for a in sys.argv[1:4])
a, b = socket.socketpair()
child = os.fork()
if child == 0:
    a.close()
    _, fds, _, _ = socket.recv_fds(b, 1, 1)
    c = socket.socket(fileno=fds[0])
    c.sendall(b"u" * up)
    got = 0
    while got < down:
        d = c.recv(65536)
        if not d:
            break
        got += len(d)
    c.close()
    print("child", os.getpid(), got, flush=True)
    os._exit(0)
b.close()
c = socket.create_connection(("127.0.0.1", port))
print("parent", os.getpid(), c.getsockname()[1], flush=True)
socket.send_fds(a, [b"s"], [c.fileno()])
c.close()
os.waitpid(child, 0)
]]), port, SEND, DOWN, py_out))
         conn = assert(srv:accept())
         conn:settimeout(5)
         assert.equal(SEND, #assert(conn:receive(SEND)))
         assert(conn:send(("d"):rep(DOWN)))
         assert.same({ nil, "closed", "" }, { conn:receive("*a") }) -- the child's close
         conn:close()
         assert(proc.wait_gone(py, 5), "python3 did not exit")
         local text = read_file(py_out) or ""
         local ppid, cport = text:match("parent (%d+) (%d+)\n")
         local kid, got = text:match("child (%d+) (%d+)\n")
         assert(ppid and kid, "python3 said: " .. text)
         assert.not_equal(ppid, kid)
         assert.equal(DOWN, tonumber(got))
         ppid, cport = math.tointeger(tonumber(ppid)), math.tointeger(tonumber(cport))
         local c, s = both(cport, port)
         -- the owner is who connect()ed (the parent), whoever used the socket afterwards
         check_ends(c, s, { cport = cport, sport = port, up = SEND, down = DOWN,
            cstates = ORDERLY.client, sstates = ORDERLY.server, cpid = ppid, ccomm = "python3" })
         local stdout, stderr = stop()
         assert.equal(2, #records(stdout), stdout)
         assert.matches("conntrace: 2 connections seen, 2 closed, 0 still open", stderr, 1, true)
      end)
   end)

   describe("live table", function()
      -- The tables printed so far, in order, each from its title line on.
      local function tables(text)
         local t = {}
         for title in (text or ""):gmatch("()%d%d:%d%d:%d%d  %d+ open, %d+ closed\n") do
            t[#t + 1] = title
         end
         for i, at in ipairs(t) do t[i] = text:sub(at, (t[i + 1] or #text + 1) - 1) end
         return t
      end

      -- The client and server rows of cport <-> sport in a table: {sent, received} each.
      local function live_rows(tab, cport, sport)
         local function one(role, l, r)
            local sent, recv = tab:match(("%%s%s%%s+127%%.0%%.0%%.1:%d%%s+127%%.0%%.0%%.1:%d%%s+"
               .. "established%%s+(%%d+)%%s+(%%d+)%%s"):format(role, l, r))
            return sent and { tonumber(sent), tonumber(recv) }
         end
         return one("client", cport, sport), one("server", sport, cport)
      end

      for _, n in ipairs({ 100000, 1000 }) do
         it(("shows SENT %d for a socket that sent %d bytes, all acked"):format(n, n), function()
            start("--interval 0.2 --pid " .. me)
            local cli, conn, cport, sport = pair()
            -- 10,000 at a time, each read before the next: the client only sends, and
            -- gets nothing back but ACKs
            local sent = 0
            while sent < n do
               local len = math.min(10000, n - sent)
               assert(cli:send(("s"):rep(len)))
               assert.equal(len, #assert(conn:receive(len)))
               sent = sent + len
            end
            -- the kernel's count: tcp_info bytes_acked (which counts the SYN too)
            local acked
            assert(wait_for(function()
               local _, ss = proc.sh(("ss -tinH state established '( sport = :%d and dport = "
                  .. ":%d )'"):format(cport, sport))
               acked = tonumber(ss:match("bytes_acked:(%d+)"))
               return acked == n + 1
            end, 5), ("ss bytes_acked %s, want %d"):format(tostring(acked), n + 1))
            -- a table reads the map before its title goes out: the second table from now
            -- read it after the last ACK was in, and is whole once a third one begins
            local want = #tables(read_file(out)) + 2
            local tab = assert(wait_for(function()
               local t = tables(read_file(out))
               return t[want + 1] and t[want]
            end, 5), "no live tables: " .. tostring(read_file(out)))
            local client, server = live_rows(tab, cport, sport)
            assert.same({ { n, 0 }, { 0, n } }, { client, server }, tab)
            assert.equal(n, acked - 1)
         end)
      end
   end)

   it("--demo prints a table of its own live and closed connections", function()
      local ok, stdout, code = proc.sh(string.format("%s %s --demo --duration 2 2>%s",
         proc.quote(bin), proc.quote(script), out .. ".err"))
      assert.is_true(ok, tostring(code) .. (read_file(out .. ".err") or ""))
      local n = 6 -- two IPv4 connections and one IPv6, each seen from both ends
      local function count(pattern)
         local c = 0
         for _ in stdout:gmatch(pattern) do c = c + 1 end
         return c
      end
      assert.matches("PID%s+COMM%s+ROLE%s+LOCAL%s+REMOTE%s+STATE%s+SENT%s+RECEIVED", stdout)
      assert.equal(n // 2, count("\n%s+%d+%s+%S+%s+client%s[^\n]* established "))
      assert.equal(n // 2, count("\n%s+%d+%s+%S+%s+client%s[^\n]* close "))
      assert.equal(n // 2, count("\n%s+%d+%s+%S+%s+server%s[^\n]* close "))
      -- connection i sends 100*i bytes twice and receives 1000*i twice
      assert.matches("client%s+127%.0%.0%.1:%d+%s+127%.0%.0%.1:%d+%s+close%s+200%s+2000%s", stdout)
      assert.matches(("conntrace: %d connections seen, %d closed, 0 still open, 0 events dropped, "
         .. "0 discarded %%(duration%%)\n$"):format(n, n), read_file(out .. ".err"))
   end)

   describe("bad input", function()
      local function run(flags)
         return proc.sh(string.format("%s %s %s 2>&1", proc.quote(bin),
            proc.quote(script), flags))
      end

      it("refuses a port out of range", function()
         local ok, output, code = run("--port 70000")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.matches("\nError: %-%-port wants a port number %(an integer from 1 to 65535%), "
            .. "got '70000'\n$", output)
      end)

      it("refuses a pid that is not a number", function()
         local ok, output, code = run("--pid abc")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.matches("\nError: %-%-pid wants a process id %(an integer from 1 to "
            .. "4294967295%), got 'abc'\n$", output)
      end)

      it("refuses a cgroup that does not exist or is no cgroup", function()
         local ok, output, code = run("--cgroup /nonexistent/cg")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.matches("\nError: %-%-cgroup: cgroup '/nonexistent/cg': No such file or directory\n$",
            output)
         ok, output, code = run("--cgroup /proc")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.matches("\nError: %-%-cgroup: cgroup '/proc': not a cgroup v2 directory %(cgroup2 is "
            .. "mounted at [^)]+%)\n$", output)
      end)

      it("refuses kprobes where the kernel has none, saying why", function()
         local sockhost = require "sockhost"
         local kp = sockhost.features().kprobe
         if kp.ok then
            pending("this kernel has kprobes: " .. tostring(kp.ok))
            return
         end
         local ok, output, code = run("--hooks kprobe")
         assert.is_false(ok)
         assert.equal(1, code)
         assert.equal(("conntrace: --hooks kprobe: kprobe unavailable: %s; the tracepoint hooks "
            .. "give the same records: --hooks tp_btf (live bytes too) or --hooks tracepoint\n")
            :format(kp.reason), output)
      end)
   end)
end)
