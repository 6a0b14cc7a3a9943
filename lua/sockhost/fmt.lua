-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.fmt: numbers for people. Byte sizes and byte rates in IEC units (powers of 1024,
-- "1.5 KiB", "12.3 MiB/s"), plain counts and count rates in SI units (powers of 1000,
-- "1.2k", "3.4M/s"), durations from nanoseconds ("1.5 ms", "2m05s"), and u64 values as
-- unsigned decimal.
--
-- Why two systems: sizes in the kernel (buffers, windows, map memory) are powers of two, so
-- IEC keeps "64 KiB" round; counts (packets, events, connections) are decimal by nature.
--
-- Shared rules:
--   * Below the first step (1024 B, 1000, 1000 ns) integers print exactly ("512 B", "999",
--     "12 ns"); a non-integral value gets one decimal ("0.5 B/s").
--   * Scaled values get one decimal and the largest unit that keeps the number below the
--     next step after rounding: 1048575 B is "1.0 MiB", never "1024.0 KiB".
--   * Values are signed: a negative delta prints as "-1.5 KiB". A u64 at or above 2^63 (a
--     negative Lua integer) is not a size anyone meets; fmt.u64 prints it unsigned.
--   * Units are ASCII ("us", not "µs") so that column widths count bytes correctly.
--
-- Pure Lua: no sockhost.core.

local fmt = {}

local IEC = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" }
local SI = { "", "k", "M", "G", "T", "P", "E" }

local function check_number(n, fname)
   if type(n) ~= "number" then
      error(("bad argument #1 to '%s' (number expected, got %s)"):format(fname, type(n)), 3)
   end
   if n ~= n or n == math.huge or n == -math.huge then
      error(("bad argument #1 to '%s' (finite number expected, got %s)"):format(fname,
         tostring(n)), 3)
   end
end

-- An unscaled value: integers exactly, anything else with one decimal.
local function plain(a)
   local i = math.tointeger(a)
   if i then return ("%d"):format(i) end
   return ("%.1f"):format(a)
end

-- a >= 0. Divide by base until the one-decimal rendering stays below base.
local function scaled(a, base, units, sep)
   if a < base then return plain(a) .. sep .. units[1] end
   local v, i = a / base, 2
   while i < #units and tonumber(("%.1f"):format(v)) >= base do
      v, i = v / base, i + 1
   end
   return ("%.1f"):format(v) .. sep .. units[i]
end

local function signed(n, base, units, sep)
   if n < 0 then return "-" .. scaled(-n, base, units, sep) end
   return scaled(n, base, units, sep)
end

-- The scaling formatter named fname: base and units as signed() takes them, sep between
-- number and unit, suffix after the unit.
local function scaler(fname, base, units, sep, suffix)
   return function(n)
      check_number(n, fname)
      return signed(n, base, units, sep) .. suffix
   end
end

--- fmt.bytes(n) -> "0 B", "512 B", "1.5 KiB", "2.0 MiB", ... up to EiB (IEC, powers of 1024).
fmt.bytes = scaler("bytes", 1024, IEC, " ", "")

--- fmt.rate(bytes_per_second) -> "512 B/s", "12.3 MiB/s" (IEC, like fmt.bytes).
fmt.rate = scaler("rate", 1024, IEC, " ", "/s")

--- fmt.count(n) -> "999", "1.2k", "3.4M", "5.6G", ... up to E (SI, powers of 1000, no space).
fmt.count = scaler("count", 1000, SI, "", "")

--- fmt.count_rate(n_per_second) -> "12/s", "0.5/s", "1.2k/s", "3.4M/s" (SI, like fmt.count).
fmt.count_rate = scaler("count_rate", 1000, SI, "", "/s")

local SUB_SECOND = { "ns", "us", "ms", "s" }

local function duration(a)
   -- Up to a minute: ns, us, ms, s with one decimal (59.96 s would round to "60.0 s").
   if a < 59.95e9 then return scaled(a, 1000, SUB_SECOND, " ") end
   local s = math.floor(a / 1e9 + 0.5)
   if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
   local m = math.floor(a / 60e9 + 0.5)
   if m < 24 * 60 then return ("%dh%02dm"):format(m // 60, m % 60) end
   local h = math.floor(a / 3600e9 + 0.5)
   return ("%dd%02dh"):format(h // 24, h % 24)
end

--- fmt.duration(ns) -> "0 ns", "999 ns", "1.5 us", "12.3 ms", "2.0 s", "2m05s", "3h07m",
-- "2d04h". The argument is nanoseconds, the unit of bpf_ktime_get_ns(); pass seconds * 1e9
-- for a duration in seconds. Minutes and longer are rounded to the shown unit.
function fmt.duration(ns)
   check_number(ns, "duration")
   if ns < 0 then return "-" .. duration(-ns) end
   return duration(ns)
end

-- Lua 5.4.4's string.format accepts %u and prints the integer's 64 bits unsigned. The manual
-- does not list %u, so probe once and keep a plain-arithmetic fallback for other builds.
local has_u = pcall(string.format, "%u", -1) and ("%u"):format(-1) == "18446744073709551615"

--- fmt.u64(n) -> the integer's 64 bits as an unsigned decimal string. BTF decoding hands a
-- u64 at or above 2^63 out as a negative Lua integer: fmt.u64(-1) is "18446744073709551615".
function fmt.u64(n)
   local i = math.type(n) == "integer" and n or nil
   if not i then
      error(("bad argument #1 to 'u64' (integer expected, got %s)"):format(
         type(n) == "number" and "non-integer number" or type(n)), 2)
   end
   if i >= 0 then return ("%d"):format(i) end
   if has_u then return ("%u"):format(i) end
   -- Unsigned i = 10 * q + r, with q computed on the value shifted right (now positive).
   local q = (i >> 1) // 5
   return ("%d%d"):format(q, i - q * 10)
end

return fmt
