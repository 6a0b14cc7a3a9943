-- SPDX-License-Identifier: GPL-2.0
--- sockhost.cctool: `sockhost cc probe.bpf.c [-o probe.bpf.o]`, ahead-of-time compiling for
-- machines without clang. main.c dispatches the subcommand here; the compile itself is
-- sockhost.cc (host/cc/ through host/obj/compile.c), so the object is the one
-- sockhost.open("probe.bpf.c") would open, from the same cache. The copy is written to a
-- temporary name beside the output and renamed, so a reader never sees half of it.
--
--   local status = require("sockhost.cctool").main(arg)   -- arg[1..n]: the command's words
local argparse = require "argparse"
local cli = require "sockhost.cli"

local M = {}

--- The default output for src: its base name with .bpf.c (or .c) made .bpf.o, in the
-- current directory.
function M.default_output(src)
   local base = src:match("([^/]+)$")
   return (base:gsub("%.bpf%.c$", ""):gsub("%.c$", "")) .. ".bpf.o"
end

local function copy(from, to)
   local inf = assert(io.open(from, "rb"))
   local data = inf:read("a")
   inf:close()
   local tmp = ("%s.tmp.%d"):format(to, math.random(1 << 30))
   local out, err = io.open(tmp, "wb")
   if not out then
      error(("cannot write '%s': %s"):format(to, err:gsub("^[^:]*: ", "")), 0)
   end
   out:write(data)
   out:close()
   local ok, rerr = os.rename(tmp, to)
   if not ok then
      os.remove(tmp)
      error(("cannot write '%s': %s"):format(to, rerr), 0)
   end
   return #data
end

local function run(args)
   local sockhost = require "sockhost"
   local parser = argparse("sockhost cc",
      "Compile BPF C (CO-RE, against this kernel's BTF and the sockhost SDK) into an object "
      .. "that sockhost.open takes on any machine, with or without clang.")
   parser:argument("source", "the .bpf.c file")
   parser:option("-o --output", "where to write the object (default: <name>.bpf.o here)")
   local a = parser:parse(args)
   local obj = sockhost.cc(a.source)
   local out = a.output or M.default_output(a.source)
   local n = copy(obj, out)
   io.stderr:write(("sockhost cc: %s -> %s (%d bytes)\n"):format(a.source, out, n))
   return 0
end

--- Run the command with its words (arg[1..n]); returns the exit status, or exits 1 with
-- "sockhost cc: <message>" on stderr.
function M.main(args)
   local words = {}
   for i = 1, #args do
      words[i] = args[i]
   end
   return cli.main("sockhost cc", run, words)
end

return M
