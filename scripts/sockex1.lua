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
-- Kernel side: bpf/sockex1.bpf.c (struct sockex1_value in bpf/sockex1.h).

local net = require "sockhost.net"
local cli = require "sockhost.cli"
local argparse = require "argparse"

local DIRECTIONS = { out = "SOCKEX1_OUTGOING", ["in"] = "SOCKEX1_INCOMING", both = "SOCKEX1_BOTH" }

local function parse_args()
   local parser = argparse("sockhost sockex1",
      "Count bytes and packets per IP protocol (TCP, UDP, ICMP ...) on one interface.",
      "Every second prints the totals since start, e.g. 'TCP 0 UDP 1200 ICMP 588 bytes', "
      .. "and other protocols once they are seen; a summary goes to stderr at exit (Ctrl-C "
      .. "or --duration). Bytes are whole frames as the interface carries them (Ethernet "
      .. "header included); IPv6 counts under its first next header.\n\n"
      .. "--json writes one JSON object per line (NDJSON) instead: every second, and once "
      .. "more at exit with \"final\": true. Fields:\n"
      .. "  iface      the interface name\n"
      .. "  direction  \"out\", \"in\" or \"both\"\n"
      .. "  elapsed    seconds since counting started\n"
      .. "  final      true on the last object, written at exit\n"
      .. "  protocols  an object keyed by protocol name (\"tcp\", \"udp\", \"icmp\", or "
      .. "\"proto-N\" for a number without a name), for every protocol seen so far; each "
      .. "value is {\"number\": IPPROTO number, \"packets\": n, \"bytes\": n}, totals since "
      .. "start")
   cli.common(parser, { iface = true })
   parser:option("--direction", "Which packets count: out (leaving the interface, as the "
      .. "kernel sample), in (arriving) or both.")
      :choices({ "out", "in", "both" }):default("out")
   cli.common(parser, { duration = true, json = true })
   return parser:parse(arg)
end

local function proto_label(n)
   return net.proto_name(n) or ("proto-" .. n)
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

-- The sample's line ("TCP %lld UDP %lld ICMP %lld bytes"), then other protocols seen.
local function text_line(rows)
   local by = {}
   for _, r in ipairs(rows) do by[r.number] = r end
   local parts = {}
   for _, n in ipairs({ 6, 17, 1 }) do
      parts[#parts + 1] = ("%s %d"):format(proto_label(n):upper(), by[n] and by[n].bytes or 0)
   end
   for _, r in ipairs(rows) do
      if r.number ~= 6 and r.number ~= 17 and r.number ~= 1 then
         parts[#parts + 1] = ("%s %d"):format(proto_label(r.number):upper(), r.bytes)
      end
   end
   return table.concat(parts, " ") .. " bytes"
end

local function json_record(args, rows, elapsed, final)
   local protocols = {}
   for _, r in ipairs(rows) do
      protocols[proto_label(r.number)] = { number = r.number, packets = r.packets,
         bytes = r.bytes }
   end
   -- an empty Lua table encodes as {} with lua-cjson's defaults, which is what we want
   return { iface = args.iface, direction = args.direction, elapsed = elapsed, final = final,
      protocols = protocols }
end

local args = parse_args()
cli.count {
   name = "sockex1", args = args,
   object = "sockex1", open = { globals = { direction = DIRECTIONS[args.direction] } },
   program = "by_protocol", map = "protocols",
   counting = ("counting %s packets on %s"):format(args.direction, args.iface),
   where = ("%s (%s)"):format(args.iface, args.direction),
   read = read_counts,
   record = function(ctx, rows, final) return json_record(args, rows, ctx.elapsed, final) end,
   text = function(rows) io.stdout:write(text_line(rows), "\n") end,
   summary = function(_, rows)
      local parts = {}
      for _, r in ipairs(rows) do
         parts[#parts + 1] = ("%s %d bytes in %d packets"):format(proto_label(r.number),
            r.bytes, r.packets)
      end
      return #parts > 0 and table.concat(parts, ", ") or "nothing counted"
   end,
}
