-- SPDX-License-Identifier: GPL-2.0
-- The SDK's histogram helpers (SH_HIST, sh_log2_bucket, sh_lin_bucket, sh_hist_inc in
-- include/sockhost/sockhost.bpf.h) in a real BPF program (spec/fixtures/hist.bpf.c), read
-- by sockhost.hist with no translation: the printout is bpftrace's hist()/lhist() for the
-- same values (bpftrace 0.17's own output, spec/helpers/bpftrace_hist.lua, which unit/hist
-- prints from plain tables). The BPF program runs through BPF_PROG_TEST_RUN, as many times
-- as a value is counted (test_run's repeat), the value set in its .bss first.
local hist = require "sockhost.hist"
local fixtures = require "helpers.fixtures"
local refs = require "helpers.bpftrace_hist"

-- an IPv4/UDP frame: a socket filter's test_run needs at least an ethernet header
local PKT = string.rep("\0", 12) .. "\8\0" .. "\69\0\0\28" .. "\0\0\0\0" .. "\64\17\0\0"
   .. "\127\0\0\1\127\0\0\1" .. "\0\1\0\2\0\8\0\0"

-- Run the fixture's program count times for each value of {value -> count}; the object.
local function record(values)
   local obj = fixtures.open("hist")
   local prog = obj:program("record")
   for v, count in pairs(values) do
      obj.globals.value = v
      assert.equal(0, prog:test_run({ data = PKT, ["repeat"] = count }).retval)
   end
   return obj
end

describe("SDK histograms read by sockhost.hist #kernel", function()
   it("prints the log2 map exactly as bpftrace's hist()", function()
      local obj <close> = record(refs.h.values)
      assert.equal(refs.h.out, hist.log2_buckets(obj:map("pow2"), { title = "@h" }))
   end)

   it("prints the linear map exactly as bpftrace's lhist()", function()
      local obj <close> = record(refs.l.values)
      assert.equal(refs.l.out, hist.linear_buckets(obj:map("lin"), 0, 100, 10, { title = "@l" }))
   end)

   it("numbers every bucket as hist.log2_index and hist.linear_index do", function()
      -- the edges of each log2 bucket, up to the top of the signed range, and the values a
      -- u64 at or above 2^63 reads as (negative: bucket 0)
      local values = { 0, 1, 2, 3, 4, 7, 8, 1023, 1024, -1, math.mininteger, math.maxinteger,
         1 << 62, (1 << 62) - 1, 1 << 32, (1 << 32) - 1, -100, 9, 10, 11, 95, 100 }
      local obj <close> = fixtures.open("hist")
      local prog = obj:program("record")
      for _, v in ipairs(values) do
         obj:map("pow2"):clear()
         obj:map("lin"):clear()
         obj.globals.value = v
         prog:test_run({ data = PKT })
         local got = {}
         for k, c in pairs(obj:map("pow2")) do
            if c ~= 0 then got[#got + 1] = k end
         end
         assert.same({ hist.log2_index(v) }, got, "log2 bucket of " .. v)
         got = {}
         for k, c in pairs(obj:map("lin")) do
            if c ~= 0 then got[#got + 1] = k end
         end
         assert.same({ hist.linear_index(v, 0, 100, 10) }, got, "linear bucket of " .. v)
      end
      -- 65 log2 buckets hold every 64-bit value; 0..9 for [0, 100) by 10, plus two
      assert.equal(65, obj:map("pow2").max_entries)
      assert.equal(12, obj:map("lin").max_entries)
      assert.equal(64, hist.log2_index(math.maxinteger))
   end)
end)
