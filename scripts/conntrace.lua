#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- conntrace: TCP connections (IPv4 and IPv6) as they open and close, with their owner (pid,
-- comm), role, 4-tuple, bytes each way, state transitions and duration; byte counts are exact
-- for connections that close. Like BCC's tcplife, but with a live table of open connections.
--
--   sockhost scripts/conntrace.lua --demo --duration 2     its own loopback connections
--   sockhost scripts/conntrace.lua --port 443              table every second until Ctrl-C
--   sockhost scripts/conntrace.lua --json --pid 1234 | jq  NDJSON, one object per closed conn
--   sockhost scripts/conntrace.lua --metrics :9101          Prometheus metrics too (--help)
--   sockhost scripts/conntrace.lua --pin /sys/fs/bpf/conns then, from another shell:
--     sockhost -e 'for k, c in pairs(sockhost.open_pinned("/sys/fs/bpf/conns")) do
--                    print(c.pid, c.comm, c.sport, c.dport, c.bytes_sent) end'
--
-- Kernel side: bpf/conntrace.bpf.c (struct conn in bpf/conntrace.h), which also explains the
-- hooks and how owner, bytes and filters are worked out. The --metrics families are bound to
-- aggregates the kernel keeps as it reports (FAMILIES below): no Lua runs per record for them.

local sockhost = require "sockhost"
local net = require "sockhost.net"
local fmt = require "sockhost.fmt"
local tab = require "sockhost.tab"
local cli = require "sockhost.cli"
local argparse = require "argparse"

local ROLE = { [1] = "client", [2] = "server" }

-- A usage error found after parsing, before anything is opened: like argparse's, exit 1.
local function fail(msg)
   io.stderr:write("conntrace: ", msg, "\n")
   os.exit(1)
end

-- Metrics -----------------------------------------------------------------------------------

local function state_name(s)
   return net.tcp_state_name(s) or tostring(s)
end

-- The comm label: "" is a server socket nobody accept()ed; a comm is 15 bytes cut anywhere
-- (a UTF-8 character too), and Prometheus takes only UTF-8 label values, so a run of bytes
-- past ASCII that is not UTF-8 is written \xNN each.
local UNACCEPTED = "(unaccepted)"
local OTHER = "(other)"
local function comm_label(comm)
   if comm == "" then return UNACCEPTED end
   return (comm:gsub("[\128-\255]+", function(run)
      if utf8.len(run) then return run end
      return (run:gsub(".", function(b) return ("\\x%02x"):format(b:byte()) end))
   end))
end

-- bytes by comm: the hash `comm_bytes` (at most CONN_COMM_MAX comms) and, under OTHER, the
-- closed connections whose comm found it full (the global comm_other)
local function bytes_by_comm(field)
   return function(emit, obj)
      for comm, b in pairs(obj:map("comm_bytes")) do emit(b[field], comm_label(comm)) end
      local other = obj.globals.comm_other[field]
      if other > 0 then emit(other, OTHER) end
   end
end

local FAMILIES = {
   { name = "sockhost_conntrace_connections_opened_total", type = "counter", labels = { "role" },
     collect = function(emit, obj)
        local opened = obj.globals.opened -- indexed by CONN_ROLE_* from 0
        emit(opened[2], "client")
        emit(opened[3], "server")
     end,
     help = "Connections seen starting (a client at connect(), a server at its SYN_RECV; "
        .. "with --pid when that process accept()s it)." },
   { name = "sockhost_conntrace_connections_closed_total", type = "counter", map = "closes",
     labels = function(k) return ROLE[k >> 4], state_name(k & 15) end,
     label_names = { "role", "state" },
     value = function(n) return n > 0 and n or nil end,
     help = "Connections closed, by role and the TCP state they left for CLOSE: fin_wait2 "
        .. "after an active close (tcp_time_wait() hands the rest to a TIME_WAIT socket and "
        .. "closes this one: tcp_done()), closing after a simultaneous one, last_ack after a "
        .. "passive close, and the state a reset found: established or close_wait for a reset "
        .. "sent (SO_LINGER 0, unread data at close) or received, syn_sent for a refused or "
        .. "timed-out connect(). Counted in the kernel, so also the closes whose record the ring "
        .. "buffer had no room for (sockhost_events_dropped_total)." },
   { name = "sockhost_conntrace_sent_bytes_total", type = "counter", labels = { "comm" },
     collect = bytes_by_comm("sent"),
     help = "Payload bytes sent (and acknowledged) by closed connections, by owner comm: "
        .. UNACCEPTED .. " for server sockets nobody accept()ed, " .. OTHER .. " past 1024 "
        .. "comms." },
   { name = "sockhost_conntrace_received_bytes_total", type = "counter", labels = { "comm" },
     collect = bytes_by_comm("received"),
     help = "Payload bytes received by closed connections, by owner comm (as sent)." },
   { name = "sockhost_conntrace_duration_seconds", type = "histogram", map = "durations",
     buckets = "log2", div = 1e6,
     sum = function(obj) return obj.globals.duration_us_sum end,
     help = "Durations of closed connections (SYN_SENT/SYN_RECV to CLOSE, whole microseconds "
        .. "as --json's duration_us), in power-of-two buckets; the sum is exact." },
   { name = "sockhost_conntrace_connections_open", type = "gauge", labels = { "role" },
     collect = function(emit, obj)
        local pid, n = obj.globals.target_pid, { 0, 0 }
        for _, c in pairs(obj:map("conns")) do
           -- under --pid a server not accept()ed yet is tracked, not reported (open_rows)
           if pid == 0 or c.pid == pid then n[c.role] = (n[c.role] or 0) + 1 end
        end
        emit(n[1], "client")
        emit(n[2], "server")
     end,
     help = "Connections open now (those the table lists as open): started since conntrace "
        .. "did, not closed yet." },
}

-- Command line ------------------------------------------------------------------------------

local function integer_arg(opt, what, lo, hi)
   return function(s)
      local n = s:match("^%d+$") and math.tointeger(tonumber(s))
      if not n or n < lo or n > hi then
         return nil, ("%s wants %s (an integer from %d to %d), got '%s'"):format(opt, what, lo,
            hi, s)
      end
      return n
   end
end

-- The id of a cgroup v2 directory (what bpf_get_current_cgroup_id() reports), from the core.
local function cgroup_arg(path)
   local ok, id = pcall(sockhost.cgroup_id, path)
   if not ok then
      return nil, "--cgroup: " .. tostring(id):gsub("^[^:]*:%d+: ", "")
   end
   return { path = path, id = id }
end

local function parse_args()
   local parser = argparse("sockhost conntrace",
      "Trace TCP connections (IPv4 and IPv6): owner, role, addresses, bytes each way, state "
      .. "transitions, duration.",
      "Every --interval seconds a table shows the connections open now and those closed since "
      .. "the last one. With --json, one JSON object per closed connection goes to stdout "
      .. "instead, with the fields, in this order:\n"
      .. "  type             \"close\"\n"
      .. "  ts               when it closed: wall-clock seconds, 6 decimals\n"
      .. "  pid, comm        owner: the process that called connect() (client) or accept()ed "
      .. "the socket (server; 0 and \"\" if never accepted)\n"
      .. "  role             \"client\" or \"server\"\n"
      .. "  family           \"inet\" or \"inet6\"\n"
      .. "  saddr, sport     local address and port\n"
      .. "  daddr, dport     remote address and port\n"
      .. "  bytes_sent       payload bytes sent and acknowledged by the peer\n"
      .. "  bytes_received   payload bytes received\n"
      .. "  duration_us      from SYN_SENT/SYN_RECV to CLOSE, microseconds\n"
      .. "  states           the TCP states it went through, in order (at most 10, then "
      .. "\"...\")\n"
      .. "  cgroup_id        id of the socket's cgroup v2\n"
      .. "Byte counts are exact for connections that close in order. Connections opened "
      .. "before conntrace started are not shown. Filters run in the kernel. A summary goes "
      .. "to stderr at exit (Ctrl-C or --duration).")
   parser:option("--interval", "Seconds between tables (default 1).")
      :argname("<sec>"):default("1"):convert(cli.seconds("--interval", true))
   cli.common(parser, {
      duration = { demo = 2, strict = true },
      json = { help = "One JSON object per closed connection (NDJSON) instead of tables." },
      metrics = FAMILIES,
   })
   parser:option("--pid", "Only connections owned by this process: clients it connect()s, "
      .. "servers it accept()s.")
      :argname("<pid>"):convert(integer_arg("--pid", "a process id", 1, 4294967295))
   parser:option("--port", "Only connections to this server port (the port connected to or "
      .. "listened on; also a client's local port when bound before connect()).")
      :argname("<port>"):convert(integer_arg("--port", "a port number", 1, 65535))
   parser:option("--cgroup", "Only sockets created in this cgroup v2 directory or below it "
      .. "(accepted sockets belong to their listener's cgroup). A filter: nothing is "
      .. "attached to the cgroup.")
      :argname("<path>"):convert(cgroup_arg)
   parser:option("--pin", "Pin the connections map (struct conn values keyed by socket "
      .. "address) at this bpffs path, so another sockhost can read it with "
      .. "sockhost.open_pinned(path). Removed at exit unless --keep-pin.")
      :argname("<path>")
   parser:flag("--keep-pin", "Leave the --pin path in place at exit.")
   parser:option("--hooks", "Which kernel hooks to use: auto (tp_btf where BTF-typed "
      .. "tracepoints exist, else kprobe tcp_data_queue), tp_btf, tracepoint (no live byte "
      .. "counts), kprobe (live bytes sent lag one ACK).")
      :argname("<set>"):choices({ "auto", "tp_btf", "tracepoint", "kprobe" }):default("auto")
   parser:flag("--demo", "Open a few loopback TCP connections (IPv4, and IPv6 when ::1 "
      .. "exists) from a temporary cgroup sockhost-conntrace-<pid> under the cgroup2 root, "
      .. "which also becomes the --cgroup filter; they trade data and close before the end. "
      .. "The cgroup is removed at exit.")
   local args = parser:parse(arg)
   if args.keep_pin and not args.pin then parser:error("--keep-pin needs --pin") end
   if args.demo and args.cgroup then parser:error("--demo makes its own cgroup; drop --cgroup") end
   return args
end

-- Hooks -------------------------------------------------------------------------------------

local function has_tracepoint(category, name)
   for _, dir in ipairs({ "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }) do
      local f = io.open(("%s/events/%s/%s/format"):format(dir, category, name), "r")
      if f then
         f:close()
         return true
      end
   end
   return false
end

-- Programs of bpf/conntrace.bpf.c to load, and a line saying which for stderr.
local function choose_hooks(mode)
   local f = sockhost.features()
   local function why(kind)
      local x = f[kind] or {}
      return ("%s unavailable: %s"):format(kind, x.reason or "unknown")
   end
   local state, refresh, notes
   if mode == "tracepoint" or (mode ~= "tp_btf" and not f.tp_btf.ok) then
      state = { prog = "sock_inet_sock_set_state", desc = "tracepoint sock/inet_sock_set_state" }
      if mode ~= "tracepoint" then notes = why("tp_btf") end
   else
      if not f.tp_btf.ok then fail("--hooks tp_btf: " .. why("tp_btf")) end
      state = { prog = "inet_sock_set_state", desc = "tp_btf inet_sock_set_state" }
   end
   -- tp_btf tcp_probe first: it counts the ACK it is about to process, so live bytes sent
   -- are exact after the last ACK; kprobe tcp_data_queue (the original's) lags one ACK
   if mode == "kprobe" or (mode == "auto" and not f.tp_btf.ok and f.kprobe.ok) then
      if not f.kprobe.ok then
         fail("--hooks kprobe: " .. why("kprobe") .. "; the tracepoint hooks give the same "
            .. "records: --hooks tp_btf (live bytes too) or --hooks tracepoint")
      end
      refresh = { prog = "tcp_data_queue", desc = "kprobe tcp_data_queue" }
   elseif mode ~= "tracepoint" and f.tp_btf.ok then
      refresh = { prog = "tcp_probe", desc = "tp_btf tcp_probe" }
   elseif mode == "auto" then
      notes = why("kprobe")
   end
   local progs = { state.prog, "sys_exit_accept", "sys_exit_accept4" }
   -- sock:sk_data_ready is newer (6.6) than the rest; it refreshes after the data is in
   if refresh and refresh.prog == "tcp_probe" and has_tracepoint("sock", "sk_data_ready") then
      progs[#progs + 1] = "sk_data_ready"
      refresh.desc = refresh.desc .. " + sk_data_ready"
   end
   local desc = { state.desc .. " (states, bytes at close)",
      "tracepoint syscalls/sys_exit_accept[4] (server owner)" }
   if refresh then
      progs[#progs + 1] = refresh.prog
      desc[#desc + 1] = refresh.desc .. " (live bytes)"
   else
      desc[#desc + 1] = "no live byte counts"
   end
   return progs, table.concat(desc, ", ") .. (notes and "; " .. notes or "")
end

-- Formatting --------------------------------------------------------------------------------

local function state_path(c)
   local names = {}
   for i = 1, math.min(c.nstates, #c.states) do names[i] = state_name(c.states[i]) end
   if c.nstates > #c.states then names[#names + 1] = "..." end
   return names
end

-- The --json line, encoded in C from the record's bytes (opts.ndjson): no Lua value per record.
local TCP_STATES = {}
for st = 1, 12 do TCP_STATES[st] = state_name(st) end

local function json_spec(out)
   return {
      out = out,
      type = "close",
      ts = { "start_ns", "duration_ns" }, -- when it closed
      clock = "boottime",
      fields = {
         "pid", "comm",
         { "role", names = ROLE },
         { "family", names = { [2] = "inet", [10] = "inet6" } },
         { "saddr", addr = "family" }, "sport",
         { "daddr", addr = "family" }, "dport",
         "bytes_sent", "bytes_received",
         { "duration_us", from = "duration_ns", div = 1000 },
         { "states", count = "nstates", names = TCP_STATES, more = "..." },
         "cgroup_id",
      },
   }
end

-- CLOCK_BOOTTIME, the clock of struct conn's start_ns, from /proc/uptime (10 ms steps).
local function boottime_ns()
   local f = assert(io.open("/proc/uptime", "r"))
   local up = f:read("n")
   f:close()
   return math.floor(up * 1e9)
end

-- The table: exact byte counts (the tool's promise), durations in human units.
local COLUMNS = {
   { key = "pid", title = "PID" },
   { key = "comm", title = "COMM", align = "left" },
   { key = "role", title = "ROLE", align = "left" },
   { key = "laddr", title = "LOCAL", align = "left" },
   { key = "raddr", title = "REMOTE", align = "left" },
   { key = "state", title = "STATE", align = "left" },
   { key = "sent", title = "SENT", align = "right" },
   { key = "received", title = "RECEIVED", align = "right" },
   { key = "age", title = "DURATION", align = "right" },
   { key = "states", title = "TRANSITIONS", align = "left" },
}

local function row(c, now)
   local closed = c.duration_ns ~= 0
   local age = closed and c.duration_ns or math.max(0, now - c.start_ns)
   return {
      pid = c.pid, comm = c.comm ~= "" and c.comm or "-", role = ROLE[c.role] or c.role,
      laddr = net.endpoint(c.saddr, c.family, c.sport),
      raddr = net.endpoint(c.daddr, c.family, c.dport),
      state = state_name(c.state), sent = c.bytes_sent, received = c.bytes_received,
      age = fmt.duration(age) .. (closed and "" or "+"),
      states = table.concat(state_path(c), ">"),
   }
end

local function print_table(out, title, rows)
   out:write(title, "\n")
   if #rows == 0 then
      out:write("  (no connections)\n")
      return
   end
   for line in tab.render(rows, { columns = COLUMNS }):gmatch("[^\n]+") do
      out:write("  ", line, "\n")
   end
end

-- The demo: a cgroup and a few connections in it -------------------------------------------

-- Sockets belong to the cgroup their creator is in when it makes them (accepted ones to the
-- listener's), so only the setup happens inside. Each connection i trades 100*i bytes up and
-- 1000*i down now, the same again at `again` seconds, and closes at `close_at`.
local function run_demo(cg, again, close_at)
   cli.need("socket", "lua-socket", "--demo")
   local tcp_pair = require("sockhost.demo").tcp_pair
   local demo_conns = {}
   local ok, err = pcall(cg.within, function()
      for _, host in ipairs({ "127.0.0.1", "127.0.0.1", "::1" }) do
         local client, conn = tcp_pair(host)
         if client then -- no ::1 where IPv6 is off
            client:settimeout(2)
            conn:settimeout(2)
            demo_conns[#demo_conns + 1] = { cli = client, conn = conn }
         end
      end
   end)
   if not ok then error("demo connection failed: " .. tostring(err), 0) end
   local function trade()
      for i, p in ipairs(demo_conns) do
         assert(p.cli:send(("q"):rep(100 * i)))
         assert(p.conn:receive(100 * i))
         assert(p.conn:send(("r"):rep(1000 * i)))
         assert(p.cli:receive(1000 * i))
      end
   end
   trade()
   sockhost.after(again, trade)
   sockhost.after(close_at, function()
      for _, p in ipairs(demo_conns) do
         p.cli:close()
         p.conn:close()
      end
   end)
end

-- Main --------------------------------------------------------------------------------------

local function main()
   local args = parse_args()
   local json = args.json
   local output = cli.output("conntrace", args)
   -- lines from C are flushed once per drain; tables go out as they are written
   if not json then io.stdout:setvbuf("line") end
   local progs, hooks = choose_hooks(args.hooks)

   local cg <close> = args.demo and require("sockhost.demo").cgroup("conntrace") or nil
   local cgroup = args.cgroup or (cg and assert(cgroup_arg(cg.path))) or nil
   local duration = args.duration or (args.demo and 2) or nil

   local obj <close> = sockhost.open("conntrace", {
      programs = progs,
      globals = {
         target_pid = args.pid or 0,
         target_port = args.port or 0,
         target_cgroup = cgroup and cgroup.id or 0,
      },
   })
   local conns = obj:map("conns")
   -- A pin already at the path is not ours to replace: say what it is, and if it is a
   -- conntrace connections map (left by a conntrace that was killed: SIGKILL runs no
   -- cleanup), how to remove it.
   if args.pin then
      local ok, there = pcall(sockhost.open_pinned, args.pin)
      if ok then
         local what = tostring(there)
         there:close()
         if what:match("^sockhost%.map 'conns' %(") then
            error(("--pin %s: a conntrace connections map is already pinned there (left by a "
               .. "conntrace that was killed?); remove it with: rm %s"):format(args.pin,
               args.pin), 0)
         end
         error(("--pin %s: something is already pinned there (%s)"):format(args.pin, what), 0)
      end
   end
   -- the guard exists only once the pin does: a path that was there before is not ours
   if args.pin then conns:pin(args.pin) end
   local unpinned = false
   local function unpin()
      if args.keep_pin or unpinned then return end
      unpinned = true
      local ok, err = pcall(conns.unpin, conns, args.pin)
      if not ok then io.stderr:write("conntrace: ", tostring(err), "\n") end
   end
   -- closed at the end of main, or collected with the state should a signal land first
   local pinned <close> = args.pin and setmetatable({}, { __close = unpin, __gc = unpin }) or nil

   local closed_rows = {}
   local function on_close(c)
      closed_rows[#closed_rows + 1] = c
   end
   -- Open connections from the map; a server socket waiting for accept() under --pid is
   -- still tracked there (the kernel decides at accept) but not the user's.
   local function open_rows()
      local rows = {}
      for _, c in pairs(conns) do
         if not args.pid or c.pid == args.pid then rows[#rows + 1] = c end
      end
      table.sort(rows, function(a, b) return a.start_ns < b.start_ns end)
      return rows
   end
   local function tick()
      local now = boottime_ns()
      local open = open_rows()
      local rows = {}
      for _, c in ipairs(open) do rows[#rows + 1] = row(c, now) end
      for _, c in ipairs(closed_rows) do rows[#rows + 1] = row(c, now) end
      print_table(io.stdout, ("%s  %d open, %d closed"):format(os.date("%H:%M:%S"), #open,
         #closed_rows), rows)
      closed_rows = {}
   end

   -- served from sockhost.run's loop, on the kernel's aggregates: nothing per record here
   local metrics_guard <close> = cli.serve_metrics("conntrace", args, obj, FAMILIES)
   local events <close> = json
      and obj:subscribe("events", "struct conn", nil, { ndjson = json_spec(output.file) })
      or obj:subscribe("events", "struct conn", on_close)
   if json then output:follow(events) end
   local links = {}
   for i, name in ipairs(progs) do links[i] = obj:program(name):attach() end

   local filters = {}
   if args.pid then filters[#filters + 1] = "pid " .. args.pid end
   if args.port then filters[#filters + 1] = "port " .. args.port end
   if cgroup then filters[#filters + 1] = ("cgroup %s (id %d)"):format(cgroup.path, cgroup.id) end
   io.stderr:write(("conntrace: hooks: %s\nconntrace: filters: %s%s\n"):format(hooks,
      #filters > 0 and table.concat(filters, ", ") or "none",
      args.pin and "; connections map pinned at " .. args.pin or ""))

   local timer = not json and sockhost.every(args.interval, tick) or nil
   if cg then run_demo(cg, math.min(0.5, duration / 4), duration * 0.6) end
   local reason, signal = sockhost.run { duration = duration, on_hup = output.on_hup }
   if timer then timer:cancel() end
   local still_open = #open_rows()
   for _, l in ipairs(links) do l:detach() end
   -- what the kernel wrote before the links went is read, not left in the ring
   events:drain()
   if not json and #closed_rows > 0 then tick() end
   events:close()
   -- the loss ledger: dropped in the kernel (ring full), discarded at close (never read)
   local dropped, discarded = events.dropped, events.discarded
   io.stderr:write(("conntrace: %d connections seen, %d closed, %d still open, %d events "
      .. "dropped, %d discarded (%s)\n"):format(obj.globals.seen, events.received, still_open,
      dropped, discarded, cli.stopped(reason, signal)))
   if dropped > 0 then
      io.stderr:write(("conntrace: warning: %d closed connections were lost (ring buffer "
         .. "full: the reader was too slow)\n"):format(dropped))
   end
   -- metrics_guard (the server), pinned, obj and then cg close here, in that order.
end

cli.main("conntrace", main)
