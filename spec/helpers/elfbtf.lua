-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/elfbtf.lua: a reader and patcher for little-endian ELF64 BPF objects, in pure
-- Lua 5.4 (string.pack/unpack), for the specs that feed sockhost malformed objects and for
-- the fuzz seeds. It parses the section table, the symbol table (.symtab) and the .BTF
-- section (header, string section, every type with its byte offset in the file) and makes
-- patched copies of the bytes: the parsed file is never changed, each patch returns a string.
--
--   local elfbtf = require "helpers.elfbtf"
--   local f = elfbtf.read(fixtures.path("types"))
--   local t = f:type("struct", "fx_addr")
--   local bytes = elfbtf.set_member_offset(f, t.id, "port", 8 * 64)
--   elfbtf.write(path, bytes)

local elfbtf = {}

--- BTF kind numbers by name, and names by number.
elfbtf.KIND = {
   int = 1, ptr = 2, array = 3, struct = 4, union = 5, enum = 6, fwd = 7, typedef = 8,
   volatile = 9, const = 10, restrict = 11, func = 12, func_proto = 13, var = 14,
   datasec = 15, float = 16, decl_tag = 17, type_tag = 18, enum64 = 19,
}
local KIND_NAME = {}
for name, n in pairs(elfbtf.KIND) do KIND_NAME[n] = name end

local BTF_MAGIC = 0xeb9f
local EHDR = "<c16 I2 I2 I4 I8 I8 I8 I4 I2 I2 I2 I2 I2 I2" -- Elf64_Ehdr after e_ident
local SHDR = "<I4 I4 I8 I8 I8 I8 I4 I4 I8 I8"              -- Elf64_Shdr, 64 bytes
local SYM = "<I4 B B I2 I8 I8"                             -- Elf64_Sym, 24 bytes
local SYM_SIZE = 24

local File = {}
File.__index = File

local function cstring(bytes, at)
   local z = bytes:find("\0", at, true)
   return bytes:sub(at, (z or #bytes + 1) - 1)
end

-- Size of the data that follows a btf_type of kind with vlen entries.
local function extra_size(kind, vlen)
   if kind == 1 or kind == 14 or kind == 17 then return 4 end   -- int, var, decl_tag
   if kind == 3 then return 12 end                                -- array
   if kind == 4 or kind == 5 or kind == 15 or kind == 19 then return 12 * vlen end
   if kind == 6 or kind == 13 then return 8 * vlen end           -- enum, func_proto
   return 0
end

-- One btf_type at file offset off (1-based string index off + 1); returns it and its length.
local function parse_type(self, id, off)
   local b = self.bytes
   local name_off, info, st = string.unpack("<I4 I4 I4", b, off + 1)
   local kind, vlen = (info >> 24) & 0x1f, info & 0xffff
   local t = {
      id = id, off = off, name_off = name_off, info = info, kind = kind,
      kind_name = KIND_NAME[kind] or ("kind" .. kind), vlen = vlen,
      kflag = (info >> 31) == 1, size = st, type = st, name = self:string(name_off),
   }
   local x = off + 12
   if kind == 1 then
      local enc = string.unpack("<I4", b, x + 1)
      t.bits, t.bit_offset, t.encoding = enc & 0xff, (enc >> 16) & 0xff, (enc >> 24) & 0xf
   elseif kind == 3 then
      t.elem, t.index, t.nelems = string.unpack("<I4 I4 I4", b, x + 1)
      t.elem_off = x
   elseif kind == 4 or kind == 5 then
      t.members = {}
      for i = 1, vlen do
         local m_off = x + (i - 1) * 12
         local mname, mtype, moff = string.unpack("<I4 I4 I4", b, m_off + 1)
         t.members[i] = {
            index = i, off = m_off, name_off = mname, name = self:string(mname), type = mtype,
            bit_offset = t.kflag and (moff & 0xffffff) or moff,
            bitfield_size = t.kflag and (moff >> 24) or 0,
         }
      end
   elseif kind == 6 or kind == 19 then
      t.values = {}
      local step = kind == 6 and 8 or 12
      for i = 1, vlen do
         local e_off = x + (i - 1) * step
         local ename, lo, hi = string.unpack(kind == 6 and "<I4 i4" or "<I4 I4 I4", b, e_off + 1)
         t.values[i] = {
            index = i, off = e_off, name_off = ename, name = self:string(ename),
            value = kind == 6 and lo or (hi << 32 | lo),
         }
      end
   elseif kind == 13 then
      t.params = {}
      for i = 1, vlen do
         local p_off = x + (i - 1) * 8
         local pname, ptype = string.unpack("<I4 I4", b, p_off + 1)
         t.params[i] = { index = i, off = p_off, name_off = pname, name = self:string(pname),
            type = ptype }
      end
   elseif kind == 14 then
      t.linkage = string.unpack("<I4", b, x + 1)
   elseif kind == 15 then
      t.vars = {}
      for i = 1, vlen do
         local v_off = x + (i - 1) * 12
         local vtype, voff, vsize = string.unpack("<I4 I4 I4", b, v_off + 1)
         t.vars[i] = { index = i, off = v_off, type = vtype, offset = voff, size = vsize }
      end
   elseif kind == 17 then
      t.component_idx = string.unpack("<i4", b, x + 1)
   end
   return t, 12 + extra_size(kind, vlen)
end

local function parse_btf(self, sec)
   local b, base = self.bytes, sec.offset
   local magic, version, flags, hdr_len, type_off, type_len, str_off, str_len =
      string.unpack("<I2 B B I4 I4 I4 I4 I4", b, base + 1)
   assert(magic == BTF_MAGIC, ("bad BTF magic 0x%x"):format(magic))
   local btf = {
      off = base, size = sec.size, hdr = {
         magic = magic, version = version, flags = flags, hdr_len = hdr_len,
         type_off = type_off, type_len = type_len, str_off = str_off, str_len = str_len,
      },
      types_off = base + hdr_len + type_off, strings_off = base + hdr_len + str_off,
      types = {},
   }
   self.btf = btf
   local off, id, stop = btf.types_off, 1, btf.types_off + type_len
   while off < stop do
      local t, len = parse_type(self, id, off)
      btf.types[id] = t
      off, id = off + len, id + 1
   end
   for _, t in ipairs(btf.types) do
      if t.kind == 15 then
         for _, v in ipairs(t.vars) do v.name = btf.types[v.type] and btf.types[v.type].name end
      end
   end
end

local function parse_symtab(self, sec)
   local strtab = self.sections[sec.link + 1]
   self.symbols = {}
   for i = 0, sec.size // SYM_SIZE - 1 do
      local off = sec.offset + i * SYM_SIZE
      local name, info, other, shndx, value, size = string.unpack(SYM, self.bytes, off + 1)
      self.symbols[#self.symbols + 1] = {
         index = i, off = off, name = cstring(self.bytes, strtab.offset + name + 1),
         info = info, bind = info >> 4, stype = info & 0xf, other = other, shndx = shndx,
         value = value, size = size, value_off = off + 8, shndx_off = off + 6,
      }
   end
end

--- Parse the bytes of an ELF64 little-endian object; returns the parsed file (raises if not).
function elfbtf.parse(bytes)
   assert(bytes:sub(1, 4) == "\127ELF", "not an ELF file")
   assert(bytes:byte(5) == 2 and bytes:byte(6) == 1, "not a little-endian ELF64 file")
   local self = setmetatable({ bytes = bytes, sections = {} }, File)
   local _, etype, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx =
      string.unpack(EHDR, bytes, 1)
   self.ehdr = { type = etype, machine = machine, shoff = shoff, shentsize = shentsize,
      shnum = shnum, shstrndx = shstrndx }
   for i = 0, shnum - 1 do
      local hdr = shoff + i * shentsize
      local name, stype, flags, _, offset, size, link, info, align, entsize =
         string.unpack(SHDR, bytes, hdr + 1)
      self.sections[i + 1] = { index = i, hdr = hdr, name_off = name, type = stype,
         flags = flags, offset = offset, size = size, link = link, info = info,
         align = align, entsize = entsize }
   end
   local shstr = self.sections[shstrndx + 1]
   for _, s in ipairs(self.sections) do
      s.name = cstring(bytes, shstr.offset + s.name_off + 1)
   end
   local btf = self:section(".BTF")
   if btf then parse_btf(self, btf) end
   local symtab = self:section(".symtab")
   if symtab then parse_symtab(self, symtab) end
   return self
end

--- The whole content of the file at path (binary).
function elfbtf.slurp(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

--- Parse the object file at path.
function elfbtf.read(path)
   return elfbtf.parse(elfbtf.slurp(path))
end

--- Write bytes to path (binary), replacing it.
function elfbtf.write(path, bytes)
   local f = assert(io.open(path, "wb"))
   assert(f:write(bytes))
   f:close()
end

--- The section named name (first match), or nil.
function File:section(name)
   for _, s in ipairs(self.sections) do
      if s.name == name then return s end
   end
   return nil
end

--- The section with ELF index i (0-based, as st_shndx counts), or nil.
function File:section_at(i)
   return self.sections[i + 1]
end

--- The NUL-terminated string at offset off of the BTF string section, or nil past its end.
function File:string(off)
   local btf = self.btf
   if off >= btf.hdr.str_len then return nil end
   return cstring(self.bytes, btf.strings_off + off + 1)
end

--- The BTF type of kind kind_name ("struct", "var", ...) named name; raises if none.
function File:type(kind_name, name)
   for _, t in ipairs(self.btf.types) do
      if t.kind_name == kind_name and t.name == name then return t end
   end
   error(("no BTF %s '%s'"):format(kind_name, name), 2)
end

--- The first BTF type matching pred(t), or nil.
function File:find_type(pred)
   for _, t in ipairs(self.btf.types) do
      if pred(t) then return t end
   end
   return nil
end

--- The member named name ("" for the first anonymous one) of struct/union type t; raises.
function File:member(t, name) -- luacheck: no unused args
   for _, m in ipairs(t.members or {}) do
      if m.name == name then return m end
   end
   error(("type [%d] has no member '%s'"):format(t.id, name), 2)
end

--- The ELF symbol named name; raises if none.
function File:symbol(name)
   for _, s in ipairs(self.symbols or {}) do
      if s.name == name then return s end
   end
   error(("no ELF symbol '%s'"):format(name), 2)
end

--- The bytes of the .BTF section.
function File:btf_bytes()
   return self.bytes:sub(self.btf.off + 1, self.btf.off + self.btf.size)
end

-- ---- patches: each returns a patched copy of f.bytes ---------------------------------------

--- A copy of f.bytes with the string s written at file offset off.
function elfbtf.poke(f, off, s)
   assert(off >= 0 and off + #s <= #f.bytes, "patch outside the file")
   return f.bytes:sub(1, off) .. s .. f.bytes:sub(off + #s + 1)
end

--- A copy of f.bytes with the little-endian u32 v at file offset off.
function elfbtf.poke_u32(f, off, v)
   return elfbtf.poke(f, off, string.pack("<I4", v))
end

--- Set member name's bit offset in struct/union type id (a bitfield keeps its width).
function elfbtf.set_member_offset(f, id, name, bit_offset)
   local t = f.btf.types[id]
   local m = f:member(t, name)
   local v = t.kflag and (m.bitfield_size << 24 | bit_offset) or bit_offset
   return elfbtf.poke_u32(f, m.off + 8, v)
end

--- Set type id's name_off (a var's name, a struct's name, ...).
function elfbtf.set_name_off(f, id, name_off)
   return elfbtf.poke_u32(f, f.btf.types[id].off, name_off)
end

--- Set the name_off of member i (1-based) of struct/union type id.
function elfbtf.set_member_name_off(f, id, i, name_off)
   return elfbtf.poke_u32(f, f.btf.types[id].members[i].off, name_off)
end

--- Set the name_off of enumerator i (1-based) of enum/enum64 type id.
function elfbtf.set_enumerator_name_off(f, id, i, name_off)
   return elfbtf.poke_u32(f, f.btf.types[id].values[i].off, name_off)
end

--- Point the type field of type id (a modifier, typedef, ptr, var, func) at target.
function elfbtf.set_ref(f, id, target)
   return elfbtf.poke_u32(f, f.btf.types[id].off + 8, target)
end

--- Point modifier/typedef id at itself: a one-type cycle.
function elfbtf.self_cycle(f, id)
   return elfbtf.set_ref(f, id, id)
end

--- Set the type of member i (1-based) of struct/union id to target.
function elfbtf.set_member_type(f, id, i, target)
   return elfbtf.poke_u32(f, f.btf.types[id].members[i].off + 4, target)
end

--- Make anonymous member i of struct/union id have that struct itself as its type.
function elfbtf.self_member(f, id, i)
   assert(f.btf.types[id].members[i].name == "", "member is not anonymous")
   return elfbtf.set_member_type(f, id, i, id)
end

--- Set the element type of array type id to target (target == id: an array of itself).
function elfbtf.set_array_elem(f, id, target)
   return elfbtf.poke_u32(f, f.btf.types[id].elem_off, target)
end

--- Set var id's linkage (0 static, 1 global, 2 extern): libbpf matches no symbol to a static.
function elfbtf.set_var_linkage(f, id, linkage)
   return elfbtf.poke_u32(f, f.btf.types[id].off + 12, linkage)
end

--- Set datasec id's size (0: libbpf fills it and every var offset in from the ELF).
function elfbtf.set_datasec_size(f, id, size)
   return elfbtf.poke_u32(f, f.btf.types[id].off + 8, size)
end

--- Set var i (1-based) of datasec id to offset/size, and the datasec's size to sec_size.
function elfbtf.set_datasec_var(f, id, i, offset, size, sec_size)
   local t = f.btf.types[id]
   local v = t.vars[i]
   local g = elfbtf.parse(elfbtf.poke(f, v.off + 4, string.pack("<I4 I4", offset, size)))
   return sec_size and elfbtf.set_datasec_size(g, id, sec_size) or g.bytes
end

--- Set ELF symbol name's st_value.
function elfbtf.set_symbol_value(f, name, value)
   return elfbtf.poke(f, f:symbol(name).value_off, string.pack("<I8", value))
end

--- The first len bytes of the file.
function elfbtf.truncate(f, len)
   return f.bytes:sub(1, len)
end

return elfbtf
