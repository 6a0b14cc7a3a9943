#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- sockex3: packets and bytes per flow (addresses, ports, protocol) seen on one interface,
-- like the kernel's samples/bpf sockex3: a socket filter on a raw AF_PACKET socket bound to
-- the interface parses each frame through a chain of programs that reach each other with
-- bpf_tail_call (VLAN, MPLS, IPv4, IPv6; GRE and IPIP lead back into them). The prog array
-- they jump through is filled here, from Lua, by program handle.
--
--   sockhost scripts/sockex3.lua --iface eth0
--   sockhost scripts/sockex3.lua --iface eth0 --duration 10 --json | jq .
--
-- Kernel side: bpf/sockex3.bpf.c (slots and struct sockex3_flow in bpf/sockex3.h).

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local argparse = require "argparse"

-- enum sockex3_slot in bpf/sockex3.h: which program answers which bpf_tail_call index
local SLOTS = { parse_vlan = 1, parse_mpls = 2, parse_ip = 3, parse_ipv6 = 4 }

local function parse_args()
   local parser = argparse("sockhost sockex3",
      "Count packets and bytes per flow on one interface, parsing through tail calls.",
      "Every second prints the kernel sample's table, one line per flow seen so far, most "
      .. "bytes first:\n"
      .. "  IP     src.port -> dst.port               bytes      packets  proto\n"
      .. "Flows are TCP, UDP, ICMP and ICMPv6 of the innermost IP header (GRE and IPIP are "
      .. "followed, VLAN tags and MPLS labels skipped); IPv4 fragments are not counted. "
      .. "Bytes are whole frames as the interface carries them (Ethernet header included). "
      .. "A summary goes to stderr at exit (Ctrl-C or --duration).\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Fields:\n"
      .. "  iface    the interface name\n"
      .. "  elapsed  seconds since counting started\n"
      .. "  final    true on the last object, written at exit\n"
      .. "  missed   packets not counted because the flow table was full (1024 entries)\n"
      .. "  flows    an array, most bytes first, of {\"src\": addr, \"sport\": n, \"dst\": "
      .. "addr, \"dport\": n, \"proto\": \"tcp\"/\"udp\"/\"icmp\"/\"icmpv6\", \"family\": "
      .. "\"inet\"/\"inet6\", \"packets\": n, \"bytes\": n}, totals since start; ports are 0 "
      .. "for ICMP")
   cli.common(parser, { iface = true, duration = true, json = true })
   return parser:parse(arg)
end

local function read_flows(map)
   local rows = {}
   for k, v in pairs(map) do
      rows[#rows + 1] = { src = net.ntop(k.src, k.family), sport = k.sport,
         dst = net.ntop(k.dst, k.family), dport = k.dport,
         proto = net.proto_name(k.ip_proto) or tostring(k.ip_proto),
         family = net.family_name(k.family), packets = v.packets, bytes = v.bytes }
   end
   table.sort(rows, function(a, b)
      if a.bytes ~= b.bytes then return a.bytes > b.bytes end
      return ("%s %d %s %d %s"):format(a.src, a.sport, a.dst, a.dport, a.proto)
         < ("%s %d %s %d %s"):format(b.src, b.sport, b.dst, b.dport, b.proto)
   end)
   return rows
end

local function print_table(rows)
   io.stdout:write("IP     src.port -> dst.port               bytes      packets  proto\n")
   for _, r in ipairs(rows) do
      io.stdout:write(("%s.%05d -> %s.%05d %12d %12d  %s\n"):format(r.src, r.sport, r.dst,
         r.dport, r.bytes, r.packets, r.proto))
   end
end

local args = parse_args()
cli.count {
   name = "sockex3", args = args, object = "sockex3",
   setup = function(obj)
      local jmp_table = obj:map("jmp_table")
      for name, slot in pairs(SLOTS) do
         jmp_table[slot] = obj:program(name)
      end
   end,
   program = "dispatch", map = "flows",
   counting = ("counting flows on %s"):format(args.iface),
   read = read_flows,
   record = function(ctx, _, final)
      return { iface = args.iface, elapsed = ctx.elapsed, final = final,
         missed = ctx.obj.globals.missed }
   end,
   array = "flows",
   text = print_table,
   summary = function(ctx, rows)
      local packets, bytes = cli.totals(rows)
      return ("%d flows, %d packets, %d bytes, %d missed"):format(#rows, packets, bytes,
         ctx.obj.globals.missed)
   end,
}
