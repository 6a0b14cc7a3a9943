-- SPDX-License-Identifier: GPL-2.0
--- Map read benchmark: every element of a hash map of N entries (8-byte keys, 8- or 64-byte
-- values) read four ways in the same run:
--   pairs    sockhost pairs(m) into Lua, keys and values decoded through BTF
--   C batch  bench/maps_ref.c with BPF_MAP_LOOKUP_BATCH (raw bytes, no decoding)
--   C next   the same with get_next_key + lookup
--   bpftool  bpftool map dump pinned ... -j > /dev/null
-- and reports elements/s (best of --runs) and ratios against the C batch reader.
--
--   build/sockhost bench/maps.lua [--sizes 100000,1000000] [--runs 3] [--json]
--
-- A size the kernel refuses (memory) is halved until it fits, and the output says so.
-- The maps are pinned under /sys/fs/bpf while the readers run and unpinned at the end.
local sockhost = require "sockhost"
local argparse = require "argparse"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"
local cjson = require "cjson"

local parser = argparse("sockhost bench/maps.lua",
   "Time reading every element of large hash maps: sockhost pairs() against C and bpftool.")
parser:option("--sizes", "Comma-separated map sizes.", "100000,1000000")
parser:option("--runs", "Runs per reader (best reported).", "3"):convert(tonumber)
parser:option("--bpftool-runs", "Runs for bpftool (slow on big maps).", "1"):convert(tonumber)
parser:option("--duration", "Ignored (the bench ends when every size is measured).")
parser:flag("--json", "One NDJSON object per measurement on stdout instead of the table.")
local args = parser:parse(arg)

local OBJ = util.build_dir() .. "/bench/maps.bpf.o"
local REF = util.build_dir() .. "/bench/maps_ref"
local PIN = "/sys/fs/bpf/sockhost-bench-maps-" .. sockhost.pid()

local run = util.sh

local function wide_value(i)
   return {
      packets = i, bytes = i * 1500, first_ns = i * 1000, last_ns = i * 2000,
      saddr = 0x0100007f, daddr = 0x0200007f, sport = i % 65536, dport = 443, pid = i % 100000,
      drops = i % 7, retrans = i % 3,
   }
end

--- Open the bench object with map name sized n; halve n until the kernel takes it.
local function open_sized(name, n)
   local notes = {}
   while n >= 1000 do
      local ok, obj = pcall(sockhost.open, OBJ, { maps = { [name] = { max_entries = n } } })
      if ok then return obj, n, notes end
      notes[#notes + 1] = ("%d entries could not be created (%s)"):format(n, tostring(obj))
      n = n // 2
   end
   error(table.concat(notes, "; "))
end

local function best_of(runs, fn)
   local best, count
   for _ = 1, runs do
      local t0 = sockhost.now()
      count = fn()
      local dt = sockhost.now() - t0
      if not best or dt < best then best = dt end
   end
   return best, count
end

local results = {}
local function report(r)
   results[#results + 1] = r
   if args.json then io.write(cjson.encode(r), "\n") end
end

for size in args.sizes:gmatch("%d+") do
   for _, kind in ipairs { { map = "narrow", bytes = 8 }, { map = "wide", bytes = 64 } } do
      local want = math.tointeger(tonumber(size))
      local obj, n, notes = open_sized(kind.map, want)
      for _, note in ipairs(notes) do io.stderr:write("maps bench: ", note, "\n") end
      local m = obj:map(kind.map)
      local t0 = sockhost.now()
      for i = 1, n do m[i] = kind.bytes == 8 and i or wide_value(i) end
      local fill_s = sockhost.now() - t0
      local pin = PIN .. "-" .. kind.map
      m:pin(pin)
      local ok, err = pcall(function()
         local r = { entries = n, requested = want, value_bytes = kind.bytes, fill_s = fill_s }
         local sum = 0
         r.pairs_s, r.pairs_count = best_of(args.runs, function()
            local c = 0
            for k, v in pairs(m) do
               c = c + 1
               sum = sum + k + (kind.bytes == 8 and v or v.packets)
            end
            return c
         end)
         for _, mode in ipairs { "batch", "next" } do
            local rok, out = run(("%s %s %s %d"):format(REF, pin, mode, args.runs))
            local c, ns = out:match("^(%d+) (%d+)")
            assert(rok and c, "maps_ref failed: " .. out)
            r[mode .. "_s"], r[mode .. "_count"] = tonumber(ns) / 1e9, math.tointeger(tonumber(c))
         end
         r.bpftool_s = best_of(args.bpftool_runs, function()
            assert(os.execute(("bpftool map dump pinned %s -j > /dev/null"):format(pin)))
         end)
         for _, what in ipairs { "pairs", "batch", "next", "bpftool" } do
            r[what .. "_rate"] = n / r[what .. "_s"]
         end
         r.pairs_vs_batch = r.pairs_rate / r.batch_rate
         r.pairs_vs_bpftool = r.pairs_rate / r.bpftool_rate
         report(r)
      end)
      os.remove(pin)
      obj:close()
      if not ok then error(err, 0) end
   end
end

if not args.json then
   local function rate(x) return ("%.2fM/s"):format(x / 1e6) end
   io.write(("map reads, elements/s, best of %d runs (bpftool: %d); higher is better\n\n")
      :format(args.runs, args.bpftool_runs))
   io.write(("%9s %6s %11s %11s %11s %11s %13s %15s\n"):format("entries", "value",
      "pairs()", "C batch", "C next", "bpftool", "pairs/batch", "pairs/bpftool"))
   for _, r in ipairs(results) do
      io.write(("%9d %5dB %11s %11s %11s %11s %12.2fx %14.1fx%s\n"):format(r.entries,
         r.value_bytes, rate(r.pairs_rate), rate(r.batch_rate), rate(r.next_rate),
         rate(r.bpftool_rate), r.pairs_vs_batch, r.pairs_vs_bpftool,
         r.entries ~= r.requested and ("  (asked %d)"):format(r.requested) or ""))
   end
end
io.stderr:write(("maps bench: %d measurements, targets pairs/batch >= 0.5, pairs/bpftool >= 5\n")
   :format(#results))
