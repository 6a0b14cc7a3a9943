-- SPDX-License-Identifier: GPL-2.0
-- sockhost.hist (pure Lua): log2 and linear histograms, exact strings throughout. The
-- references are bpftrace 0.17's own output for the same data (captured once with
-- `bpftrace -e 'BEGIN { @h = hist(5); ... exit(); }'` and copied here; the spec does not need
-- bpftrace).
local hist = require "sockhost.hist"
local errors = require "helpers.errors"
local fake_map = require("helpers.fakemap").new

describe("sockhost.hist #unit", function()
   -- bpftrace 0.17's hist() and lhist() for known values (spec/helpers/bpftrace_hist.lua)
   local refs = require "helpers.bpftrace_hist"
   local BPFTRACE_H = refs.h.out

   -- bpftrace 0.17: @a = hist(1048576); 4 values in [2^31, 2^32); hist(-1) (rows between
   -- [0] and [512K, 1M) are all 0 and omitted here; the spec checks them separately).
   local BPFTRACE_A_HEAD = "@a: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@                                       |
[0]                    0 |                                                    |
]]
   local BPFTRACE_A_TAIL = [[
[512K, 1M)             0 |                                                    |
[1M, 2M)               1 |@@@@@@@@@@@@@                                       |
[2M, 4M)               0 |                                                    |
[4M, 8M)               0 |                                                    |
[8M, 16M)              0 |                                                    |
[16M, 32M)             0 |                                                    |
[32M, 64M)             0 |                                                    |
[64M, 128M)            0 |                                                    |
[128M, 256M)           0 |                                                    |
[256M, 512M)           0 |                                                    |
[512M, 1G)             0 |                                                    |
[1G, 2G)               0 |                                                    |
[2G, 4G)               4 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]]

   local BPFTRACE_L = refs.l.out

   -- bpftrace 0.17: @z = lhist(x, 0, 25, 10) for 24, 29, 19, -1: (25 - 0) / 10 = 2 full
   -- steps, and 24 (past the last full step) lands in [25, ...) with 29.
   local BPFTRACE_Z = "@z: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 10)                0 |                                                    |
[10, 20)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[25, ...)              2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]]

   -- bpftrace 0.17: @w = lhist(x, 100, 200, 10) for 5, 150
   local BPFTRACE_W = "@w: \n" .. [[
(..., 100)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[100, 110)             0 |                                                    |
[110, 120)             0 |                                                    |
[120, 130)             0 |                                                    |
[130, 140)             0 |                                                    |
[140, 150)             0 |                                                    |
[150, 160)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]]

   it("prints a log2 histogram of {value -> count} exactly as bpftrace", function()
      assert.equal(BPFTRACE_H, hist.log2(refs.h.values, { title = "@h" }))
   end)

   it("labels large buckets with K/M/G like bpftrace", function()
      local out = hist.log2({ [1048576] = 1, [3000000000] = 3, [4294967295] = 1, [-1] = 1 },
         { title = "@a" })
      assert.equal(BPFTRACE_A_HEAD, out:sub(1, #BPFTRACE_A_HEAD))
      assert.equal(BPFTRACE_A_TAIL, out:sub(-#BPFTRACE_A_TAIL))
      local lines = {}
      for l in out:gmatch("[^\n]*\n") do lines[#lines + 1] = l end
      -- header, (..., 0), [0], [1], [2, 4) ... [2G, 4G), empty line
      assert.equal(1 + 3 + 31 + 1, #lines)
      assert.equal("[1]                    0 |" .. (" "):rep(52) .. "|\n", lines[4])
      assert.equal("[64K, 128K)            0 |" .. (" "):rep(52) .. "|\n", lines[20])
   end)

   it("prints linear histograms exactly as bpftrace's lhist", function()
      assert.equal(BPFTRACE_L, hist.linear(refs.l.values, 0, 100, 10, { title = "@l" }))
      assert.equal(BPFTRACE_Z, hist.linear({ [24] = 1, [29] = 1, [19] = 1, [-1] = 1 }, 0, 25,
         10, { title = "@z" }))
      assert.equal(BPFTRACE_W, hist.linear({ [5] = 1, [150] = 1 }, 100, 200, 10,
         { title = "@w" }))
   end)

   it("labels linear buckets with K and M at exact multiples", function()
      -- bpftrace 0.17: @m = lhist(2048 and 3000, 1024, 4096, 1024);
      -- @n = lhist(3 * 1048576, 0, 4194304, 1048576)
      assert.equal("[2K, 3K)               2 |" .. ("@"):rep(52) .. "|\n",
         hist.linear({ [2048] = 1, [3000] = 1 }, 1024, 4096, 1024))
      assert.equal("[3M, 4M)               1 |" .. ("@"):rep(52) .. "|\n",
         hist.linear({ [3 * 1048576] = 1 }, 0, 4194304, 1048576))
   end)

   it("scales bars in single precision, as bpftrace does", function()
      -- 15 / 26 * 52 is 29.99999... in doubles; bpftrace's float math gives 30 (checked:
      -- @x = lhist 15 x 1, 26 x 2 printed 30 '@').
      assert.equal("[1, 2)                15 |" .. ("@"):rep(30) .. (" "):rep(22) .. "|\n"
         .. "[2, 3)                26 |" .. ("@"):rep(52) .. "|\n",
         hist.linear({ [1] = 15, [2] = 26 }, 0, 10, 1))
      assert.equal("[1]                   15 |" .. ("@"):rep(15) .. (" "):rep(37) .. "|\n"
         .. "[2, 4)                52 |" .. ("@"):rep(52) .. "|\n",
         hist.log2({ [1] = 15, [2] = 52 }))
   end)

   it("numbers log2 buckets as bpftrace does", function()
      local cases = { { math.mininteger, 0 }, { -1, 0 }, { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 3 },
         { 4, 4 }, { 1023, 11 }, { 1024, 12 }, { math.maxinteger, 64 } }
      for _, c in ipairs(cases) do
         assert.equal(c[2], hist.log2_index(c[1]))
      end
      assert.equal(0, hist.linear_index(-1, 0, 25, 10))
      assert.equal(1, hist.linear_index(0, 0, 25, 10))
      assert.equal(2, hist.linear_index(19, 0, 25, 10))
      assert.equal(3, hist.linear_index(20, 0, 25, 10))
      assert.equal(3, hist.linear_index(25, 0, 25, 10))
   end)

   it("reads a map whose keys are buckets, through pairs(), summing per-CPU counts", function()
      local m = fake_map({ [3] = { 1, 2 }, [5] = { 0, 0 }, [6] = { 3, 0 } })
      assert.equal(
         "[2, 4)                 3 |" .. ("@"):rep(52) .. "|\n"
         .. "[4, 8)                 0 |" .. (" "):rep(52) .. "|\n"
         .. "[8, 16)                0 |" .. (" "):rep(52) .. "|\n"
         .. "[16, 32)               3 |" .. ("@"):rep(52) .. "|\n",
         hist.log2_buckets(m))
      assert.equal("[1, 2)                 7 |" .. ("@"):rep(52) .. "|\n",
         hist.linear_buckets(fake_map({ [2] = 7, [0] = 0 }), 0, 10, 1))
   end)

   it("takes bucket and count fields from struct keys and values", function()
      local m = fake_map({
         [{ slot = 12 }] = { packets = 2, bytes = 10 },
         [{ slot = 13 }] = { packets = 1, bytes = 20 },
      })
      assert.equal("[1K, 2K)               2 |" .. ("@"):rep(52) .. "|\n"
         .. "[2K, 4K)               1 |" .. ("@"):rep(26) .. (" "):rep(26) .. "|\n",
         hist.log2_buckets(m, { key = "slot", count = "packets" }))
      assert.equal("[1K, 2K)              10 |" .. ("@"):rep(26) .. (" "):rep(26) .. "|\n"
         .. "[2K, 4K)              20 |" .. ("@"):rep(52) .. "|\n",
         hist.log2_buckets(m, { key = function(k) return k.slot end,
            count = function(v) return v.bytes end }))
   end)

   it("follows bpftrace's label rule past 2^40", function()
      assert.equal("[1T, 2T)               1 |" .. ("@"):rep(52) .. "|\n",
         hist.log2_buckets({ [42] = 1 }))
      assert.equal("[4194304T, 8388608T)       1 |" .. ("@"):rep(52) .. "|\n",
         hist.log2({ [math.maxinteger] = 1 }))
   end)

   it("renders an empty histogram as no rows", function()
      assert.equal("", hist.log2({}))
      assert.equal("", hist.log2({ [5] = 0 }))
      assert.equal("@e: \n\n", hist.linear({}, 0, 10, 1, { title = "@e" }))
   end)

   it("rejects bad bounds, keys and counts", function()
      errors.raises(function() hist.linear({}, 0, 10, 0) end,
         "bad argument #4 to 'linear' (step must be positive, got 0)")
      errors.raises(function() hist.linear({}, 10, 10, 1) end,
         "bad argument #3 to 'linear' (max 10 must be at least min 10 + step 1)")
      errors.raises(function() hist.linear({}, 0, 10.5, 1) end,
         "bad argument #3 to 'linear' (integer expected, got non-integer number)")
      errors.raises(function() hist.log2_buckets({ [-1] = 1 }) end,
         "log2_buckets: bucket index -1 is negative")
      errors.raises(function() hist.linear_buckets({ [12] = 1 }, 0, 10, 1) end,
         "linear_buckets: bucket index 12 outside 0..11")
      errors.raises(function() hist.log2_buckets({ [{ slot = 1 }] = 1 }) end,
         "log2_buckets: bucket key must be an integer, got table (use opts.key)")
      errors.raises(function() hist.log2({ x = 1 }) end,
         "log2: value must be an integer, got string")
      errors.raises(function() hist.log2({ [1] = "many" }) end,
         "log2: count must be a number or a sequence of numbers, got string")
      errors.raises(function() hist.log2_buckets({ [1] = 1 }, { key = "slot" }) end,
         "log2_buckets: key is a number, has no field 'slot'")
      errors.raises(function() hist.log2_index(1.5) end,
         "bad argument #1 to 'log2_index' (integer expected, got non-integer number)")
   end)
end)
