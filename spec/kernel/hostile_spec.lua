-- SPDX-License-Identifier: GPL-2.0
-- Hostile input: sockhost.open on malformed objects. Each case patches the types fixture with
-- spec/helpers/elfbtf.lua (ids, offsets and sizes are read from the fixture, not written
-- down), writes it to a temporary directory and checks that sockhost.open, with and without
-- loading, raises exactly the expected message, leaves no file descriptor behind and that
-- sockhost still opens a good object afterwards. Only malformations libbpf 1.1.2 survives in
-- process are here; none of them reaches the kernel.
local sockhost = require "sockhost"
local elfbtf = require "helpers.elfbtf"
local errors = require "helpers.errors"
local fixtures = require "helpers.fixtures"
local proc = require "helpers.proc"

local SECTION_NAMES = "cannot open: elf: failed to get section names strings from %s: "
   .. "invalid `Elf' handle: Unknown error 4001"

describe("#kernel malformed objects", function()
   local dir, f, strs

   setup(function()
      dir = proc.tmpdir()
      f = elfbtf.read(fixtures.path("types"))
      strs = f.btf.hdr.str_len
   end)

   teardown(function()
      if dir then proc.sh("rm -rf " .. proc.quote(dir)) end
   end)

   local function id(kind, name) return f:type(kind, name).id end
   local function btf_msg(what) return "malformed BTF: " .. what end

   -- name: the file's name and the it's title; make(f) -> bytes; msg: what follows
   -- "object '<path>': ", or a function(path) giving it.
   local cases = {
      { "a struct member beyond the struct", function()
         return elfbtf.set_member_offset(f, id("struct", "fx_addr"), "port", 64)
      end, function()
         return btf_msg(("type [%d] 'fx_addr': member 'port': bits 64..80 lie beyond the "
            .. "struct's 8 bytes"):format(id("struct", "fx_addr")))
      end },
      { "a bitfield beyond its struct", function()
         return elfbtf.set_member_offset(f, id("struct", "fx_bits"), "swide", 120)
      end, function()
         return btf_msg(("type [%d] 'fx_bits': member 'swide': bits 120..144 lie beyond the "
            .. "struct's 16 bytes"):format(id("struct", "fx_bits")))
      end },
      { "a type name past the string section", function()
         return elfbtf.set_name_off(f, id("struct", "fx_addr"), strs + 100)
      end, function()
         return btf_msg(("type [%d] '(anon)': name offset %d is outside the string section")
            :format(id("struct", "fx_addr"), strs + 100))
      end },
      { "a member name past the string section", function()
         return elfbtf.set_member_name_off(f, id("struct", "fx_addr"), 2, strs)
      end, function()
         return btf_msg(("type [%d] 'fx_addr': member 1: name offset %d is outside the string "
            .. "section"):format(id("struct", "fx_addr"), strs))
      end },
      { "a static variable's name past the string section", function()
         local g = elfbtf.parse(elfbtf.set_var_linkage(f, id("var", "seen"), 0))
         return elfbtf.set_name_off(g, id("var", "seen"), strs + 7)
      end, function()
         return btf_msg(("type [%d] '(anon)': name offset %d is outside the string section")
            :format(id("var", "seen"), strs + 7))
      end },
      { "a global variable's name past the string section (libbpf finds no symbol)", function()
         return elfbtf.set_name_off(f, id("var", "seen"), strs + 7)
      end, "cannot open: No such file or directory" },
      { "an enumerator name past the string section", function()
         return elfbtf.set_enumerator_name_off(f, id("enum", "fx_op"), 2, strs + 1)
      end, function()
         return btf_msg(("type [%d] 'fx_op': enumerator 1: name offset %d is outside the string "
            .. "section"):format(id("enum", "fx_op"), strs + 1))
      end },
      { "a volatile that is its own target", function()
         return elfbtf.self_cycle(f, f.btf.types[f:type("var", "port").type].type)
      end, function()
         return btf_msg(("type [%d] '(anon)': contains itself (a cycle through its members, "
            .. "typedefs or modifiers)"):format(f.btf.types[f:type("var", "port").type].type))
      end },
      { "a const -> volatile -> const cycle", function()
         local const = f:type("var", "port").type
         return elfbtf.set_ref(f, f.btf.types[const].type, const)
      end, function()
         return btf_msg(("type [%d] '(anon)': contains itself (a cycle through its members, "
            .. "typedefs or modifiers)"):format(f:type("var", "port").type))
      end },
      { "a typedef that is its own target (libbpf cannot size the map key)", function()
         return elfbtf.self_cycle(f, id("typedef", "__u16"))
      end, function()
         return ("cannot open: map 'u16_s16': can't determine key size for type [%d]: -22.: "
            .. "Invalid argument"):format(id("typedef", "__u16"))
      end },
      { "a struct containing itself through an anonymous member", function()
         local kinds = f:type("struct", "fx_kinds")
         local anon = f:member(kinds, "")
         local g = elfbtf.parse(elfbtf.self_member(f, kinds.id, anon.index))
         return elfbtf.set_member_offset(g, kinds.id, "", 0)
      end, function()
         return btf_msg(("type [%d] 'fx_kinds': contains itself (a cycle through its members, "
            .. "typedefs or modifiers)"):format(id("struct", "fx_kinds")))
      end },
      { "an anonymous member of its own struct's type, too big for it", function()
         local kinds = f:type("struct", "fx_kinds")
         return elfbtf.self_member(f, kinds.id, f:member(kinds, "").index)
      end, function()
         local anon = f:member(f:type("struct", "fx_kinds"), "")
         return btf_msg(("type [%d] 'fx_kinds': member '(anon)': bits %d..%d lie beyond the "
            .. "struct's 176 bytes"):format(id("struct", "fx_kinds"), anon.bit_offset,
            anon.bit_offset + 176 * 8))
      end },
      { "an array of itself", function()
         local arr = f:type("var", "banner").type
         return elfbtf.set_array_elem(f, arr, arr)
      end, function()
         return btf_msg(("type [%d] '(anon)': contains itself (a cycle through its members, "
            .. "typedefs or modifiers)"):format(f:type("var", "banner").type))
      end },
      { "a datasec variable past its section", function()
         return elfbtf.set_datasec_var(f, id("datasec", ".data"), 2, 4096, 8, 12)
      end, function()
         return btf_msg(("type [%d] '.data': variable 'last': bytes 4096..4104 lie beyond the "
            .. "section's 12"):format(id("datasec", ".data")))
      end },
      -- libbpf copies a global's st_value into its datasec variable's offset, so a symbol past
      -- its section is refused by the BTF check before the globals could see it
      { "an ELF symbol past its section", function()
         return elfbtf.set_symbol_value(f, "last", 4096)
      end, function()
         return btf_msg(("type [%d] '.data': variable 'last': bytes 4096..4104 lie beyond the "
            .. "section's 12"):format(id("datasec", ".data")))
      end },
      { "an ELF symbol just past the end of .rodata", function()
         return elfbtf.set_symbol_value(f, "listen_addr", 36)
      end, function()
         return btf_msg(("type [%d] '.rodata': variable 'listen_addr': bytes 36..44 lie beyond "
            .. "the section's 36"):format(id("datasec", ".rodata")))
      end },
      { "a zero-length file", function() return "" end, "not an ELF file" },
      { "a file truncated inside the ELF magic", function() return elfbtf.truncate(f, 3) end,
         "not an ELF file" },
      { "a file truncated before e_machine", function() return elfbtf.truncate(f, 19) end,
         "ELF file is not a BPF object (e_machine -1, want EM_BPF)" },
      { "a file truncated inside the ELF header", function() return elfbtf.truncate(f, 20) end,
         function(path)
            return ("cannot open: elf: '%s' is not a proper ELF object: Unknown error 4001")
               :format(path)
         end },
      { "a file truncated right after the ELF header", function()
         return elfbtf.truncate(f, 64)
      end, function(path) return SECTION_NAMES:format(path) end },
      { "a file truncated in the middle of .BTF", function()
         return elfbtf.truncate(f, f.btf.off + f.btf.size // 2)
      end, function(path) return SECTION_NAMES:format(path) end },
      { "a file truncated in the middle of the section table", function()
         return elfbtf.truncate(f, f.ehdr.shoff + 64 * (f.ehdr.shnum // 2) + 10)
      end, function(path) return SECTION_NAMES:format(path) end },
      { "a file missing its last byte", function()
         return elfbtf.truncate(f, #f.bytes - 1)
      end, function(path) return SECTION_NAMES:format(path) end },
      { "random bytes after a valid ELF header", function()
         local rnd, x = {}, 12345
         for i = 1, 4096 do
            x = (x * 1103515245 + 12345) % 2147483648
            rnd[i] = string.char(x >> 16 & 0xff)
         end
         return f.bytes:sub(1, 64) .. table.concat(rnd)
      end, function(path) return SECTION_NAMES:format(path) end },
   }

   local function good_object_opens()
      local obj <close> = fixtures.open("types", { load = false })
      assert.equal(7, obj.globals.seen)
   end

   for i, case in ipairs(cases) do
      local title, make, msg = case[1], case[2], case[3]
      it(title, function()
         local path = ("%s/case%02d.bpf.o"):format(dir, i)
         elfbtf.write(path, make())
         local expected = ("object '%s': %s"):format(path,
            type(msg) == "function" and msg(path) or msg)
         collectgarbage()
         collectgarbage()
         local fds = proc.fds()
         errors.raises(function() return sockhost.open(path, { load = false }) end, expected)
         errors.raises(function() return sockhost.open(path) end, expected)
         collectgarbage()
         collectgarbage()
         assert.same(fds, proc.fds())
         good_object_opens()
      end)
   end

   it("a datasec claiming more than its ELF section opens, but its global raises", function()
      local path = dir .. "/bigsec.bpf.o"
      elfbtf.write(path, elfbtf.set_datasec_var(f, id("datasec", ".data"), 2, 1000, 8, 4096))
      local fds = proc.fds()
      do
         local obj <close> = sockhost.open(path, { load = false })
         local expected = "object 'bigsec': global 'last' lies at bytes 1000..1008 of a 12-byte "
            .. "section (malformed object)"
         errors.raises(function() return obj.globals.last end, expected)
         errors.raises(function() obj.globals.last = { port = 1 } end, expected)
         errors.raises(function() for _ in pairs(obj.globals) do end end, expected)
         assert.equal(7, obj.globals.seen)
      end
      collectgarbage()
      collectgarbage()
      assert.same(fds, proc.fds())
      good_object_opens()
   end)
end)
