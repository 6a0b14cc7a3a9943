-- SPDX-License-Identifier: GPL-2.0
-- sockhost.complete (pure Lua): the REPL's Tab completion, on environments the spec builds.
-- The executable's use of it (readline, --complete) is spec/tools/cli_spec.lua's.
local complete = require "sockhost.complete"

describe("sockhost.complete #unit", function()
   -- a stand-in for a sockhost handle: its __index is a function that looks in the
   -- metatable's `methods` (host/lua/class.c), so completion must find `methods` itself
   local methods = { lookup = function() end, lookup_and_delete = function() end,
      update = function() end }
   local handle = setmetatable({}, {
      __index = function(_, k) return methods[k] end,
      methods = methods,
   })
   local base = { open = print, open_pinned = print, on_log = print, version = "1.0" }
   local env = {
      sockhost = setmetatable({ run = print }, { __index = base }),
      string = string,
      m = handle,
      s = "text",
      print = print,
      private = 1,
      [1] = "not a name",
      ["not-a-name"] = true,
      boom = setmetatable({}, { __index = function() error("no fields here") end }),
   }

   it("completes fields, through __index tables", function()
      assert.same({ "sockhost.open", "sockhost.open_pinned" },
         complete.candidates("sockhost.ope", env))
      assert.same({ "sockhost.on_log", "sockhost.open", "sockhost.open_pinned", "sockhost.run",
         "sockhost.version" }, complete.candidates("sockhost.", env))
      assert.same({ "string.format" }, complete.candidates("string.fo", env))
   end)

   it("completes methods of handles and strings after ':', only functions", function()
      assert.same({ "m:lookup", "m:lookup_and_delete" }, complete.candidates("m:lo", env))
      assert.same({ "s:upper" }, complete.candidates("s:up", env))
      assert.same({}, complete.candidates("sockhost:vers", env))
      assert.same({ "sockhost.version" }, complete.candidates("sockhost.vers", env))
   end)

   it("completes globals and keywords, only identifiers", function()
      assert.same({ "print", "private" }, complete.candidates("pri", env))
      assert.same({ "repeat", "return" }, complete.candidates("re", env))
      assert.same({ "not" }, complete.candidates("not", env))
   end)

   it("completes nothing for paths that lead nowhere or raise", function()
      assert.same({}, complete.candidates("nosuch.x", env))
      assert.same({}, complete.candidates("boom.x", env))
      assert.same({}, complete.candidates("m:lookup:x", env))
      assert.same({}, complete.candidates("sockhost..open", env))
      assert.same({}, complete.candidates("string.zzz", env))
   end)

   it("uses _G when no environment is given", function()
      assert.same({ "table.concat" }, complete.candidates("table.conc"))
   end)
end)
