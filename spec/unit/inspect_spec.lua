-- SPDX-License-Identifier: GPL-2.0
-- sockhost.inspect (pure Lua): the REPL's rendering of any value, exact strings throughout.
local inspect = require "sockhost.inspect"

describe("sockhost.inspect #unit", function()
   it("prints scalars, quoting strings with \\n, \\r, \\t escapes", function()
      assert.equal("42", inspect(42))
      assert.equal("1.5", inspect(1.5))
      assert.equal("nil", inspect(nil))
      assert.equal("true", inspect(true))
      assert.equal('"a\\"b\\\\c\\n\\r\\t\\001"', inspect('a"b\\c\n\r\t\1'))
   end)

   it("prints the sequence first, then keys sorted: numbers, strings, others", function()
      assert.equal("{ 1, 2, 3 }", inspect({ 1, 2, 3 }))
      assert.equal('{ a = { 1 }, b = "x" }', inspect({ b = "x", a = { 1 } }))
      assert.equal('{ "s", [5] = 5, [10] = 10, x = 1, [true] = 0 }',
         inspect({ "s", x = 1, [10] = 10, [5] = 5, [true] = 0 }))
      assert.equal('{ ["end"] = 1, ["two words"] = 2 }', inspect({ ["end"] = 1, ["two words"] = 2 }))
      assert.equal("{}", inspect({}))
   end)

   it("marks cycles, cuts depth and items", function()
      local t = { name = "t" }
      t.self = t
      assert.equal('{ name = "t", self = <cycle> }', inspect(t))
      local shared = { 1 }
      assert.equal("{ { 1 }, { 1 } }", inspect({ shared, shared }), "a table seen twice is no cycle")
      assert.equal("{ { { ... } } }", inspect({ { { { 1 } } } }, { depth = 2 }))
      assert.equal("{ { {} } }", inspect({ { {} } }, { depth = 2 }))
      assert.equal("{ 1, 2, ... (3 more) }", inspect({ 1, 2, 3, 4, 5 }, { items = 2 }))
   end)

   it("uses __tostring, never __index or __pairs", function()
      local handle = setmetatable({}, { __tostring = function() return "sockhost.map 'conns'" end })
      assert.equal("{ m = sockhost.map 'conns' }", inspect({ m = handle }))
      local touchy = setmetatable({ a = 1 }, {
         __index = function() error("__index used") end,
         __pairs = function() error("__pairs used") end,
      })
      assert.equal("{ a = 1 }", inspect(touchy))
   end)

   it("breaks long tables into one entry a line, indented", function()
      local long = {}
      for i = 1, 3 do long[i] = ("x"):rep(30) end
      local x30 = '"' .. ("x"):rep(30) .. '"'
      assert.equal("{\n  " .. x30 .. ",\n  " .. x30 .. ",\n  " .. x30 .. "\n}", inspect(long))
      assert.equal('{\n  k = {\n    ' .. x30 .. ',\n    ' .. x30 .. ',\n    ' .. x30 .. '\n  }\n}',
         inspect({ k = long }))
   end)
end)
