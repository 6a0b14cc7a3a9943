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
-- Measured on 6.18 (spec/tools/redirect_spec.lua, bench/redirect.lua): a redirected
-- receiver's queue ignores its SO_RCVBUF, so a fast sender is never held back by a slow
-- reader; and where a message takes the TCP path under sk_msg (peer not in the map, --mode
-- pass/egress), a blocking sender using MSG_MORE with sends larger than SO_SNDBUF can stall,
-- which plain TCP does not.

local sockhost = require "sockhost"
local net = require "sockhost.net"
local cli = require "sockhost.cli"
local argparse = require "argparse"

local MODES = { ingress = 0, egress = 1, pass = 2 }

local function parse_args()
   local parser = argparse("sockhost redirect",
      "Redirect local TCP traffic of a cgroup v2 socket to socket with sock_ops + sk_msg.",
      "Every second one line of counters: messages and bytes redirected, messages passed "
      .. "to TCP (peer not in the map), sockets added. Stop with Ctrl-C; the totals go to "
      .. "stderr. Only sockets created in the cgroup (or below it) take part, and only "
      .. "connections whose both ends are on this host.")
   cli.common(parser, { cgroup = true, duration = true })
   parser:option("--mode", "ingress: to the peer's receive queue (the redirect); egress: "
      .. "through the sender's own TCP path (sk_msg cost, no shortcut); pass: no redirect, "
      .. "only the sk_msg verdict.")
      :choices({ "ingress", "egress", "pass" })
      :default("ingress")
   parser:flag("--trace", "Print the sock_ops establishment callback of each socket (op, "
      .. "family, ports, addresses, what the sockhash update said), like ebpf-sockops' "
      .. "trace.sh.")
   cli.common(parser, { json = { help = "NDJSON on stdout: a start record, one stats record "
      .. "per second, trace records, a total record at exit." } })
   return parser:parse(arg)
end

-- Counters ----------------------------------------------------------------------------------

local FIELDS = { "msgs", "bytes", "passed", "passed_bytes", "added", "add_failed", "skipped" }

-- stats is a per-CPU array. A lookup gives the CPUs' values summed field by field (older
-- sockhost builds gave one struct per CPU, as a sequence: summed here then).
-- stats is a per-CPU array: a lookup gives the counters summed over every CPU
local function read_stats(obj)
   return obj:map("stats")[0]
end

local function stats_line(s)
   return ("redirected %d msgs %d bytes | passed %d msgs %d bytes | sockets %d added, "
      .. "%d refused, %d not local"):format(s.msgs, s.bytes, s.passed, s.passed_bytes,
      s.added, s.add_failed, s.skipped)
end

local function stats_record(kind, s)
   local r = { type = kind, time = os.time() }
   for _, f in ipairs(FIELDS) do r[f] = s[f] end
   return r
end

-- Trace records -----------------------------------------------------------------------------

local ERRNO = { [1] = "EPERM", [7] = "E2BIG", [12] = "ENOMEM", [16] = "EBUSY",
   [17] = "EEXIST", [22] = "EINVAL", [28] = "ENOSPC", [95] = "EOPNOTSUPP" }

local function result_name(r)
   if r == 0 then return "added" end
   if r == 1 then return "not local" end
   local name = ERRNO[-r] or ("errno " .. -r)
   if -r == 16 then
      return name .. ": another sk_msg program owns the socket"
   end
   return name
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
      op = net.sockops_op_name(e.op) or e.op,
      family = net.family_name(e.family) or e.family,
      laddr = addr_text(e.laddr, e.family),
      lport = e.lport,
      raddr = addr_text(e.raddr, e.family),
      rport = e.rport,
      result = e.result == 0 and "added" or e.result == 1 and "not local"
         or ERRNO[-e.result] or e.result,
   }
end

-- Main ----------------------------------------------------------------------------------------

local function main()
   local args = parse_args()
   local json = args.json and cli.need("cjson", "lua-cjson", "--json")
   io.stdout:setvbuf("line")
   local target = args.cgroup or sockhost.cgroup2_root()
   local function emit(text, record)
      if json then
         io.stdout:write(json.encode(record), "\n")
      else
         io.stdout:write(text, "\n")
      end
   end

   local obj <close> = sockhost.open("redirect", {
      globals = { mode = MODES[args.mode], trace = args.trace },
   })
   -- luacheck: push no unused (to-be-closed handles: held for their lifetime, not read)
   local events <close> = args.trace and obj:subscribe("events", "struct redirect_event",
      function(e) emit(trace_line(e), trace_record(e)) end) or nil
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
   if json then
      emit(nil, { type = "start", cgroup = target, mode = args.mode, prog_ids = progs })
   end
   io.stderr:write(("redirect: mode %s on cgroup %s; Ctrl-C to stop\n"):format(args.mode,
      target))

   sockhost.every(1, function()
      local s = read_stats(obj)
      emit(os.date("%H:%M:%S ") .. stats_line(s), stats_record("stats", s))
   end)
   local reason, signal = sockhost.run { duration = args.duration }

   local s = read_stats(obj)
   emit("total " .. stats_line(s), stats_record("total", s))
   local note = ""
   if s.add_failed > 0 then
      note = " (refused sockets: EBUSY means another redirect on this cgroup owns them)"
   end
   io.stderr:write(("redirect: %s (%s, cgroup %s, mode %s)%s\n"):format(stats_line(s),
      cli.stopped(reason, signal), target, args.mode, note))
   -- --trace records the kernel could not reserve are counted by the ring's loss ledger
   require("sockhost.events").warn_drops()
   -- ops_close, msg_link, events and obj close here: sockets leave the map with it.
end

cli.main("redirect", main)
