-- SPDX-License-Identifier: GPL-2.0
-- Build step (scripts/CMakeLists.txt): write a man page made from the texts --help prints.
--   sockhost cmake/man.lua tool SCRIPT OUT VERSION   sockhost-<name>(1) from SCRIPT's parser
--   sockhost cmake/man.lua main SOCKHOST OUT VERSION README
--       sockhost(1) from `SOCKHOST --help`, the tools beside that binary and the README's
--       table of environment variables
local tools = require "sockhost.tools"
local man = require "sockhost.man"

local what, from, out, version, readme = ...
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
   local f = assert(io.open(readme, "r"))
   local env = man.environment(f:read("a"))
   f:close()
   assert(#env > 0, readme .. " has no Environment table")
   page = man.main(usage, list, version, env)
else
   error("usage: man.lua tool SCRIPT OUT VERSION | main SOCKHOST OUT VERSION README")
end
local f = assert(io.open(out .. ".tmp", "w"))
assert(f:write(page))
assert(f:close())
assert(os.rename(out .. ".tmp", out))
