-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.hist: log2 and linear histograms printed exactly as bpftrace 0.17 prints hist()
-- and lhist(), so output can be diffed against bpftrace's:
--
--   [4, 8)                 1 |@@@@@@@@@@@@@@@@@                                   |
--   [1K, 2K)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
--
-- One line per bucket from the first to the last non-empty one (empty buckets in between
-- print with a count of 0): the label left-aligned in 16 columns, the count right-aligned
-- in 8, then a bar of '@' in 52 columns scaled to the largest count. bpftrace computes the
-- bar as (int)(count / (float)max * 52) in single precision; so does this module (15 of 26
-- gets 30 '@', where double precision would give 29).
--
-- Bucket numbering (what a BPF program stores as the key when it histograms in the kernel):
-- bpftrace's own, and the one the SDK's sh_log2_bucket() and sh_lin_bucket()
-- (include/sockhost/sockhost.bpf.h, with SH_HIST and sh_hist_inc) produce, so a map they
-- fill prints here with no translation:
--   log2:   0 = negative, 1 = zero, k + 2 = [2^k, 2^(k+1)). For v > 0 that is the bit
--           length of v plus one; 65 buckets (0..64) hold every 64-bit value. Labels use
--           K/M/G/T for 2^10/2^20/2^30/2^40. Not libbpf-tools' log2l() slots: slot s there
--           is [2^s, 2^(s+1)), bucket s + 2 here, so a slot map read as buckets prints every
--           value 4x too small; pass opts.key = function(s) return s + 2 end (its slot 0
--           also holds the zeroes, which then print as [1]).
--   linear: with n = (max - min) // step: 0 = (..., min), i = [min + (i-1)*step,
--           min + i*step) for 1 <= i <= n, n + 1 = [max, ...). As in bpftrace, a value past
--           the last full step goes to the last bucket. Labels use K/M for exact multiples
--           of 1024 and 1048576.
--
-- Input: any object pairs() walks (a Lua table, a sockhost map, a snapshot). log2/linear
-- take {value -> count} and bucket the values; log2_buckets/linear_buckets take
-- {bucket index -> count}. A count may be a number or a sequence of numbers (per-CPU values,
-- summed). opts.key and opts.count (a field name or a function) pull the index or value and
-- the count out of struct keys and values: hist.log2_buckets(m, { key = "slot" }).
--
-- Values are signed 64-bit Lua integers: a u64 at or above 2^63 reads as negative and lands
-- in (..., 0), as it would in bpftrace's int64 hist().
--
-- opts.title = "@name" adds bpftrace's map header line "@name: " (with its trailing space)
-- before the rows and an empty line after them. An empty histogram renders as no rows.
--
-- Pure Lua: no sockhost.core.

local hist = {}

local BAR_WIDTH = 52

-- Round to single precision, as C's (float) cast does.
local function f32(x)
   return (string.unpack("f", string.pack("f", x)))
end

local function bar(count, max)
   local n = math.floor(f32(f32(f32(count) / f32(max)) * BAR_WIDTH))
   return string.rep("@", n)
end

local function log2_label(power)
   local suffix = ""
   for _, s in ipairs({ { 40, "T" }, { 30, "G" }, { 20, "M" }, { 10, "K" } }) do
      if power >= s[1] then
         power, suffix = power - s[1], s[2]
         break
      end
   end
   return ("%d%s"):format(1 << power, suffix)
end

local function linear_label(n)
   if n ~= 0 and n % 1048576 == 0 then return ("%dM"):format(n // 1048576) end
   if n ~= 0 and n % 1024 == 0 then return ("%dK"):format(n // 1024) end
   return ("%d"):format(n)
end

local function log2_header(i)
   if i == 0 then return "(..., 0)" end
   if i == 1 then return "[0]" end
   if i == 2 then return "[1]" end
   return ("[%s, %s)"):format(log2_label(i - 2), log2_label(i - 1))
end

local function field_getter(spec, what, fname)
   if spec == nil then return function(x) return x end end
   if type(spec) == "function" then return spec end
   if type(spec) == "string" or math.type(spec) == "integer" then
      return function(x)
         if type(x) ~= "table" then
            error(("%s: %s is a %s, has no field '%s'"):format(fname, what, type(x), spec), 0)
         end
         return x[spec]
      end
   end
   error(("bad option '%s' to '%s' (field name or function expected, got %s)")
      :format(what, fname, type(spec)), 0)
end

local function to_count(c, fname)
   if math.type(c) == "integer" then return c end
   if type(c) == "number" then return math.floor(c) end
   if type(c) == "table" then -- per-CPU values
      local sum = 0
      for _, v in ipairs(c) do sum = sum + to_count(v, fname) end
      return sum
   end
   error(("%s: count must be a number or a sequence of numbers, got %s"):format(fname,
      type(c)), 0)
end

-- Floats are floored; NaN, infinities and floats beyond the integer range are errors.
local function to_integer(v, what, fname)
   local i = type(v) == "number" and v == v and math.tointeger(math.floor(v))
   if not i then
      error(("%s: %s must be an integer, got %s%s"):format(fname, what,
         type(v) == "number" and tostring(v) or type(v),
         type(v) == "table" and " (use opts.key)" or ""), 0)
   end
   return i
end

-- Walk src with pairs(), add counts into buckets[index(value)] and return buckets.
local function collect(src, opts, index, what, fname)
   local key = field_getter(opts.key, "key", fname)
   local count = field_getter(opts.count, "count", fname)
   local buckets = {}
   for k, v in pairs(src) do
      local i = index(to_integer(key(k), what, fname))
      buckets[i] = (buckets[i] or 0) + to_count(count(v), fname)
   end
   return buckets
end

local function render(buckets, header, opts)
   local lo, hi, max
   for i, c in pairs(buckets) do
      if c ~= 0 then
         if not lo or i < lo then lo = i end
         if not hi or i > hi then hi = i end
      end
      if not max or c > max then max = c end
   end
   local out = {}
   if opts.title then out[1] = tostring(opts.title) .. ": \n" end
   if lo then
      for i = lo, hi do
         local c = buckets[i] or 0
         out[#out + 1] = ("%-16s%8d |%-52s|\n"):format(header(i), c, bar(c, max))
      end
   end
   if opts.title then out[#out + 1] = "\n" end
   return table.concat(out)
end

-- Run fn and raise its error (string messages raised at level 0) at the caller's caller, so
-- messages point at the script line that asked for the histogram.
local function call(fn)
   local ok, res = pcall(fn)
   if not ok then error(res, 3) end
   return res
end

--- hist.log2_index(v) -> the log2 bucket index of integer v (0 negative, 1 zero, k + 2 for
-- [2^k, 2^(k+1))).
function hist.log2_index(v)
   if math.type(v) ~= "integer" then
      error(("bad argument #1 to 'log2_index' (integer expected, got %s)"):format(
         type(v) == "number" and "non-integer number" or type(v)), 2)
   end
   if v < 0 then return 0 end
   local i = 1
   while v > 0 do
      v, i = v >> 1, i + 1
   end
   return i
end

local function check_buckets(fname)
   return function(i)
      if i < 0 then error(("%s: bucket index %d is negative"):format(fname, i), 0) end
      return i
   end
end

--- hist.log2(values [, opts]) -> string: bpftrace hist() of {value -> count}.
function hist.log2(values, opts)
   opts = opts or {}
   return call(function()
      return render(collect(values, opts, hist.log2_index, "value", "log2"), log2_header,
         opts)
   end)
end

--- hist.log2_buckets(buckets [, opts]) -> string: bpftrace hist() of {log2 index -> count},
-- for maps a BPF program fills with hist.log2_index's numbering.
function hist.log2_buckets(buckets, opts)
   opts = opts or {}
   return call(function()
      return render(collect(buckets, opts, check_buckets("log2_buckets"), "bucket key",
         "log2_buckets"), log2_header, opts)
   end)
end

local function check_linear(min, max, step, fname)
   for n, v in ipairs({ min, max, step }) do
      if math.type(v) ~= "integer" then
         error(("bad argument #%d to '%s' (integer expected, got %s)"):format(n + 1, fname,
            type(v) == "number" and "non-integer number" or type(v)), 3)
      end
   end
   if step <= 0 then
      error(("bad argument #4 to '%s' (step must be positive, got %d)"):format(fname, step), 3)
   end
   if max - min < step then
      error(("bad argument #3 to '%s' (max %d must be at least min %d + step %d)"):format(
         fname, max, min, step), 3)
   end
   return (max - min) // step
end

local function linear_header(min, max, step, n)
   return function(i)
      if i == 0 then return ("(..., %s)"):format(linear_label(min)) end
      if i == n + 1 then return ("[%s, ...)"):format(linear_label(max)) end
      return ("[%s, %s)"):format(linear_label(min + (i - 1) * step),
         linear_label(min + i * step))
   end
end

local function linear_index(v, min, max, step, n)
   if v < min then return 0 end
   if v >= max then return n + 1 end
   return math.min((v - min) // step + 1, n + 1)
end

--- hist.linear_index(v, min, max, step) -> the linear bucket index of integer v.
function hist.linear_index(v, min, max, step)
   local n = check_linear(min, max, step, "linear_index")
   if math.type(v) ~= "integer" then
      error(("bad argument #1 to 'linear_index' (integer expected, got %s)"):format(
         type(v) == "number" and "non-integer number" or type(v)), 2)
   end
   return linear_index(v, min, max, step, n)
end

--- hist.linear(values, min, max, step [, opts]) -> string: bpftrace lhist() of
-- {value -> count}.
function hist.linear(values, min, max, step, opts)
   local n = check_linear(min, max, step, "linear")
   opts = opts or {}
   local function index(v) return linear_index(v, min, max, step, n) end
   return call(function()
      return render(collect(values, opts, index, "value", "linear"),
         linear_header(min, max, step, n), opts)
   end)
end

--- hist.linear_buckets(buckets, min, max, step [, opts]) -> string: bpftrace lhist() of
-- {linear index -> count}. Indexes past n + 1 are an error.
function hist.linear_buckets(buckets, min, max, step, opts)
   local n = check_linear(min, max, step, "linear_buckets")
   opts = opts or {}
   local function index(i)
      if i < 0 or i > n + 1 then
         error(("linear_buckets: bucket index %d outside 0..%d"):format(i, n + 1), 0)
      end
      return i
   end
   return call(function()
      return render(collect(buckets, opts, index, "bucket key", "linear_buckets"),
         linear_header(min, max, step, n), opts)
   end)
end

return hist
