-- SPDX-License-Identifier: GPL-2.0
--- spec/fuzz/extract_btf.lua: writes the .BTF section of each BPF object given into
-- <out dir>/<object name>.btf, the btf_codec harness's seed format (a raw BTF blob). The
-- committed seeds in spec/fixtures/fuzz/btf_codec/ were made with it from the fixtures:
--
--   LUA_PATH='spec/?.lua;;' lua5.4 spec/fuzz/extract_btf.lua spec/fixtures/fuzz/btf_codec \
--      build/spec/fixtures/{types,maps,sockcount}.bpf.o
local elfbtf = require "helpers.elfbtf"

local out = assert(arg[1], "usage: extract_btf.lua <out dir> <object>...")
for i = 2, #arg do
   local f = elfbtf.read(arg[i])
   if f.btf then
      local name = arg[i]:match("([^/]+)%.bpf%.o$") or arg[i]:match("([^/]+)$")
      elfbtf.write(("%s/%s.btf"):format(out, name), f:btf_bytes())
   end
end
