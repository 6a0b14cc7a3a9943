-- SPDX-License-Identifier: GPL-2.0
-- sockhost.interval (pure Lua): per-interval deltas and rates of counters, resets included.
local interval = require "sockhost.interval"
local errors = require "helpers.errors"
local fake_map = require("helpers.fakemap").new

describe("sockhost.interval #unit", function()
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
