-- SPDX-License-Identifier: GPL-2.0
-- Build step (scripts/CMakeLists.txt): write a man page made from the texts --help prints.
--   sockhost cmake/man.lua tool SCRIPT OUT VERSION   sockhost-<name>(1) from SCRIPT's parser
--   sockhost cmake/man.lua main SOCKHOST OUT VERSION sockhost(1) from `SOCKHOST --help` and
--                                                    the tools beside that binary
local tools = require "sockhost.tools"
local man = require "sockhost.man"

local what, from, out, version = ...
local page
if what == "tool" then
   local name = from:match("([^/]+)%.lua$")
   local parser = assert(tools.parser(from, name))
   page = man.tool(parser, name, version)
elseif what == "main" then
   local p = assert(io.popen(("'%s' --help"):format(from:gsub("'", "'\\''"))))
   local usage = p:read("a")
   assert(p:close(), "sockhost --help failed")
   local list = {}
   for i, name in ipairs(tools.names()) do
      local parser = assert(tools.parser(tools.dir() .. "/" .. name .. ".lua"))
      list[i] = { name = name, description = parser._description:gsub("\n.*", "") }
   end
   page = man.main(usage, list, version)
else
   error("usage: man.lua tool SCRIPT OUT VERSION | main SOCKHOST OUT VERSION")
end
local f = assert(io.open(out .. ".tmp", "w"))
assert(f:write(page))
assert(f:close())
assert(os.rename(out .. ".tmp", out))
