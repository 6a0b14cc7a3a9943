-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/elfbtf.lua (pure Lua): the ELF64/BTF reader and patcher the hostile-input specs
-- and the fuzz seeds are made with, checked against the types fixture built into the build
-- tree (plain files: no root needed) and against what spec/fixtures/types.bpf.c declares.
local elfbtf = require "helpers.elfbtf"
local fixtures = require "helpers.fixtures"
local errors = require "helpers.errors"

describe("helpers.elfbtf #unit", function()
   local f

   setup(function()
      f = elfbtf.read(fixtures.path("types"))
   end)

   it("lists the sections with their offsets and sizes, inside the file", function()
      for _, name in ipairs({ ".BTF", ".symtab", ".strtab", ".maps", ".rodata", ".data", ".bss" }) do
         assert.is_table(f:section(name), name)
      end
      assert.equal(247, f.ehdr.machine)
      assert.equal(12, f:section(".data").size) -- seen (4) + last (8)
      assert.equal(36, f:section(".rodata").size)
      for _, s in ipairs(f.sections) do
         if s.type ~= 8 then -- SHT_NOBITS (.bss) has no bytes in the file
            assert.is_true(s.offset + s.size <= #f.bytes, s.name)
         end
      end
      assert.equal(f:section(".BTF").index, f:section_at(f:section(".BTF").index).index)
   end)

   it("parses the BTF header and walks the type section to its exact end", function()
      local h = f.btf.hdr
      assert.same({ 0xeb9f, 1, 24 }, { h.magic, h.version, h.hdr_len })
      local last = f.btf.types[#f.btf.types]
      local kind_extra = { [4] = 12, [15] = 12, [6] = 8 }
      local size = 12 + (kind_extra[last.kind] or 0) * last.vlen
      assert.equal(f.btf.types_off + h.type_len, last.off + size)
      assert.equal(f.btf.off + f:section(".BTF").size, f.btf.strings_off + h.str_len)
      assert.equal("", f:string(0))
      assert.is_nil(f:string(h.str_len))
   end)

   it("reads structs, bitfields, enums, arrays, vars and datasecs as types.bpf.c declares them", function()
      local addr = f:type("struct", "fx_addr")
      assert.equal(8, addr.size)
      local got = {}
      for _, m in ipairs(addr.members) do got[#got + 1] = ("%s@%d"):format(m.name, m.bit_offset) end
      assert.same({ "ip@0", "port@32", "proto@48", "pad@56" }, got)
      assert.equal("__u16", f.btf.types[f:member(addr, "port").type].name)

      local bits = f:type("struct", "fx_bits")
      assert.is_true(bits.kflag)
      assert.same({ 104, 24 }, { f:member(bits, "swide").bit_offset, f:member(bits, "swide").bitfield_size })
      assert.same({ 3, 5 }, { f:member(bits, "u5").bit_offset, f:member(bits, "u5").bitfield_size })

      local op = f:type("enum", "fx_op")
      got = {}
      for _, v in ipairs(op.values) do got[#got + 1] = v.name .. "=" .. v.value end
      assert.same({ "FX_NONE=0", "FX_READ=1", "FX_WRITE=2", "FX_CLOSE=7" }, got)
      local lvl = f:type("enum", "fx_level")
      assert.equal(-1, lvl.values[1].value)

      local arr = f.btf.types[f:type("var", "banner").type] -- const volatile char[16]
      assert.same({ "array", 16 }, { arr.kind_name, arr.nelems })
      local const = f.btf.types[arr.elem]
      assert.equal("const", const.kind_name)
      assert.equal("volatile", f.btf.types[const.type].kind_name)
      assert.equal("char", f.btf.types[f.btf.types[const.type].type].name)

      local data = f:type("datasec", ".data")
      got = {}
      for _, v in ipairs(data.vars) do got[#got + 1] = v.name .. "+" .. v.size end
      assert.same({ "seen+4", "last+8" }, got)
      assert.equal(0, data.size) -- clang leaves it to libbpf
      assert.equal(1, f:type("var", "seen").linkage)
      assert.equal("touch_globals", f:type("func", "touch_globals").name)
      assert.equal("func_proto", f.btf.types[f:type("func", "touch_globals").type].kind_name)
      assert.equal("fwd", f:type("fwd", "bpf_sock").kind_name)
   end)

   it("reads the ELF symbol table with each symbol's section and value", function()
      local last, delta = f:symbol("last"), f:symbol("delta")
      assert.same({ ".data", 4, 8 }, { f:section_at(last.shndx).name, last.value, last.size })
      assert.same({ ".bss", 8, 2 }, { f:section_at(delta.shndx).name, delta.value, delta.size })
      assert.equal(8, string.unpack("<I8", f.bytes, delta.value_off + 1))
      assert.equal(delta.shndx, string.unpack("<I2", f.bytes, delta.shndx_off + 1))
      errors.raises(function() return f:symbol("nope") end, "no ELF symbol 'nope'")
   end)

   it("patches copies: member offsets (bitfields keep their width), names, references", function()
      local addr, bits = f:type("struct", "fx_addr"), f:type("struct", "fx_bits")
      local g = elfbtf.parse(elfbtf.set_member_offset(f, addr.id, "port", 64))
      assert.equal(64, g:member(g.btf.types[addr.id], "port").bit_offset)
      assert.equal(32, f:member(addr, "port").bit_offset, "the parsed file is never changed")
      g = elfbtf.parse(elfbtf.set_member_offset(f, bits.id, "swide", 120))
      assert.same({ 120, 24 }, { g:member(g.btf.types[bits.id], "swide").bit_offset,
         g:member(g.btf.types[bits.id], "swide").bitfield_size })

      g = elfbtf.parse(elfbtf.set_name_off(f, addr.id, f.btf.hdr.str_len + 1))
      assert.is_nil(g.btf.types[addr.id].name)
      g = elfbtf.parse(elfbtf.set_member_name_off(f, addr.id, 2, 0))
      assert.equal("", g.btf.types[addr.id].members[2].name)
      local op = f:type("enum", "fx_op")
      g = elfbtf.parse(elfbtf.set_enumerator_name_off(f, op.id, 2, f.btf.types[addr.id].name_off))
      assert.equal("fx_addr", g.btf.types[op.id].values[2].name)

      local vol = f.btf.types[f:type("var", "port").type].type
      g = elfbtf.parse(elfbtf.self_cycle(f, vol))
      assert.equal(vol, g.btf.types[vol].type)
      local kinds = f:type("struct", "fx_kinds")
      local anon = f:member(kinds, "")
      g = elfbtf.parse(elfbtf.self_member(f, kinds.id, anon.index))
      assert.equal(kinds.id, g.btf.types[kinds.id].members[anon.index].type)
      errors.raises(function() return elfbtf.self_member(f, addr.id, 1) end, "member is not anonymous")
      local arr = f:type("var", "banner").type
      g = elfbtf.parse(elfbtf.set_array_elem(f, arr, arr))
      assert.equal(arr, g.btf.types[arr].elem)
      g = elfbtf.parse(elfbtf.set_var_linkage(f, f:type("var", "seen").id, 0))
      assert.equal(0, g:type("var", "seen").linkage)
   end)

   it("patches datasec vars, symbol values, and truncates", function()
      local data = f:type("datasec", ".data")
      local g = elfbtf.parse(elfbtf.set_datasec_var(f, data.id, 2, 4096, 8, 12))
      local d = g.btf.types[data.id]
      assert.same({ 12, 4096, 8, "last" }, { d.size, d.vars[2].offset, d.vars[2].size, d.vars[2].name })
      g = elfbtf.parse(elfbtf.set_symbol_value(f, "last", 4096))
      assert.equal(4096, g:symbol("last").value)
      assert.equal(#f.bytes, #g.bytes)
      assert.equal(100, #elfbtf.truncate(f, 100))
      assert.equal(f.bytes:sub(1, 100), elfbtf.truncate(f, 100))
      errors.raises(function() return elfbtf.poke(f, #f.bytes - 2, "abcd") end, "patch outside the file")
   end)

   it("refuses what is not a little-endian ELF64 file", function()
      errors.raises(function() return elfbtf.parse("MZ\0\0") end, "not an ELF file")
      errors.raises(function() return elfbtf.parse("\127ELF\1\1") end,
         "not a little-endian ELF64 file")
   end)
end)
