#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- sockex3: packets and bytes per flow (addresses, ports, protocol) seen on one interface,
-- like the kernel's samples/bpf sockex3: a socket filter on a raw AF_PACKET socket bound to
-- the interface parses each frame through a chain of programs that reach each other with
-- bpf_tail_call (VLAN, MPLS, IPv4, IPv6 with extension headers; GRE, gretap and IPIP lead
-- back into them). The prog array they jump through is filled here, from Lua, by program
-- handle.
--
--   sockhost scripts/sockex3.lua --iface eth0
--   sockhost scripts/sockex3.lua --iface eth0 --duration 10 --json | jq .
--
-- Kernel side: bpf/sockex3.bpf.c (slots and struct sockex3_flow in bpf/sockex3.h). The run
-- is the same as sockex1.lua's (see there).

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local tab = require "sockhost.tab"
local argparse = require "argparse"

-- enum sockex3_slot in bpf/sockex3.h: which program answers which bpf_tail_call index
local SLOTS = { parse_vlan = 1, parse_mpls = 2, parse_ip = 3, parse_ipv6 = 4 }

-- --json record: every key, in this order, and its JSON type (the spec checks exactly these)
local RECORD = cli.count_keys("sockex3", {
   { "flows", "array", "most bytes first, of {\"bytes\": integer, \"dport\": integer, \"dst\": "
      .. "string, \"family\": \"inet\"/\"inet6\", \"packets\": integer, \"proto\": "
      .. "\"tcp\"/\"udp\"/\"icmp\"/\"icmpv6\", \"sport\": integer, \"src\": string}, totals "
      .. "since start; ports are 0 for ICMP and for fragments after the first" },
   { "missed", "integer", "packets not counted because the flow table was full (1024 entries)" },
   { "unparsed", "object", "{\"bytes\": integer, \"packets\": integer}: IP frames not "
      .. "followed to their end within the parsers' bounds (more than 4 VLAN tags, more than 8 "
      .. "IPv6 extension headers, more than 16 headers in all), not counted under any flow" },
})

-- --metrics families: no per-flow series (a flow is a 4-tuple: unbounded cardinality, it
-- stays in the NDJSON); the HASH `flows` read at each scrape gives the number of flows and
-- their packets and bytes summed by IP protocol (at most four series), and the two globals
local function proto_label(k) return net.proto_name(k.ip_proto) or ("proto-" .. k.ip_proto) end
local METRICS = cli.count_families("sockex3", {
   by = { map = "flows", label = "protocol", labels = proto_label,
      bytes = "Bytes of the frames counted, summed over the flows of each IP protocol (tcp, "
         .. "udp, icmp, icmpv6).",
      packets = "Frames counted, summed over the flows of each IP protocol." },
   unparsed = "not followed to their end within the parsers' bounds", not_by = "under any flow",
   missed = "the flow table (1024 entries)" })
table.insert(METRICS, 1,
   { name = "sockhost_sockex3_flows", type = "gauge",
     collect = function(emit, obj)
        local n = 0
        for _ in pairs(obj:map("flows")) do n = n + 1 end
        emit(n)
     end,
     help = "Flows in the flow table now (entries are never removed: flows seen since start, "
        .. "at most 1024)." })

local function parse_args()
   local parser = argparse("sockhost sockex3",
      "Count packets and bytes per flow on one interface, parsing through tail calls.",
      "Every second prints a table of the flows seen so far, most bytes first: protocol, "
      .. "source and destination (address:port, [IPv6]:port; the address alone for ICMP), "
      .. "packets and bytes since start and the rates over the last second. Flows are TCP, "
      .. "UDP, ICMP and ICMPv6 of the innermost IP header (GRE, gretap and IPIP are followed, "
      .. "VLAN tags, MPLS labels and IPv6 extension headers skipped). A fragment counts too: "
      .. "the first under its ports, later ones (which carry no ports) with ports 0. Bytes are "
      .. "whole frames as the interface carries them, as tshark counts them: Ethernet header "
      .. "and VLAN tags included, also a tag the kernel took out of the frame. A summary with "
      .. "exact totals goes to stderr at exit (Ctrl-C or --duration).\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Keys, in this order, and their JSON types:\n"
      .. cli.json_help(RECORD))
   cli.common(parser, { iface = true, duration = true, json = true, metrics = METRICS })
   return parser:parse(arg)
end

local function read_flows(map)
   local rows = {}
   for k, v in pairs(map) do
      rows[#rows + 1] = { src = net.ntop(k.src, k.family), sport = k.sport,
         dst = net.ntop(k.dst, k.family), dport = k.dport,
         proto = net.proto_name(k.ip_proto) or tostring(k.ip_proto),
         family = net.family_name(k.family), packets = v.packets, bytes = v.bytes,
         -- the table's columns and the rates' key
         from = (k.sport ~= 0 or k.dport ~= 0) and net.endpoint(k.src, k.family, k.sport)
            or net.ntop(k.src, k.family),
         to = (k.sport ~= 0 or k.dport ~= 0) and net.endpoint(k.dst, k.family, k.dport)
            or net.ntop(k.dst, k.family) }
      rows[#rows].key = ("%s %s %s"):format(rows[#rows].proto, rows[#rows].from, rows[#rows].to)
   end
   table.sort(rows, function(a, b)
      if a.bytes ~= b.bytes then return a.bytes > b.bytes end
      return a.key < b.key
   end)
   return rows
end

local COLUMNS = {
   { key = "proto", title = "PROTO" },
   { key = "from", title = "SOURCE" },
   { key = "to", title = "DESTINATION" },
   { key = "packets", title = "PACKETS" },
   { key = "bytes", title = "BYTES", fmt = "bytes" },
   { key = "pps", title = "PKT/S", fmt = "count_rate" },
   { key = "bps", title = "RATE", fmt = "rate" },
}

local FLOW_KEYS = { "src", "sport", "dst", "dport", "proto", "family", "packets", "bytes" }

local function record(ctx, rows, final)
   local flows = {}
   for i, r in ipairs(rows) do
      local f = {}
      for _, k in ipairs(FLOW_KEYS) do f[k] = r[k] end
      flows[i] = f
   end
   local u = ctx.obj.globals.unparsed
   return { iface = ctx.args.iface, elapsed = ctx.elapsed, final = final,
      flows = require("sockhost.ndjson").array(flows), missed = ctx.obj.globals.missed,
      unparsed = { packets = u.packets, bytes = u.bytes } }
end

local function text(ctx, rows)
   local rate = ctx.rates(rows, "key")
   for _, r in ipairs(rows) do
      local d = rate[r.key]
      r.pps, r.bps = d and d.packets, d and d.bytes
   end
   io.stdout:write(tab.render(rows, { columns = COLUMNS }), "\n")
end

local args = parse_args()
cli.count {
   name = "sockex3", args = args, keys = RECORD, object = "sockex3",
   -- the parse programs reach each other through jmp_table, filled here from Lua
   setup = function(obj)
      local jmp_table = obj:map("jmp_table")
      for name, slot in pairs(SLOTS) do jmp_table[slot] = obj:program(name) end
   end,
   program = "dispatch", map = "flows",
   counting = "counting flows on " .. args.iface,
   read = read_flows, record = record, text = text, summary = "flows", metrics = METRICS,
}
