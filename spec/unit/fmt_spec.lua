-- SPDX-License-Identifier: GPL-2.0
-- sockhost.fmt (pure Lua): numbers, sizes and durations as text, exact strings throughout.
local fmt = require "sockhost.fmt"
local errors = require "helpers.errors"

describe("sockhost.fmt #unit", function()
   it("prints bytes in IEC units, switching unit after rounding", function()
      local cases = {
         { 0, "0 B" }, { 1, "1 B" }, { 512, "512 B" }, { 1023, "1023 B" },
         { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" }, { 10 * 1024 + 307, "10.3 KiB" },
         { 1048575, "1.0 MiB" }, { 2 * 1048576, "2.0 MiB" }, { 1023.96 * 1024, "1.0 MiB" },
         { 5.5 * 2 ^ 30, "5.5 GiB" }, { 2 ^ 40, "1.0 TiB" }, { 2 ^ 50, "1.0 PiB" },
         { math.maxinteger, "8.0 EiB" }, { 2 ^ 70, "1024.0 EiB" },
         { -1536, "-1.5 KiB" }, { 0.5, "0.5 B" }, { 1000.0, "1000 B" },
      }
      for _, c in ipairs(cases) do
         assert.equal(c[2], fmt.bytes(c[1]))
      end
   end)

   it("prints byte rates like bytes, per second", function()
      assert.equal("0 B/s", fmt.rate(0))
      assert.equal("512.5 B/s", fmt.rate(512.5))
      assert.equal("12.3 MiB/s", fmt.rate(12.3 * 1048576))
   end)

   it("prints counts in SI units without a space", function()
      local cases = {
         { 0, "0" }, { 999, "999" }, { 1000, "1.0k" }, { 1234, "1.2k" }, { 999949, "999.9k" },
         { 999950, "1.0M" }, { 3.4e6, "3.4M" }, { 5.6e9, "5.6G" }, { 7e12, "7.0T" },
         { 8e15, "8.0P" }, { 9e18, "9.0E" }, { -1500, "-1.5k" }, { 2.5, "2.5" },
      }
      for _, c in ipairs(cases) do
         assert.equal(c[2], fmt.count(c[1]))
      end
      assert.equal("12/s", fmt.count_rate(12))
      assert.equal("0.5/s", fmt.count_rate(0.5))
      assert.equal("1.2k/s", fmt.count_rate(1234))
   end)

   it("prints durations from nanoseconds", function()
      local cases = {
         { 0, "0 ns" }, { 999, "999 ns" }, { 1000, "1.0 us" }, { 1500, "1.5 us" },
         { 999949, "999.9 us" }, { 999950, "1.0 ms" }, { 12.3e6, "12.3 ms" },
         { 2e9, "2.0 s" }, { 59.94e9, "59.9 s" }, { 59.95e9, "1m00s" }, { 125e9, "2m05s" },
         { 3599.4e9, "59m59s" }, { 3599.6e9, "1h00m" }, { (3 * 3600 + 7 * 60) * 1e9, "3h07m" },
         { (2 * 86400 + 4 * 3600) * 1e9, "2d04h" }, { -1.5e6, "-1.5 ms" }, { 0.5, "0.5 ns" },
      }
      for _, c in ipairs(cases) do
         assert.equal(c[2], fmt.duration(c[1]))
      end
   end)

   it("prints u64 values unsigned", function()
      assert.equal("0", fmt.u64(0))
      assert.equal("9223372036854775807", fmt.u64(math.maxinteger))
      assert.equal("9223372036854775808", fmt.u64(math.mininteger))
      assert.equal("18446744073709551615", fmt.u64(-1))
      assert.equal("18446744073709549568", fmt.u64(-2048))
   end)

   it("rejects what is not a finite number", function()
      errors.raises(function() fmt.bytes("1") end,
         "bad argument #1 to 'bytes' (number expected, got string)")
      errors.raises(function() fmt.count(0 / 0) end,
         "bad argument #1 to 'count' (finite number expected, got " .. tostring(0 / 0) .. ")")
      errors.raises(function() fmt.duration(math.huge) end,
         "bad argument #1 to 'duration' (finite number expected, got inf)")
      errors.raises(function() fmt.u64(1.5) end,
         "bad argument #1 to 'u64' (integer expected, got non-integer number)")
   end)
end)
