-- SPDX-License-Identifier: GPL-2.0
-- The pure-Lua helpers (sockhost.hist, .tab, .interval, .ndjson) fed from a real BPF map of
-- the types fixture (spec/fixtures/types.bpf.c) instead of a stand-in: what unit/ checks with
-- fake maps holds for the kernel's.
local tab = require "sockhost.tab"
local hist = require "sockhost.hist"
local interval = require "sockhost.interval"
local ndjson = require "sockhost.ndjson"

describe("helpers on a real BPF map #kernel", function()
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
