#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- redirect: the ebpf-sockops socket redirect. Established local TCP connections of a cgroup
-- go into a sockhash (sock_ops), and every message sent on them goes straight to the peer
-- socket's receive queue (sk_msg), skipping the TCP/IP stack. Counters every second and at
-- exit; nothing stays attached afterwards (kernel links, so not even after SIGKILL).
--
--   sockhost scripts/redirect.lua --cgroup /sys/fs/cgroup/unified/app     redirect an app
--   sockhost scripts/redirect.lua --cgroup ... --trace                    + one line per
--                                                                          established socket
--   sockhost scripts/redirect.lua --json --duration 10 | jq .             NDJSON
--
-- Two runs on one cgroup co-exist: a socket can belong to one sk_msg program only, so the
-- run that attached first owns the connections and the other counts them as refused
-- (EBUSY); data is never at risk. Connections made after the first run stops belong to the
-- second. Kernel side: bpf/redirect.bpf.c (keys, counters and modes in bpf/redirect.h).
--
-- Half-close (see HALF_CLOSE below and release_half_closed() in bpf/redirect.bpf.c): on a
-- socket in a sockhash, a blocking recv() after shutdown(SHUT_WR) fails with EAGAIN in every
-- mode, because tcp_bpf_recvmsg() waits once and turns any wake-up without data (the ACK of
-- the socket's own FIN) into -EAGAIN. So by default sock_ops takes a socket out of the map
-- when it shuts down its write side, when its psock holds nothing; --keep-half-closed does not.
--
-- Measured on 6.18 (spec/tools/redirect_spec.lua, bench/redirect.lua): a redirected
-- receiver's queue ignores its SO_RCVBUF, so a fast sender is never held back by a slow
-- reader; and where a message takes the TCP path under sk_msg (peer not in the map, --mode
-- pass/egress), a blocking sender using MSG_MORE with sends larger than SO_SNDBUF can stall,
-- which plain TCP does not.

local sockhost = require "sockhost"
local net = require "sockhost.net"
local cli = require "sockhost.cli"
local fmt = require "sockhost.fmt"
local tab = require "sockhost.tab"
local argparse = require "argparse"

local MODES = { ingress = 0, egress = 1, pass = 2 }

-- What --help says about half-closed sockets: which application patterns work, which do not.
local HALF_CLOSE = [[
Half-close. On a socket in the sockhash, recvmsg is tcp_bpf_recvmsg() (net/ipv4/tcp_bpf.c):
with nothing queued it waits once (tcp_msg_wait_data()) and returns EAGAIN on any wake-up
that brings no data, even on a blocking socket. After shutdown(SHUT_WR) such a wake-up always
comes: the ACK of the socket's own FIN (FIN_WAIT1 -> FIN_WAIT2, sk_state_change). So a client
that sends a request, calls shutdown(SHUT_WR) and then blocks in recv() for the reply gets
EAGAIN, in every --mode. By default sock_ops therefore takes a socket out of the map when it
shuts down its write side (the FIN_WAIT1 state callback), if its psock holds no unread
redirected data and no other reference; it then continues as plain TCP (counted in
'released'). --keep-half-closed leaves it in. What still fails with EAGAIN:
  * a thread blocked in recv() while another thread of the process calls shutdown(SHUT_WR)
    on the same socket (inet_shutdown() wakes it, and it is already in tcp_bpf_recvmsg());
  * a half-close while the peer's redirected bytes wait unread, or while the peer is sending
    to it (the socket stays in the map, counted in 'kept'; it fails once a read waits and
    that ACK or another wake-up without data comes);
  * anything with --keep-half-closed.
Rarely, when the peer's message is redirected to the socket just as it half-closes, the peer's
send() fails with EPIPE (its verdict found the socket, the psock was gone when the data was to
be queued); the checks before the release leave a few instructions where such a message could be
queued into the psock being dropped (lost): both need the peer to send at that very moment.
Non-blocking and poll()/epoll() readers that retry on EAGAIN are not affected.]]

local JSON_RECORDS = [[
--json writes one JSON object per line (NDJSON, sockhost.ndjson); every record has
"type" (string) and "ts" (number: wall-clock seconds, 6 decimals) first. The records and their keys:
  start  cgroup (string), mode (string: ingress|egress|pass), release (boolean: sockets leave
         the map at half-close), prog_ids (object: sock_ops, msg_redirect, integers)
  stats  every second: interval (number, seconds since the previous record), the counters
         msgs, bytes, passed, passed_bytes, added, add_failed, skipped, released, kept
         (integers, totals since start), rates (object: msgs, bytes, passed, passed_bytes,
         numbers per second over the interval)
  trace  with --trace, one per established socket: op (string), family (string), laddr
         (string), lport (integer), raddr (string), rport (integer), result (string: added,
         not local, or an errno name such as EBUSY)
  total  at exit: duration (number, seconds), reason (string: duration, signal ...), and the
         nine counters as in stats (integers)
Counters: msgs/bytes redirected by sk_msg; passed/passed_bytes sent through TCP instead;
added/add_failed/skipped sockets put in, refused (EBUSY: another redirect owns them), not
local; released/kept half-closed sockets taken out of the map, or left in.]]

-- What a sockhash insert said (a trace record's result, a refusal's reason): 0, 1 (skipped,
-- not local) or -errno.
local ERRNO = { [1] = "EPERM", [7] = "E2BIG", [12] = "ENOMEM", [16] = "EBUSY",
   [17] = "EEXIST", [22] = "EINVAL", [28] = "ENOSPC", [95] = "EOPNOTSUPP" }
local EBUSY = 16

local function result_word(r)
   if r == 0 then return "added" end
   if r == 1 then return "not local" end
   return ERRNO[-r] or ("errno " .. -r)
end

-- --metrics families, read from the kernel's counters at each scrape: the PERCPU_ARRAY
-- `stats` (struct redirect_stats) and `refused` (by errno, bpf/redirect.h). Every series
-- but a refusal other than EBUSY is there from the start, at 0, so that rate() and
-- increase() see the first one.

local function by_verdict(msgs, passed)
   return function(emit, obj)
      local s = obj:map("stats")[0]
      emit(s[msgs], "redirected")
      emit(s[passed], "passed")
   end
end

local METRICS = {
   { name = "sockhost_redirect_messages_total", type = "counter", labels = { "verdict" },
     collect = by_verdict("msgs", "passed"),
     help = "sk_msg verdicts on the sockets in the map: redirected to the peer socket, or "
        .. "passed to TCP (peer not in the map, or --mode pass)." },
   { name = "sockhost_redirect_bytes_total", type = "counter", labels = { "verdict" },
     collect = by_verdict("bytes", "passed_bytes"),
     help = "Bytes of those messages, by verdict (redirected, passed)." },
   { name = "sockhost_redirect_sockets_total", type = "counter", labels = { "result", "reason" },
     collect = function(emit, obj)
        local s = obj:map("stats")[0]
        emit(s.added, "added", "")
        emit(s.skipped, "not_local", "")
        for errno, n in pairs(obj:map("refused")) do
           if n > 0 or errno == EBUSY then
              emit(n, "refused", errno == 0 and "other" or result_word(-errno))
           end
        end
     end,
     help = "Established sockets of the cgroup: added to the sockhash, refused by it (reason: "
        .. "the errno, EBUSY when another redirect owns the socket) or not_local (the peer "
        .. "is on another host)." },
   { name = "sockhost_redirect_half_closed_total", type = "counter", labels = { "result" },
     collect = function(emit, obj)
        local s = obj:map("stats")[0]
        emit(s.released, "released")
        emit(s.kept, "kept")
     end,
     help = "Sockets in the map that shut down their write side: released to plain TCP, or "
        .. "kept (their psock held data; a blocking recv() on them can fail with EAGAIN)." },
}

local function parse_args()
   local parser = argparse("sockhost redirect",
      "Redirect local TCP traffic of a cgroup v2 socket to socket with sock_ops + sk_msg.",
      "Every second one line: messages and bytes redirected and passed to TCP (peer not in "
      .. "the map) per second, sockets added. Stop with Ctrl-C; the totals follow (a table), "
      .. "and a summary goes to stderr. Only sockets created in the cgroup (or below it) take "
      .. "part, and only connections whose both ends are on this host.\n\n"
      .. HALF_CLOSE .. "\n\n" .. JSON_RECORDS)
   cli.common(parser, { cgroup = true, duration = true })
   parser:option("--mode", "ingress: to the peer's receive queue (the redirect); egress: "
      .. "through the sender's own TCP path (sk_msg cost, no shortcut); pass: no redirect, "
      .. "only the sk_msg verdict.")
      :choices({ "ingress", "egress", "pass" })
      :default("ingress")
   parser:flag("--trace", "Print the sock_ops establishment callback of each socket (op, "
      .. "family, ports, addresses, what the sockhash update said), like ebpf-sockops' "
      .. "trace.sh.")
   parser:flag("--keep-half-closed", "Leave a socket in the map when it shuts down its write "
      .. "side (the kernel's behaviour: a blocking recv() after shutdown(SHUT_WR) then fails "
      .. "with EAGAIN; see Half-close below).")
   cli.common(parser, { json = { help = "NDJSON on stdout: a start record, one stats record "
      .. "per second, trace records, a total record at exit (records below)." },
      metrics = METRICS })
   return parser:parse(arg)
end

-- Counters ----------------------------------------------------------------------------------

local FIELDS = { "msgs", "bytes", "passed", "passed_bytes", "added", "add_failed", "skipped",
   "released", "kept" }
local RATES = { "msgs", "bytes", "passed", "passed_bytes" }

-- stats is a per-CPU array: a lookup gives the counters summed over every CPU
local function read_stats(obj)
   return obj:map("stats")[0]
end

local function counters(record, s)
   for _, f in ipairs(FIELDS) do record[f] = s[f] end
   return record
end

-- Per second over dt seconds, from the counters before and now.
local function rates(before, now, dt)
   local r = {}
   for _, f in ipairs(RATES) do r[f] = dt > 0 and (now[f] - before[f]) / dt or 0 end
   return r
end

local function rate_line(s, before, r)
   return ("redirected %s %s | passed %s %s | sockets +%d added, +%d refused, +%d not local, "
      .. "+%d released, +%d kept"):format(fmt.count_rate(r.msgs), fmt.rate(r.bytes),
      fmt.count_rate(r.passed), fmt.rate(r.passed_bytes), s.added - before.added,
      s.add_failed - before.add_failed, s.skipped - before.skipped,
      s.released - before.released, s.kept - before.kept)
end

local function sockets_text(s)
   return ("sockets %d added, %d refused, %d not local, %d released at half-close, %d kept")
      :format(s.added, s.add_failed, s.skipped, s.released, s.kept)
end

local function summary_line(s)
   return ("redirected %d msgs %d bytes | passed %d msgs %d bytes | %s"):format(s.msgs,
      s.bytes, s.passed, s.passed_bytes, sockets_text(s))
end

-- The totals as a table: what went where, in all and per second on average.
local function total_table(s, seconds)
   local function row(what, msgs, bytes)
      return { what = what, msgs = msgs, bytes = bytes, msg_rate = msgs / seconds,
         byte_rate = bytes / seconds }
   end
   return tab.render({ row("redirected", s.msgs, s.bytes), row("passed", s.passed,
      s.passed_bytes) }, { columns = {
         { key = "what", title = ("TOTAL %.1f s"):format(seconds) },
         { key = "msgs", title = "MSGS", fmt = "count" },
         { key = "bytes", title = "BYTES", fmt = "bytes" },
         { key = "msg_rate", title = "MSGS/S", fmt = "count_rate" },
         { key = "byte_rate", title = "BYTES/S", fmt = "rate" },
      } }) .. sockets_text(s) .. "\n"
end

-- Trace records -----------------------------------------------------------------------------

local function result_name(r)
   if r == -16 then
      return result_word(r) .. ": another sk_msg program owns the socket"
   end
   return result_word(r)
end

-- Keys hold v4-mapped addresses; an AF_INET socket is shown as plain IPv4.
local function addr_text(bytes, family)
   local s = type(bytes) == "string" and bytes or string.char(table.unpack(bytes))
   if family == net.AF_INET then return net.ntop(s:sub(13, 16), net.AF_INET) end
   return net.ntop(s, net.AF_INET6)
end

local function trace_line(e)
   return ("<<< %s op %d %s, port %d --> %d (%s -> %s): %s"):format(
      e.family == net.AF_INET and "ipv4" or "ipv6", e.op,
      net.sockops_op_name(e.op) or "?", e.lport, e.rport, addr_text(e.laddr, e.family),
      addr_text(e.raddr, e.family), result_name(e.result))
end

local function trace_record(e)
   return {
      type = "trace",
      op = net.sockops_op_name(e.op) or tostring(e.op),
      family = net.family_name(e.family) or tostring(e.family),
      laddr = addr_text(e.laddr, e.family),
      lport = e.lport,
      raddr = addr_text(e.raddr, e.family),
      rport = e.rport,
      result = result_word(e.result),
   }
end

-- Main ----------------------------------------------------------------------------------------

local function main()
   local args = parse_args()
   local output = cli.output("redirect", args)
   local out = args.json and output:follow(require("sockhost.ndjson").writer(output.file,
      { order = { "type", "ts" } }))
   io.stdout:setvbuf("line")
   output.file:setvbuf("line")
   local target = args.cgroup or sockhost.cgroup2_root()
   local release = not args.keep_half_closed
   -- one line of text, or the record (stamped with type and ts) with --json
   local function emit(text, kind, record)
      if out then
         out:emit(kind, record)
      elseif text then
         io.stdout:write(text, "\n")
      end
   end

   local obj <close> = sockhost.open("redirect", {
      globals = { mode = MODES[args.mode], trace = args.trace, release_on_shutdown = release },
   })
   -- luacheck: push no unused (to-be-closed handles: held for their lifetime, not read)
   local srv <close> = cli.serve_metrics("redirect", args, obj, METRICS)
   local events <close> = args.trace and obj:subscribe("events", "struct redirect_event",
      function(e) emit(trace_line(e), "trace", trace_record(e)) end) or nil
   -- The verdict program first, so no socket is in the map without it.
   local msg_link <close> = obj:program("msg_redirect"):attach(obj:map("socks"))
   local ok, ops_link = pcall(obj:program("sock_ops").attach, obj:program("sock_ops"), target)
   if not ok then
      -- The handles above close while the error unwinds (cli.main prints it as one line),
      -- so nothing stays attached.
      error(ops_link, 0)
   end
   local ops_close <close> = ops_link
   -- luacheck: pop

   local progs = { sock_ops = obj:program("sock_ops"):info().id,
      msg_redirect = obj:program("msg_redirect"):info().id }
   emit(nil, "start", { cgroup = target, mode = args.mode, release = release,
      prog_ids = progs })
   io.stderr:write(("redirect: mode %s on cgroup %s%s; Ctrl-C to stop\n"):format(args.mode,
      target, release and "" or ", half-closed sockets kept"))

   local started = sockhost.now()
   local last, last_at = read_stats(obj), started
   sockhost.every(1, function()
      local s, at = read_stats(obj), sockhost.now()
      local r = rates(last, s, at - last_at)
      emit(os.date("%H:%M:%S ") .. rate_line(s, last, r), "stats",
         counters({ interval = at - last_at, rates = r }, s))
      last, last_at = s, at
   end)
   local reason, signal = sockhost.run { duration = args.duration, on_hup = output.on_hup }

   local s, seconds = read_stats(obj), sockhost.now() - started
   if out then
      emit(nil, "total", counters({ duration = seconds, reason = cli.stopped(reason, signal) },
         s))
   else
      io.stdout:write(total_table(s, seconds))
   end
   local note = ""
   if s.add_failed > 0 then
      note = " (refused sockets: EBUSY means another redirect on this cgroup owns them)"
   end
   io.stderr:write(("redirect: %s (%s, cgroup %s, mode %s)%s\n"):format(summary_line(s),
      cli.stopped(reason, signal), target, args.mode, note))
   -- --trace records the kernel could not reserve are counted by the ring's loss ledger
   require("sockhost.events").warn_drops()
   -- ops_close, msg_link, events and obj close here: sockets leave the map with it.
end

cli.main("redirect", main)
