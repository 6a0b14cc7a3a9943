#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- sockex2: packets and bytes per destination address seen on one interface, like the
-- kernel's samples/bpf sockex2: a socket filter on a raw AF_PACKET socket bound to the
-- interface runs a small flow dissector (802.1Q/802.1AD VLAN, IPv4 with options and
-- fragments, IPv6 with extension headers, GRE, gretap, IPIP) on every frame in both
-- directions.
--
--   sockhost scripts/sockex2.lua --iface eth0
--   sockhost scripts/sockex2.lua --iface eth0 --duration 10 --json | jq .
--
-- Kernel side: bpf/sockex2.bpf.c (struct sockex2_key/value in bpf/sockex2.h). The run is
-- the same as sockex1.lua's (see there).

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local tab = require "sockhost.tab"
local argparse = require "argparse"

-- --json record: every key, in this order, and its JSON type (the spec checks exactly these)
local RECORD = cli.count_keys("sockex2", {
   { "destinations", "array", "most bytes first, of {\"addr\": string, \"bytes\": integer, "
      .. "\"family\": \"inet\" or \"inet6\", \"packets\": integer}, totals since start" },
   { "missed", "integer", "packets not counted because the table was full (1024 entries)" },
   { "unparsed", "object", "{\"bytes\": integer, \"packets\": integer}: IP frames not "
      .. "followed to their end within the walks' bounds (more than 4 VLAN tags, more than 8 "
      .. "IPv6 extension headers), not counted under any destination" },
})

-- --metrics families: the HASH `destinations` read at each scrape, one series per destination
-- (at most 1024, the map's size; --metrics-limit lowers that), and the two globals
local function destination(k) return net.ntop(k.addr, k.family) end
local METRICS = cli.count_families("sockex2", {
   by = { map = "destinations", label = "destination", labels = destination,
      bytes = "Bytes of the frames counted, by destination IP address (IPv4 or IPv6 text; the "
         .. "inner one of a tunnel).",
      packets = "Frames counted, by destination IP address." },
   unparsed = "not followed to their end within the walks' bounds", not_by = "by destination",
   missed = "the destination table (1024 entries)" })

local function parse_args()
   local parser = argparse("sockhost sockex2",
      "Count packets and bytes per destination IP address on one interface.",
      "Every second prints a table of the destinations seen so far, most bytes first: "
      .. "packets and bytes since start and the rates over the last second; a summary with "
      .. "exact totals goes to stderr at exit (Ctrl-C or --duration). Tunnels (GRE, gretap, "
      .. "IPIP, IPv6 in IPv4) count under the inner destination, also behind IPv6 extension "
      .. "headers; IPv4 and IPv6 fragments under their own destination. Bytes are whole "
      .. "frames as the interface carries them, as tshark counts them: Ethernet header and "
      .. "VLAN tags included, also a tag the kernel took out of the frame.\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Keys, in this order, and their JSON types:\n"
      .. cli.json_help(RECORD))
   cli.common(parser, { iface = true, duration = true, json = true, metrics = METRICS })
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

local COLUMNS = {
   { key = "addr", title = "DESTINATION" },
   { key = "packets", title = "PACKETS" },
   { key = "bytes", title = "BYTES", fmt = "bytes" },
   { key = "pps", title = "PKT/S", fmt = "count_rate" },
   { key = "bps", title = "RATE", fmt = "rate" },
}

local function record(ctx, rows, final)
   local u = ctx.obj.globals.unparsed
   return { iface = ctx.args.iface, elapsed = ctx.elapsed, final = final,
      destinations = require("sockhost.ndjson").array(rows), missed = ctx.obj.globals.missed,
      unparsed = { packets = u.packets, bytes = u.bytes } }
end

local function text(ctx, rows)
   local rate = ctx.rates(rows, "addr")
   local cells = {}
   for i, r in ipairs(rows) do
      local d = rate[r.addr]
      cells[i] = { addr = r.addr, packets = r.packets, bytes = r.bytes,
         pps = d and d.packets, bps = d and d.bytes }
   end
   io.stdout:write(tab.render(cells, { columns = COLUMNS }), "\n")
end

local args = parse_args()
cli.count {
   name = "sockex2", args = args, keys = RECORD, object = "sockex2",
   program = "by_destination", map = "destinations",
   counting = "counting per destination on " .. args.iface,
   read = read_destinations, record = record, text = text, summary = "destinations",
   metrics = METRICS,
}
