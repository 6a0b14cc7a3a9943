#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- sockex1: bytes and packets per IP protocol seen on one interface, like the kernel's
-- samples/bpf sockex1: a socket filter on a raw AF_PACKET socket bound to the interface.
--
--   sockhost scripts/sockex1.lua --iface eth0                 what leaves eth0, every second
--   sockhost scripts/sockex1.lua --iface eth0 --direction both --duration 10
--   sockhost scripts/sockex1.lua --iface eth0 --json | jq .
--
-- Kernel side: bpf/sockex1.bpf.c (struct sockex1_value in bpf/sockex1.h). The run (open,
-- attach, a report every second and one at exit, the summary on stderr) is the same in
-- sockex2.lua and sockex3.lua; --json goes through sockhost.ndjson, the table through
-- sockhost.tab with sockhost.fmt's units and sockhost.interval's rates.

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local tab = require "sockhost.tab"
local argparse = require "argparse"

local DIRECTIONS = { out = "SOCKEX1_OUTGOING", ["in"] = "SOCKEX1_INCOMING", both = "SOCKEX1_BOTH" }

-- --json record: every key, in this order, and its JSON type (the spec checks exactly these)
local RECORD = cli.count_keys("sockex1", {
   { "protocols", "object", "keyed by protocol name (\"tcp\", \"udp\", \"icmp\", or \"proto-N\" "
      .. "for a number without a name), every protocol seen so far; each value is "
      .. "{\"bytes\": integer, \"number\": integer (IPPROTO), \"packets\": integer}, totals "
      .. "since start" },
   { "unparsed", "object", "{\"bytes\": integer, \"packets\": integer}: IP frames whose "
      .. "protocol lies past the walks' bounds (more than 4 VLAN tags, more than 8 IPv6 "
      .. "extension headers), not counted under any protocol" },
}, { { "direction", "string", "\"out\", \"in\" or \"both\"" } })

local function proto_label(n)
   return net.proto_name(n) or ("proto-" .. n)
end

-- --metrics families: the ARRAY `protocols` read at each scrape (protocols with traffic)
local function proto_value(field)
   return function(v) return v.packets > 0 and v[field] or nil end
end
local METRICS = cli.count_families("sockex1", {
   by = { map = "protocols", label = "protocol", labels = proto_label, value = proto_value,
      bytes = "Bytes of the frames counted, by IP protocol (tcp, udp, icmp ... or proto-N).",
      packets = "Frames counted, by IP protocol." },
   unparsed = "whose protocol lies past the walks' bounds", not_by = "by protocol" })

local function parse_args()
   local parser = argparse("sockhost sockex1",
      "Count bytes and packets per IP protocol (TCP, UDP, ICMP ...) on one interface.",
      "Every second prints a table of the protocols seen so far: packets and bytes since "
      .. "start, and the rates over the last second; a summary with exact totals goes to "
      .. "stderr at exit (Ctrl-C or --duration). Bytes are whole frames as the interface "
      .. "carries them, as tshark counts them: Ethernet header and VLAN tags included, also a "
      .. "tag the kernel took out of the frame (802.1Q, QinQ). IPv4 counts under its protocol "
      .. "field, IPv6 under the protocol after its extension headers (a fragment under what "
      .. "it carries, as an IPv4 fragment does); VLAN tags in the frame are skipped.\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Keys, in this order, and their JSON types:\n"
      .. cli.json_help(RECORD))
   cli.common(parser, { iface = true })
   parser:option("--direction", "Which packets count: out (leaving the interface, as the "
      .. "kernel sample), in (arriving) or both.")
      :choices({ "out", "in", "both" }):default("out")
   cli.common(parser, { duration = true, json = true, metrics = METRICS })
   return parser:parse(arg)
end

-- Every protocol with traffic, by number, from the ARRAY `protocols` (256 slots).
local function read_counts(map)
   local rows = {}
   for proto, v in pairs(map) do
      if v.packets > 0 then
         rows[#rows + 1] = { number = proto, packets = v.packets, bytes = v.bytes }
      end
   end
   table.sort(rows, function(a, b) return a.number < b.number end)
   return rows
end

local COLUMNS = {
   { key = "proto", title = "PROTO" },
   { key = "packets", title = "PACKETS" },
   { key = "bytes", title = "BYTES", fmt = "bytes" },
   { key = "pps", title = "PKT/S", fmt = "count_rate" },
   { key = "bps", title = "RATE", fmt = "rate" },
}

local function summary(ctx, rows)
   local parts = {}
   for _, r in ipairs(rows) do
      parts[#parts + 1] = ("%s %d bytes in %d packets"):format(proto_label(r.number), r.bytes,
         r.packets)
   end
   local u = ctx.obj.globals.unparsed
   if u.packets > 0 then
      parts[#parts + 1] = ("unparsed %d bytes in %d packets"):format(u.bytes, u.packets)
   end
   return #parts > 0 and table.concat(parts, ", ") or "nothing counted"
end

local function record(ctx, rows, final)
   local protocols = {}
   for _, r in ipairs(rows) do
      protocols[proto_label(r.number)] = { number = r.number, packets = r.packets, bytes = r.bytes }
   end
   local u = ctx.obj.globals.unparsed
   return { iface = ctx.args.iface, direction = ctx.args.direction, elapsed = ctx.elapsed,
      final = final, protocols = protocols, unparsed = { packets = u.packets, bytes = u.bytes } }
end

local function text(ctx, rows)
   local rate = ctx.rates(rows, "number")
   local cells = {}
   for _, r in ipairs(rows) do
      local d = rate[r.number]
      cells[#cells + 1] = { proto = proto_label(r.number), packets = r.packets,
         bytes = r.bytes, pps = d and d.packets, bps = d and d.bytes }
   end
   io.stdout:write(tab.render(cells, { columns = COLUMNS, sort = "bytes", desc = true }), "\n")
end

local args = parse_args()
cli.count {
   name = "sockex1", args = args, keys = RECORD,
   object = "sockex1", open = { globals = { direction = DIRECTIONS[args.direction] } },
   program = "by_protocol", map = "protocols",
   counting = ("counting %s packets on %s"):format(args.direction, args.iface),
   where = ("%s (%s)"):format(args.iface, args.direction),
   read = read_counts, record = record, text = text, summary = summary, metrics = METRICS,
}
