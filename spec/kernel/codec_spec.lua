-- Map keys, map values and globals round-trip through the BTF codec: every kind of type in
-- spec/fixtures/types.bpf.c, the boundaries of every integer width, and the exact messages
-- for bad input. Only the public Lua API (doc/api.md) is used.
local sockhost = require "sockhost"

local path = require("helpers.fixtures").path("types")

local function zero_addr()
   return { ip = 0, port = 0, proto = 0, pad = 0 }
end

-- What a struct fx_kinds of zero bytes decodes to.
local function zero_kinds()
   return {
      u8v = 0, u16v = 0, u32v = 0, u64v = 0,
      s8v = 0, s16v = 0, s32v = 0, s64v = 0,
      flag = false, ch = 0, op = "FX_NONE", lvl = "FX_MID",
      src = zero_addr(),
      raw = { as_u32 = 0, bytes = { 0, 0, 0, 0 } },
      sport = 0, dport = 0,
      cookie = 0, scookie = 0,
      hops = { zero_addr(), zero_addr(), zero_addr() },
      grid = { { 0, 0, 0 }, { 0, 0, 0 } },
      comm = "", tag = "",
      mac = { 0, 0, 0, 0, 0, 0 },
      ptr = 0, ratio = 0, mean = 0,
   }
end

local function zero_bits()
   return {
      u3 = 0, u5 = 0, s3 = 0, s5 = 0, mid = 0, on = false, kind = "FX_NONE", after = 0,
      wide = 0, swide = 0,
   }
end

local function with(t, fields)
   for k, v in pairs(fields) do
      t[k] = v
   end
   return t
end

-- m[k] = v, read it back (as expect when the codec normalises v), then delete it so the
-- small hash maps of the fixture never fill up.
local function roundtrip(m, k, v, expect)
   if expect == nil then
      expect = v
   end
   m[k] = v
   assert.same(expect, m[k])
   m[k] = nil
   assert.is_nil(m[k])
end

-- The keys pairs(m) yields, decoded.
local function keys(m)
   local out = {}
   for k in pairs(m) do
      out[#out + 1] = k
   end
   return out
end

describe("sockhost codec #kernel", function()
   local obj

   setup(function()
      obj = sockhost.open(path)
   end)

   teardown(function()
      if obj then
         obj:close()
      end
   end)

   describe("integers", function()
      it("round-trips u8 keys and s8 values at their limits", function()
         local m = obj:map("u8_s8")
         for _, k in ipairs { 0, 1, 127, 128, 255 } do
            for _, v in ipairs { 0, -1, -128, 127 } do
               roundtrip(m, k, v)
            end
         end
      end)

      it("round-trips u16 keys and s16 values at their limits", function()
         local m = obj:map("u16_s16")
         for _, k in ipairs { 0, 65535 } do
            for _, v in ipairs { -32768, 32767, -1 } do
               roundtrip(m, k, v)
            end
         end
      end)

      it("round-trips u32 keys and s32 values at their limits", function()
         local m = obj:map("u32_s32")
         for _, k in ipairs { 0, 4294967295 } do
            for _, v in ipairs { -2147483648, 2147483647, 0 } do
               roundtrip(m, k, v)
            end
         end
      end)

      it("round-trips u64 keys and s64 values at their limits", function()
         local m = obj:map("u64_s64")
         for _, k in ipairs { 0, math.maxinteger, math.mininteger, -1 } do
            for _, v in ipairs { math.mininteger, math.maxinteger, -1, 0 } do
               roundtrip(m, k, v)
            end
         end
      end)

      it("reads u64 values >= 2^63 as negative integers with the same 64 bits", function()
         local m = obj:map("by_u32")
         m[0] = math.mininteger
         assert.same(math.mininteger, m[0])
         assert.same("8000000000000000", string.format("%x", m[0]))
         assert.is_true(math.ult(math.maxinteger, m[0]))
         m[1] = -1
         assert.same("ffffffffffffffff", string.format("%x", m[1]))
         -- floats with an exact value in [2^63, 2^64) are stored as those u64 bits
         m[2] = 2 ^ 63
         assert.same(math.mininteger, m[2])
         m[3] = 18446744073709549568.0
         assert.same(-2048, m[3])
      end)

      it("accepts floats with an exact integer value", function()
         local m = obj:map("u32_s32")
         roundtrip(m, 7.0, -3.0, -3)
      end)

      it("decodes keys through pairs()", function()
         local m = obj:map("u64_s64")
         m[-1] = 1
         assert.same({ -1 }, keys(m))
         m[-1] = nil
         assert.same({}, keys(m))
      end)

      it("rejects out of range integers", function()
         local u8 = obj:map("u8_s8")
         local u16 = obj:map("u16_s16")
         local u32 = obj:map("u32_s32")
         local u64 = obj:map("u64_s64")
         assert.has_error(function() u8[256] = 0 end,
            "map 'u8_s8' key: integer 256 out of range for u8")
         assert.has_error(function() u8[0] = 128 end,
            "map 'u8_s8' value: integer 128 out of range for s8")
         assert.has_error(function() u8[0] = -129 end,
            "map 'u8_s8' value: integer -129 out of range for s8")
         assert.has_error(function() u16[65536] = 0 end,
            "map 'u16_s16' key: integer 65536 out of range for u16")
         assert.has_error(function() u16[0] = 32768 end,
            "map 'u16_s16' value: integer 32768 out of range for s16")
         assert.has_error(function() u32[4294967296] = 0 end,
            "map 'u32_s32' key: integer 4294967296 out of range for u32")
         assert.has_error(function() u32[0] = 2147483648 end,
            "map 'u32_s32' value: integer 2147483648 out of range for s32")
         assert.has_error(function() u32[1e20] = 0 end,
            "map 'u32_s32' key: number 1e+20 out of range for u32")
         assert.has_error(function() u64[0] = 2 ^ 63 end,
            "map 'u64_s64' value: number 9.2233720368548e+18 out of range for s64")
         assert.same({}, keys(u8))
         assert.same({}, keys(u16))
         assert.same({}, keys(u32))
      end)

      it("rejects negative values for unsigned types", function()
         local u8 = obj:map("u8_s8")
         local u16 = obj:map("u16_s16")
         local u32 = obj:map("u32_s32")
         assert.has_error(function() u8[-1] = 0 end,
            "map 'u8_s8' key: integer -1 out of range for u8")
         assert.has_error(function() u16[-1] = 0 end,
            "map 'u16_s16' key: integer -1 out of range for u16")
         assert.has_error(function() u32[-1] = 0 end,
            "map 'u32_s32' key: integer -1 out of range for u32")
      end)

      it("rejects values of the wrong Lua type", function()
         local u8 = obj:map("u8_s8")
         local u32 = obj:map("u32_s32")
         assert.has_error(function() u8["1"] = 0 end,
            "map 'u8_s8' key: expected integer, got string")
         assert.has_error(function() u32[0] = "x" end,
            "map 'u32_s32' value: expected integer, got string")
         assert.has_error(function() u32[0] = true end,
            "map 'u32_s32' value: expected integer, got boolean")
         assert.has_error(function() u32[0] = 1.5 end,
            "map 'u32_s32' value: number 1.5 has no integer representation")
         assert.same({}, keys(u32))
      end)
   end)

   describe("enums and bools", function()
      it("reads enumerators by name and takes names or integers", function()
         local m = obj:map("by_op")
         for _, k in ipairs { "FX_NONE", "FX_READ", "FX_WRITE", "FX_CLOSE" } do
            roundtrip(m, k, true)
         end
         m[2] = true
         assert.same({ "FX_WRITE" }, keys(m))
         assert.is_true(m.FX_WRITE)
         m.FX_WRITE = nil
      end)

      it("reads values without an enumerator as integers", function()
         local m = obj:map("by_op")
         m[5] = false
         assert.same({ 5 }, keys(m))
         assert.is_false(m[5])
         m[5] = nil
         roundtrip(m, 4294967295, true)
      end)

      it("takes booleans and integers for bool", function()
         local m = obj:map("by_op")
         roundtrip(m, "FX_READ", false)
         roundtrip(m, "FX_READ", true)
         roundtrip(m, "FX_READ", 0, false)
         roundtrip(m, "FX_READ", 1, true)
         roundtrip(m, "FX_READ", 5, true)
      end)

      it("rejects unknown enumerators and wrong types", function()
         local m = obj:map("by_op")
         assert.has_error(function() m.FX_BOGUS = true end,
            "map 'by_op' key: unknown enumerator 'FX_BOGUS' for enum fx_op "
            .. "(valid: FX_NONE, FX_READ, FX_WRITE, FX_CLOSE)")
         assert.has_error(function() m[4294967296] = true end,
            "map 'by_op' key: integer 4294967296 out of range for enum fx_op")
         assert.has_error(function() m.FX_READ = "yes" end,
            "map 'by_op' value: expected boolean or integer, got string")
         assert.same({}, keys(m))
      end)
   end)

   describe("strings and structs", function()
      it("round-trips char[16] keys", function()
         local m = obj:map("by_comm")
         local addr = { ip = 0x7f000001, port = 8080, proto = 6, pad = 0 }
         roundtrip(m, "curl", addr)
         roundtrip(m, "", addr)
         roundtrip(m, string.rep("x", 16), addr)
         m.curl = addr
         assert.same({ "curl" }, keys(m))
         m.curl = nil
      end)

      it("cuts char arrays at the first NUL when reading", function()
         local m = obj:map("all_kinds")
         local key = { id = 3, op = "FX_NONE" }
         roundtrip(m, key, { comm = "ab\0cd", tag = "\0x" },
            with(zero_kinds(), { comm = "ab", tag = "" }))
      end)

      it("fills missing struct fields with zero", function()
         local m = obj:map("by_comm")
         roundtrip(m, "sshd", { port = 22 }, with(zero_addr(), { port = 22 }))
         roundtrip(m, "sshd", {}, zero_addr())
      end)

      it("rejects strings that do not fit and non-strings", function()
         local m = obj:map("by_comm")
         assert.has_error(function() m[string.rep("x", 17)] = {} end,
            "map 'by_comm' key: string of 17 bytes too long for char[16]")
         assert.has_error(function() m[5] = {} end,
            "map 'by_comm' key: expected string, got number")
         assert.same({}, keys(m))
      end)

      it("rejects unknown fields, naming the valid ones", function()
         local m = obj:map("by_comm")
         assert.has_error(function() m.curl = { port = 1, foo = 2 } end,
            "map 'by_comm' value: unknown field 'foo' in struct fx_addr "
            .. "(fields: ip, port, proto, pad)")
         assert.has_error(function() m.curl = { 1, 2 } end,
            "map 'by_comm' value: unknown field 1 in struct fx_addr "
            .. "(fields: ip, port, proto, pad)")
         assert.has_error(function() m.curl = 3 end,
            "map 'by_comm' value: expected table, got number")
         assert.has_error(function() m.curl = { port = 70000 } end,
            "map 'by_comm' value: field 'port': integer 70000 out of range for u16")
         assert.is_nil(m.curl)
      end)
   end)

   describe("every kind in one struct", function()
      local key = { id = 1, op = "FX_READ" }
      local full = {
         u8v = 255, u16v = 65535, u32v = 4294967295, u64v = math.mininteger,
         s8v = -128, s16v = -32768, s32v = -2147483648, s64v = math.mininteger,
         flag = true, ch = -5, op = "FX_CLOSE", lvl = "FX_LOW",
         src = { ip = 0x0a000001, port = 443, proto = 6, pad = 0 },
         raw = { as_u32 = 0x04030201, bytes = { 1, 2, 3, 4 } },
         sport = 1234, dport = 80,
         cookie = -2, scookie = -2,
         hops = {
            { ip = 1, port = 2, proto = 3, pad = 4 },
            { ip = 5, port = 6, proto = 7, pad = 8 },
            { ip = 9, port = 10, proto = 11, pad = 12 },
         },
         grid = { { 1, 2, 3 }, { 4, 5, 4294967295 } },
         comm = "sockhost-spec",
         tag = "abcd",
         mac = { 0, 0x11, 0x22, 0, 0x44, 0xff },
         ptr = 0x7fff12345678,
         ratio = 1.5, mean = -2.25,
      }

      it("round-trips a value using every field", function()
         roundtrip(obj:map("all_kinds"), key, full)
      end)

      it("round-trips the positive limits", function()
         local v = with(zero_kinds(), {
            u64v = math.maxinteger, s8v = 127, s16v = 32767, s32v = 2147483647,
            s64v = math.maxinteger, lvl = "FX_HIGH", ptr = -1,
         })
         roundtrip(obj:map("all_kinds"), key, v)
      end)

      it("decodes struct keys through pairs()", function()
         local m = obj:map("all_kinds")
         m[{ id = 7, op = 2 }] = {}
         assert.same({ { id = 7, op = "FX_WRITE" } }, keys(m))
         assert.same(zero_kinds(), m[{ id = 7, op = "FX_WRITE" }])
         m[{ id = 7, op = "FX_WRITE" }] = nil
      end)

      it("zeroes missing fields, array elements and holes", function()
         local v = {
            u8v = 1,
            src = { port = 2 },
            hops = { nil, { port = 9 } },
            grid = { [2] = { [3] = 7 } },
            mac = { 1 },
         }
         local expect = zero_kinds()
         expect.u8v = 1
         expect.src.port = 2
         expect.hops[2].port = 9
         expect.grid[2][3] = 7
         expect.mac[1] = 1
         roundtrip(obj:map("all_kinds"), key, v, expect)
      end)

      it("writes union members in declaration order", function()
         local m = obj:map("all_kinds")
         m[key] = { raw = { as_u32 = 0xffffffff, bytes = { 1 } }, cookie = -1 }
         local got = m[key]
         m[key] = nil
         assert.same({ as_u32 = 0xffffff01, bytes = { 1, 0xff, 0xff, 0xff } }, got.raw)
         assert.same(-1, got.scookie)
      end)

      it("names the field path in errors", function()
         local m = obj:map("all_kinds")
         local what = "map 'all_kinds' value"
         local cases = {
            { { src = { port = 70000 } },
              "field 'src.port': integer 70000 out of range for u16" },
            { { src = { bogus = 1 } },
              "field 'src': unknown field 'bogus' in struct fx_addr (fields: ip, port, proto, pad)" },
            { { hops = { {}, { port = -1 } } },
              "field 'hops[2].port': integer -1 out of range for u16" },
            { { hops = { {}, {}, {}, {} } },
              "field 'hops': sequence of 4 elements too long for struct fx_addr[3]" },
            { { grid = { { 1, 2, 3, 4 } } },
              "field 'grid[1]': sequence of 4 elements too long for u32[3]" },
            { { grid = { {}, { 1, 2, "x" } } },
              "field 'grid[2][3]': expected integer, got string" },
            { { mac = { 1, 2, x = 3 } },
              "field 'mac': unexpected key 'x' in sequence for u8[6]" },
            { { mac = { [9] = 1 } },
              "field 'mac': index 9 out of range for u8[6]" },
            { { mac = "abc" },
              "field 'mac': expected table, got string" },
            { { comm = 5 },
              "field 'comm': expected string, got number" },
            { { comm = string.rep("c", 17) },
              "field 'comm': string of 17 bytes too long for char[16]" },
            { { tag = "abcde" },
              "field 'tag': string of 5 bytes too long for u8[4]" },
            { { raw = { bytes = { 256 } } },
              "field 'raw.bytes[1]': integer 256 out of range for u8" },
            { { sport = -1 },
              "field 'sport': integer -1 out of range for u16" },
            { { u8v = 256 },
              "field 'u8v': integer 256 out of range for u8" },
            { { s8v = -129 },
              "field 's8v': integer -129 out of range for s8" },
            { { ch = 200 },
              "field 'ch': integer 200 out of range for char" },
            { { op = "NOPE" },
              "field 'op': unknown enumerator 'NOPE' for enum fx_op "
              .. "(valid: FX_NONE, FX_READ, FX_WRITE, FX_CLOSE)" },
            { { flag = "x" },
              "field 'flag': expected boolean or integer, got string" },
            { { ratio = "x" },
              "field 'ratio': expected number, got string" },
            { { ptr = {} },
              "field 'ptr': expected integer, got table" },
         }
         for _, case in ipairs(cases) do
            assert.has_error(function() m[key] = case[1] end, what .. ": " .. case[2])
         end
         assert.has_error(function() m[key] = { foo = 1 } end,
            what .. ": unknown field 'foo' in struct fx_kinds (fields: u8v, u16v, u32v, "
            .. "u64v, s8v, s16v, s32v, s64v, flag, ch, op, lvl, src, raw, sport, dport, "
            .. "cookie, scookie, hops, grid, comm, tag, mac, ptr, ratio, mean)")
         assert.has_error(function() m[{ id = 1, opp = 2 }] = {} end,
            "map 'all_kinds' key: unknown field 'opp' in struct fx_key (fields: id, op)")
         assert.same({}, keys(m))
      end)
   end)

   describe("bitfields", function()
      it("round-trips the limits of signed and unsigned bitfields", function()
         local m = obj:map("bits")
         local max = {
            u3 = 7, u5 = 31, s3 = 3, s5 = 15, mid = 4095, on = true, kind = "FX_CLOSE",
            after = 255, wide = (1 << 40) - 1, swide = (1 << 23) - 1,
         }
         local min = with(zero_bits(), { s3 = -4, s5 = -16, swide = -(1 << 23) })
         m[0] = max
         m[1] = min
         assert.same(max, m[0])
         assert.same(min, m[1])
         m[0] = { s3 = -1, u5 = 1, kind = 5 }
         assert.same(with(zero_bits(), { s3 = -1, u5 = 1, kind = 5 }), m[0])
      end)

      it("rejects values that do not fit the bit width", function()
         local m = obj:map("bits")
         local what = "map 'bits' value: "
         assert.has_error(function() m[0] = { u3 = 8 } end,
            what .. "field 'u3': integer 8 out of range for unsigned 3-bit bitfield")
         assert.has_error(function() m[0] = { u3 = -1 } end,
            what .. "field 'u3': integer -1 out of range for unsigned 3-bit bitfield")
         assert.has_error(function() m[0] = { u5 = 32 } end,
            what .. "field 'u5': integer 32 out of range for unsigned 5-bit bitfield")
         assert.has_error(function() m[0] = { s3 = 4 } end,
            what .. "field 's3': integer 4 out of range for signed 3-bit bitfield")
         assert.has_error(function() m[0] = { s5 = -17 } end,
            what .. "field 's5': integer -17 out of range for signed 5-bit bitfield")
         assert.has_error(function() m[0] = { kind = 8 } end,
            what .. "field 'kind': integer 8 out of range for enum fx_op")
      end)
   end)

   describe("arrays", function()
      it("round-trips a 2-D array value", function()
         local m = obj:map("matrix")
         m[0] = { { 1, 2, 3 }, { 4, 5, 4294967295 } }
         assert.same({ { 1, 2, 3 }, { 4, 5, 4294967295 } }, m[0])
         m[1] = { { 9 } }
         assert.same({ { 9, 0, 0 }, { 0, 0, 0 } }, m[1])
      end)

      it("rejects sequences longer than the array", function()
         local m = obj:map("matrix")
         assert.has_error(function() m[0] = { {}, {}, {} } end,
            "map 'matrix' value: sequence of 3 elements too long for u32[2][3]")
         assert.has_error(function() m[0] = { {}, { 1, -1 } } end,
            "map 'matrix' value: field '[2][2]': integer -1 out of range for u32")
      end)
   end)

   describe("globals", function()
      it("sets .rodata before load and reads it back after", function()
         local o = sockhost.open(path, { load = false })
         finally(function() o:close() end)
         assert.same(64, o.globals.max_conns)
         assert.same("sockhost", o.globals.banner)
         o.globals.port = 8080
         o.globals.default_op = "FX_CLOSE"
         o.globals.banner = "hi"
         o.globals.listen_addr = { ip = 0x0a000001, port = 443 }
         assert.same(8080, o.globals.port)
         o:load()
         assert.is_true(o.loaded)
         assert.same(8080, o.globals.port)
         assert.same("FX_CLOSE", o.globals.default_op)
         assert.same("hi", o.globals.banner)
         assert.same(64, o.globals.max_conns)
         assert.same({ ip = 0x0a000001, port = 443, proto = 0, pad = 0 }, o.globals.listen_addr)
         assert.has_error(function() o.globals.port = 1 end, "global 'port' is read-only after "
            .. "load (it is in .rodata: set it in open's opts.globals or before obj:load())")
         assert.same(8080, o.globals.port)
      end)

      it("takes globals as an open option", function()
         local o = sockhost.open(path, { globals = { port = 9090, default_op = 2 } })
         finally(function() o:close() end)
         assert.same(9090, o.globals.port)
         assert.same("FX_WRITE", o.globals.default_op)
      end)

      it("reads and writes .data and .bss after load", function()
         local o = sockhost.open(path)
         finally(function() o:close() end)
         assert.same(7, o.globals.seen)
         assert.same(with(zero_addr(), { port = 443 }), o.globals.last)
         assert.same(0, o.globals.counter)
         assert.same("", o.globals.last_comm)
         o.globals.counter = -1
         o.globals.delta = -32768
         o.globals.last_comm = "abc"
         o.globals.last = { ip = 1 }
         assert.same(-1, o.globals.counter)
         assert.same(-32768, o.globals.delta)
         assert.same("abc", o.globals.last_comm)
         assert.same(with(zero_addr(), { ip = 1 }), o.globals.last)
      end)

      it("rejects bad values with the codec's messages", function()
         local o = sockhost.open(path, { load = false })
         finally(function() o:close() end)
         assert.error_matches(function() o.globals.port = 70000 end,
            "integer 70000 out of range for u16", 1, true)
         assert.error_matches(function() o.globals.port = -1 end,
            "integer -1 out of range for u16", 1, true)
         assert.error_matches(function() o.globals.banner = string.rep("b", 17) end,
            "string of 17 bytes too long for char[16]", 1, true)
         assert.error_matches(function() o.globals.listen_addr = { port = 1, foo = 1 } end,
            "unknown field 'foo' in struct fx_addr (fields: ip, port, proto, pad)", 1, true)
         assert.error_matches(function() o.globals.max_conns = -1 end,
            "integer -1 out of range for u32", 1, true)
         -- a failed write leaves the old value alone
         assert.same(0, o.globals.port)
         assert.same(64, o.globals.max_conns)
         assert.same({ ip = 0x7f000001, port = 80, proto = 0, pad = 0 }, o.globals.listen_addr)
      end)
   end)
end)
