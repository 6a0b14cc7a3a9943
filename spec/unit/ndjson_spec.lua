-- SPDX-License-Identifier: GPL-2.0
-- sockhost.ndjson (pure Lua + lua-cjson): one JSON value a line, exact text throughout.
local ndjson = require "sockhost.ndjson"
local cjson = require "cjson"
local errors = require "helpers.errors"

describe("sockhost.ndjson #unit", function()
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

   it("stamps a tool's record with its type and time, first, the time to the microsecond",
      function()
      local fh = io.tmpfile()
      local w = ndjson.writer(fh, { order = { "n" }, clock = function() return 1700000000.25 end })
      w:emit("stats", { x = 1, n = 2 }):emit("total", { n = 3 })
      w:write({ ts = 12.5, a = 1 })
      fh:seek("set")
      assert.equal('{"type":"stats","ts":1700000000.250000,"n":2,"x":1}\n'
         .. '{"type":"total","ts":1700000000.250000,"n":3}\n'
         .. '{"a":1,"ts":12.500000}\n', fh:read("a"))
      fh:close()
      -- an integral ts is an integer: printed as one
      assert.equal('{"ts":5}', ndjson.encode({ ts = 5 }))
      errors.raises(function() w:emit(nil, {}) end,
         "bad argument #1 to 'emit' (record type string expected, got nil)")
      errors.raises(function() ndjson.writer(io.stdout, { clock = 1 }) end,
         "bad option 'clock' (function expected, got number)")
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
