-- SPDX-License-Identifier: GPL-2.0
-- The pure-Lua helpers for scripts: sockhost.fmt, .tab, .hist, .interval, .ndjson. Exact
-- strings throughout. The histogram references are bpftrace 0.17's own output for the same
-- data (captured once with `bpftrace -e 'BEGIN { @h = hist(5); ... exit(); }'` and copied
-- here; the spec does not need bpftrace). The last block feeds a real BPF map of the types
-- fixture through the helpers.

local fmt = require "sockhost.fmt"
local tab = require "sockhost.tab"
local hist = require "sockhost.hist"
local interval = require "sockhost.interval"
local ndjson = require "sockhost.ndjson"
local cjson = require "cjson"
local errors = require "helpers.errors"

-- A stand-in for a sockhost map: only reachable through pairs() (__pairs), like the real one.
local function fake_map(entries)
   return setmetatable({}, {
      __pairs = function()
         local k
         return function()
            local v
            k, v = next(entries, k)
            return k, v
         end, nil, nil
      end,
      __index = function() error("fake map: index instead of pairs()") end,
   })
end

describe("sockhost.fmt", function()
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

describe("sockhost.hist", function()
   -- bpftrace 0.17: @h = hist(5); hist(100); hist(0); hist(-3); hist(1); 3 x hist(1500)
   local BPFTRACE_H = "@h: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@                                   |
[0]                    1 |@@@@@@@@@@@@@@@@@                                   |
[1]                    1 |@@@@@@@@@@@@@@@@@                                   |
[2, 4)                 0 |                                                    |
[4, 8)                 1 |@@@@@@@@@@@@@@@@@                                   |
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              1 |@@@@@@@@@@@@@@@@@                                   |
[128, 256)             0 |                                                    |
[256, 512)             0 |                                                    |
[512, 1K)              0 |                                                    |
[1K, 2K)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]]

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

   -- bpftrace 0.17: @l = lhist(x, 0, 100, 10) for -5, 0, 35, 35, 100, 150
   local BPFTRACE_L = "@l: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[10, 20)               0 |                                                    |
[20, 30)               0 |                                                    |
[30, 40)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[40, 50)               0 |                                                    |
[50, 60)               0 |                                                    |
[60, 70)               0 |                                                    |
[70, 80)               0 |                                                    |
[80, 90)               0 |                                                    |
[90, 100)              0 |                                                    |
[100, ...)             2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]]

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
      local values = { [5] = 1, [100] = 1, [0] = 1, [-3] = 1, [1] = 1, [1500] = 3 }
      assert.equal(BPFTRACE_H, hist.log2(values, { title = "@h" }))
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
      local values = { [-5] = 1, [0] = 1, [35] = 2, [100] = 1, [150] = 1 }
      assert.equal(BPFTRACE_L, hist.linear(values, 0, 100, 10, { title = "@l" }))
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

describe("sockhost.tab", function()
   local rows

   before_each(function()
      rows = {
         { addr = "10.0.0.9", bytes = 512, pkts = 4 },
         { addr = "10.0.0.2", bytes = 1536, pkts = 12 },
         { addr = "fe80::1", bytes = 3 * 1048576, pkts = 2100 },
      }
   end)

   it("aligns auto-width columns: numbers right, text left, all keys sorted", function()
      assert.equal(
         "ADDR        BYTES  PKTS\n"
         .. "10.0.0.9      512     4\n"
         .. "10.0.0.2     1536    12\n"
         .. "fe80::1   3145728  2100\n",
         tab.render(rows))
   end)

   it("takes titles, fmt names, sorting and top-N", function()
      local opts = {
         columns = { { key = "addr", title = "DEST" }, { key = "bytes", fmt = "bytes" }, "pkts" },
         sort = "bytes", desc = true, top = 2,
      }
      assert.equal(
         "DEST        BYTES  PKTS\n"
         .. "fe80::1   3.0 MiB  2100\n"
         .. "10.0.0.2  1.5 KiB    12\n",
         tab.render(rows, opts))
      opts.desc, opts.top = nil, 1
      assert.equal("DEST      BYTES  PKTS\n10.0.0.9  512 B     4\n", tab.render(rows, opts))
      assert.equal(3, #rows, "render must not change rows")
      assert.equal("10.0.0.9", rows[1].addr)
   end)

   it("sorts text columns and keeps input order on ties", function()
      local r = { { n = "b", v = 1 }, { n = "a", v = 2 }, { n = "c", v = 1 }, { n = "d", v = 2 } }
      assert.equal("N  V\na  2\nd  2\nb  1\nc  1\n", tab.render(r, { sort = "v", desc = true }))
      assert.equal("N  V\nb  1\nc  1\na  2\nd  2\n", tab.render(r, { sort = "v" }))
      assert.equal("N  V\na  2\nb  1\nc  1\nd  2\n", tab.render(r, { sort = "n" }))
      assert.equal("N  V\na  2\nd  2\nb  1\nc  1\n",
         tab.render(r, { sort = function(x, y) return x.v > y.v end }))
   end)

   it("sorts missing values last in both directions and prints them as opts.missing", function()
      local r = { { k = "x" }, { k = "y", n = 1 }, { k = "z", n = 3 } }
      assert.equal("K  N\ny  1\nz  3\nx  -\n", tab.render(r, { sort = "n", missing = "-" }))
      assert.equal("K  N\nz  3\ny  1\nx   \n", tab.render(r, { sort = "n", desc = true }))
   end)

   it("renders sequence rows, custom formatters, alignment and no header", function()
      local r = { { "lo", 1.5, 3 }, { "eth0", 22.25, 4.0 } }
      assert.equal("lo     1.50  3\neth0  22.25  4\n", tab.render(r, { header = false }))
      local out = tab.render(r, {
         columns = {
            { key = 1, title = "IF", align = "right" },
            { key = 2, title = "MS",
               fmt = function(v, row) return ("%g/%s"):format(v, row[1]) end },
            { key = 3, title = "N", align = "left" },
         },
         sep = " | ",
      })
      assert.equal("  IF |         MS | N\n"
         .. "  lo |     1.5/lo | 3\n"
         .. "eth0 | 22.25/eth0 | 4\n", out)
   end)

   it("counts UTF-8 characters for widths and leaves no trailing blanks", function()
      local out = tab.render({ { name = "é", n = 1 }, { name = "xyz", n = 22 } })
      assert.equal(" N  NAME\n 1  é\n22  xyz\n", out)
   end)

   it("renders nothing for no rows and no columns, and a header for columns only", function()
      assert.equal("", tab.render({}))
      assert.equal("A  B\n", tab.render({}, { columns = { "a", "b" } }))
   end)

   it("writes to a file handle", function()
      local fh = io.tmpfile()
      tab.write(fh, { { a = 1 } })
      fh:seek("set")
      assert.equal("A\n1\n", fh:read("a"))
      fh:close()
   end)

   it("turns {key -> value} tables and maps into rows", function()
      local r = tab.rows(fake_map({ [6] = 100, [17] = 5 }), { key = "proto", value = "bytes" })
      assert.equal("PROTO  BYTES\n    6    100\n   17      5\n",
         tab.render(r, { sort = "proto", columns = { "proto", "bytes" } }))
      r = tab.rows({ [{ ip = "10.0.0.1", port = 80 }] = { pkts = 2, bytes = 120 } })
      assert.same({ { ip = "10.0.0.1", port = 80, pkts = 2, bytes = 120 } }, r)
   end)

   it("rejects bad options", function()
      errors.raises(function() tab.render("x") end,
         "bad argument #1 to 'render' (table expected, got string)")
      errors.raises(function() tab.render(rows, { columns = { { title = "X" } } }) end,
         "bad option 'columns' to 'render' (column 1 has no key)")
      errors.raises(function() tab.render(rows, { columns = { { key = "a", fmt = "kb" } } }) end,
         "bad option 'columns' to 'render' (column 1: unknown fmt 'kb')")
      errors.raises(function() tab.render(rows, { columns = { { key = "a", align = "mid" } } }) end,
         "bad option 'columns' to 'render' (column 1: align must be 'left' or 'right')")
      errors.raises(function() tab.render(rows, { top = -1 }) end,
         "bad option 'top' to 'render' (non-negative integer expected, got -1)")
   end)
end)

describe("sockhost.interval", function()
   it("computes deltas and rates; reports new, vanished and reset keys", function()
      local rows, gone = interval.diff({ a = 1, b = 5, c = 7 }, { a = 4, b = 2, d = 9 },
         { seconds = 2 })
      assert.same({
         { key = "a", value = 4, prev = 1, delta = 3, rate = 1.5 },
         { key = "b", value = 2, prev = 5, delta = 2, rate = 1.0, status = "reset" },
         { key = "d", value = 9, delta = 9, rate = 4.5, status = "new" },
      }, rows)
      assert.same({ { key = "c", prev = 7 } }, gone)
   end)

   it("matches struct keys by content and diffs struct values field by field", function()
      local before = { [{ ip = 1, port = 80 }] = { pkts = 3, bytes = 100, comm = "a" } }
      local now = { [{ port = 80, ip = 1 }] = { pkts = 5, bytes = 300, comm = "b" } }
      local rows, gone = interval.diff(before, now)
      assert.same({}, gone)
      assert.same({ {
         key = { ip = 1, port = 80 },
         value = { pkts = 5, bytes = 300, comm = "b" },
         prev = { pkts = 3, bytes = 100, comm = "a" },
         delta = { pkts = 2, bytes = 200, comm = "b" },
      } }, rows)
   end)

   it("takes any field going backwards as a reset of the whole entry", function()
      local rows = interval.diff({ k = { pkts = 10, bytes = 1000 } },
         { k = { pkts = 12, bytes = 40 } })
      assert.equal("reset", rows[1].status)
      assert.same({ pkts = 12, bytes = 40 }, rows[1].delta)
   end)

   it("handles u64 counters across 2^63 and 32-bit counters that wrap", function()
      -- 2^63 - 1 -> 2^63 + 9: the Lua integers go from maxinteger to a negative number
      local rows = interval.diff({ x = math.maxinteger }, { x = math.mininteger + 9 })
      assert.same({ { key = "x", value = math.mininteger + 9, prev = math.maxinteger,
         delta = 10 } }, rows)
      rows = interval.diff({ x = 0xfffffff0 }, { x = 0x10 }, { bits = 32, backwards = "wrap" })
      assert.same({ { key = "x", value = 0x10, prev = 0xfffffff0, delta = 0x20,
         status = "wrap" } }, rows)
      rows = interval.diff({ x = -1 }, { x = 5 }, { backwards = "wrap" })
      assert.equal(6, rows[1].delta)
   end)

   it("sorts rows by key: numbers, strings, then tables", function()
      local now = { [{ id = 2 }] = 1, b = 1, [10] = 1, a = 1, [2] = 1, [{ id = 1 }] = 1 }
      local keys = {}
      for _, r in ipairs((interval.diff({}, now))) do keys[#keys + 1] = r.key end
      assert.same({ 2, 10, "a", "b", { id = 1 }, { id = 2 } }, keys)
   end)

   it("tracks a source over time: baseline first, timestamps or the nominal interval", function()
      local counters = { rx = 100 }
      local iv = interval.new()
      assert.same({ {}, {} }, { iv:update(counters, 10.0) })
      counters.rx = 400 -- changing the caller's table after an update moves nothing
      local rows = iv:update(counters, 12.0)
      assert.same({ { key = "rx", value = 400, prev = 100, delta = 300, rate = 150.0 } }, rows)
      counters.rx = 450
      rows = iv:update(counters) -- no timestamp, no nominal interval: no rate
      assert.same({ { key = "rx", value = 450, prev = 400, delta = 50 } }, rows)

      local every = interval.new { interval = 0.5 }
      every:update(fake_map({ [1] = 1 }))
      rows = every:update(fake_map({ [1] = 3 }))
      assert.same({ { key = 1, value = 3, prev = 1, delta = 2, rate = 4.0 } }, rows)
      every:reset()
      assert.same({ {}, {} }, { every:update({ [1] = 9 }) })
   end)

   it("rejects bad options", function()
      errors.raises(function() interval.new { bits = 65 } end,
         "bad option 'bits' (integer 1..64 expected, got 65)")
      errors.raises(function() interval.diff({}, {}, { backwards = "clamp" }) end,
         "bad option 'backwards' (\"reset\" or \"wrap\" expected, got clamp)")
      errors.raises(function() interval.diff({}, {}, { seconds = 0 }) end,
         "bad interval length (positive number of seconds expected, got 0)")
      errors.raises(function() interval.new():update({}, "now") end,
         "bad argument #2 to 'update' (number expected, got string)")
   end)
end)

describe("sockhost.ndjson", function()
   it("writes integers exactly, integral floats as integers, keys in a stable order", function()
      local line = ndjson.encode({
         pid = 42, comm = "curl", bytes = 123456789012345, big = math.maxinteger,
         f = 1e5, g = 0.1, h = 1e300, nan = 0 / 0, ok = true, none = ndjson.array({}),
         obj = {}, list = { 1, 2, 3 }, nested = { [1] = 2, x = -1 },
      })
      assert.equal('{"big":9223372036854775807,"bytes":123456789012345,"comm":"curl",'
         .. '"f":100000,"g":0.1,"h":1e+300,"list":[1,2,3],"nan":null,"nested":{"1":2,"x":-1},'
         .. '"none":[],"obj":{},"ok":true,"pid":42}', line)
      local back = cjson.decode(line)
      assert.equal(42, back.pid)
      assert.equal("curl", back.comm)
   end)

   it("puts opts.order fields first", function()
      assert.equal('{"ts":1,"pid":2,"a":3,"z":4}',
         ndjson.encode({ z = 4, a = 3, pid = 2, ts = 1 }, { order = { "ts", "pid", "missing" } }))
   end)

   it("prints u64 fields unsigned on request", function()
      local rec = { cookie = -1, delta = -1, inner = { cookie = math.mininteger } }
      assert.equal('{"cookie":18446744073709551615,"delta":-1,'
         .. '"inner":{"cookie":9223372036854775808}}',
         ndjson.encode(rec, { unsigned = { cookie = true } }))
      assert.equal('[18446744073709551615,{"a":18446744073709551614}]',
         ndjson.encode({ -1, { a = -2 } }, { unsigned = true }))
   end)

   it("escapes strings through cjson, leaving '/' alone", function()
      local s = '/sys/fs\\/"x"\n\t\1'
      local line = ndjson.encode({ s = s })
      assert.equal('{"s":"/sys/fs\\\\/\\"x\\"\\n\\t\\u0001"}', line)
      assert.equal(s, cjson.decode(line).s)
   end)

   it("honours the float precision", function()
      assert.equal("0.33333333333333", ndjson.encode(1 / 3))
      assert.equal("0.33333333333333331", ndjson.encode(1 / 3, { precision = 17 }))
   end)

   it("writes one line per record to a file handle", function()
      local fh = io.tmpfile()
      local w = ndjson.writer(fh, { order = { "n" } })
      w:write({ n = 1, x = "a" }):write({ n = 2 })
      assert.equal(2, w.lines)
      fh:seek("set")
      assert.equal('{"n":1,"x":"a"}\n{"n":2}\n', fh:read("a"))
      fh:close()
   end)

   it("names the field it cannot encode", function()
      errors.raises(function() ndjson.encode({ a = { b = print } }) end,
         "ndjson: cannot encode a function in field 'a.b'")
      errors.raises(function() ndjson.encode({ a = { [{}] = 1 } }) end,
         "ndjson: cannot encode a table key in field 'a'")
      errors.raises(function() ndjson.encode({ list = { 1, io.stdout } }) end,
         "ndjson: cannot encode a userdata in field 'list[2]'")
      local t = {}
      t.self = t
      errors.raises(function() ndjson.encode(t) end, "ndjson: cycle at field 'self'")
      errors.raises(function() ndjson.encode(1, { precision = 20 }) end,
         "bad option 'precision' (integer 1..17 expected, got 20)")
      errors.raises(function() ndjson.writer(nil) end,
         "bad argument #1 to 'writer' (file handle expected, got nil)")
   end)
end)

describe("sockhost.cli", function()
   local cli = require "sockhost.cli"
   local argparse = require "argparse"

   it("converts positive seconds, with the scripts' two message forms", function()
      local plain, strict = cli.seconds("--duration"), cli.seconds("--interval", true)
      assert.equal(2.5, plain("2.5"))
      assert.equal(math.huge, plain("1e999"))
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("0") })
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("x") })
      assert.equal(0.5, strict("0.5"))
      assert.same({ nil, "--interval wants a positive number of seconds, got '1e999'" },
         { strict("1e999") })
      assert.same({ nil, "--interval wants a positive number of seconds, got '-1'" },
         { strict("-1") })
   end)

   it("adds the standard options in their order, with the standard help", function()
      local parser = argparse("x", "X.")
      cli.common(parser, { json = true, iface = true, duration = { demo = 2 },
         cgroup = { demo = "its own" } })
      assert.equal("Usage: x [-h] --iface <name> [--cgroup <path>] [--duration <sec>]\n"
         .. "       [--json]\n\nX.\n\nOptions:\n"
         .. "   -h, --help            Show this help message and exit.\n"
         .. "   --iface <name>        Interface to watch (raw AF_PACKET socket bound to it).\n"
         .. "   --cgroup <path>       cgroup v2 directory to attach to (default: the cgroup2 "
         .. "root, i.e. the whole machine; with --demo: its own).\n"
         .. "   --duration <sec>      Stop after this many seconds (default: until Ctrl-C; "
         .. "with --demo: 2).\n"
         .. "   --json                NDJSON output (fields above).", parser:get_help())
      local args = parser:parse({ "--iface", "lo", "--duration", "3" })
      assert.same({ iface = "lo", duration = 3 }, args)
      local ok, err = parser:pparse({ "--iface", "lo", "--duration", "0" })
      assert.is_false(ok)
      assert.equal("--duration wants a positive number of seconds", err)
   end)

   it("names the missing module and its package", function()
      assert.equal(cjson, cli.need("cjson", "lua-cjson", "--json"))
      errors.raises(function() cli.need("sockhost_no_such_module", "lua-nope", "--demo") end,
         "--demo needs the Lua module 'sockhost_no_such_module' (apt-get install lua-nope)")
   end)

   it("splices an array into a record, sums rows, says why the loop stopped", function()
      assert.equal('{"a":1,"list":[]}', cli.with_array(cjson, { a = 1 }, "list", {}))
      assert.equal('{"a":1,"list":[{"b":2},{"b":3}]}',
         cli.with_array(cjson, { a = 1 }, "list", { { b = 2 }, { b = 3 } }))
      assert.same({ 3, 300 }, { cli.totals({ { packets = 1, bytes = 100 },
         { packets = 2, bytes = 200 } }) })
      assert.same({ 0, 0 }, { cli.totals({}) })
      assert.equal("duration", cli.stopped("duration", nil))
      assert.equal("signal SIGINT", cli.stopped("signal", "SIGINT"))
   end)
end)

describe("helpers on a real BPF map", function()
   local obj

   setup(function()
      obj = require("helpers.fixtures").open("types")
   end)

   teardown(function()
      if obj then obj:close() end
   end)

   it("prints a histogram straight from an array map of buckets", function()
      local m = obj:map("by_u32") -- array, u32 -> u64, 4 entries
      m[0], m[1], m[2], m[3] = 0, 4, 0, 2
      assert.equal("[0]                    4 |" .. ("@"):rep(52) .. "|\n"
         .. "[1]                    0 |" .. (" "):rep(52) .. "|\n"
         .. "[2, 4)                 2 |" .. ("@"):rep(26) .. (" "):rep(26) .. "|\n",
         hist.log2_buckets(m))
      assert.equal("KEY  VALUE\n  1      4\n  3      2\n  0      0\n  2      0\n",
         tab.render(tab.rows(m), { sort = "value", desc = true, columns = { "key", "value" } }))
   end)

   it("computes interval deltas from the map without clearing it", function()
      local m = obj:map("by_u32")
      m[0], m[1], m[2], m[3] = 10, -1, 0, 7
      local iv = interval.new { interval = 1 }
      iv:update(m)
      m[0], m[1], m[2], m[3] = 25, 4, 0, 3
      local rows = iv:update(m)
      assert.same({
         { key = 0, value = 25, prev = 10, delta = 15, rate = 15.0 },
         { key = 1, value = 4, prev = -1, delta = 4, rate = 4.0, status = "reset" },
         { key = 2, value = 0, prev = 0, delta = 0, rate = 0.0 },
         { key = 3, value = 3, prev = 7, delta = 3, rate = 3.0, status = "reset" },
      }, rows)
      assert.equal(25, m[0], "the map still holds its counters")
      assert.equal('{"key":1,"prev":18446744073709551615,"value":4}',
         ndjson.encode({ key = 1, value = m[1], prev = rows[2].prev },
            { unsigned = { prev = true } }))
   end)
end)
