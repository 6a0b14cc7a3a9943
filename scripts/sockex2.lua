#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- sockex2: packets and bytes per destination address seen on one interface, like the
-- kernel's samples/bpf sockex2: a socket filter on a raw AF_PACKET socket bound to the
-- interface runs a small flow dissector (802.1Q/802.1AD VLAN, IPv4 with options and
-- fragments, IPv6, GRE, IPIP) on every frame in both directions.
--
--   sockhost scripts/sockex2.lua --iface eth0
--   sockhost scripts/sockex2.lua --iface eth0 --duration 10 --json | jq .
--
-- Kernel side: bpf/sockex2.bpf.c (struct sockex2_key/value in bpf/sockex2.h).

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local argparse = require "argparse"

local function parse_args()
   local parser = argparse("sockhost sockex2",
      "Count packets and bytes per destination IP address on one interface.",
      "Every second prints one line per destination seen so far, as the kernel sample "
      .. "does ('ip <addr> bytes <n> packets <n>'), most bytes first; a summary goes to "
      .. "stderr at exit (Ctrl-C or --duration). Tunnels (GRE, IPIP) count under the inner "
      .. "destination; IPv4 fragments under their own destination. Bytes are whole frames "
      .. "as the interface carries them (Ethernet header included).\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Fields:\n"
      .. "  iface         the interface name\n"
      .. "  elapsed       seconds since counting started\n"
      .. "  final         true on the last object, written at exit\n"
      .. "  missed        packets not counted because the table was full (1024 entries)\n"
      .. "  destinations  an array, most bytes first, of {\"addr\": text, \"family\": "
      .. "\"inet\" or \"inet6\", \"packets\": n, \"bytes\": n}, totals since start")
   cli.common(parser, { iface = true, duration = true, json = true })
   return parser:parse(arg)
end

local function read_destinations(map)
   local rows = {}
   for k, v in pairs(map) do
      rows[#rows + 1] = { addr = net.ntop(k.addr, k.family), family = net.family_name(k.family),
         packets = v.packets, bytes = v.bytes }
   end
   table.sort(rows, function(a, b)
      if a.bytes ~= b.bytes then return a.bytes > b.bytes end
      return a.addr < b.addr
   end)
   return rows
end

local args = parse_args()
cli.count {
   name = "sockex2", args = args, object = "sockex2",
   program = "by_destination", map = "destinations",
   counting = ("counting per destination on %s"):format(args.iface),
   read = read_destinations,
   record = function(ctx, _, final)
      return { iface = args.iface, elapsed = ctx.elapsed, final = final,
         missed = ctx.obj.globals.missed }
   end,
   array = "destinations",
   text = function(rows)
      for _, r in ipairs(rows) do
         io.stdout:write(("ip %s bytes %d packets %d\n"):format(r.addr, r.bytes, r.packets))
      end
   end,
   summary = function(ctx, rows)
      local packets, bytes = cli.totals(rows)
      return ("%d destinations, %d packets, %d bytes, %d missed"):format(#rows, packets, bytes,
         ctx.obj.globals.missed)
   end,
}
