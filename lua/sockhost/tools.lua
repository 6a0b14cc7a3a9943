-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.tools: the shipped scripts as commands. `sockhost conntrace --port 443` runs
-- <scripts_dir>/conntrace.lua (the installed share/sockhost/scripts, or build/scripts when
-- build/sockhost runs); `sockhost --list` prints one line per tool with the description of its
-- argparse parser; the man pages are made from the same parsers (sockhost.man).
--
-- A tool's parser is had without running the tool: tools.parser loads the script in a
-- coroutine with `require "argparse"` answering a parser whose :parse() hands the parser back
-- (coroutine.yield) instead of parsing, so the tool stops before it opens anything; the
-- coroutine is then closed. A tool therefore builds its whole parser before it touches the
-- kernel, as every shipped script does (cli.main(name, main) with parse_args first).

local tools = {}

--- tools.dir() -> the tools' directory (sockhost.scripts_dir()).
function tools.dir()
   return require("sockhost.core").scripts_dir()
end

--- tools.names([dir]) -> the tool names in dir (default tools.dir()), sorted.
function tools.names(dir)
   return require("sockhost.core").tool_names(dir or tools.dir())
end

--- tools.find(name [, dir]) -> the path of tool name, or raises (without a position)
-- "cannot open <name>: no such file, and no tool of that name in <dir> (tools: a, b, ...)".
function tools.find(name, dir)
   dir = dir or tools.dir()
   local path = dir .. "/" .. name .. ".lua"
   local f = io.open(path, "r")
   if f then
      f:close()
      return path
   end
   error(("cannot open %s: no such file, and no tool of that name in %s (tools: %s)"):format(
      name, dir, table.concat(tools.names(dir), ", ")), 0)
end

--- tools.parser(path [, name]) -> the argparse parser the script at path builds, its program
-- name set to "sockhost <name>" when name is given; or nil and why not.
function tools.parser(path, name)
   local chunk, err = loadfile(path)
   if not chunk then return nil, err end
   local argparse = require "argparse"
   local function handed_back(self) return coroutine.yield(self) end
   local capture = setmetatable({}, {
      __index = argparse,
      __call = function(_, ...)
         local p = argparse(...)
         p.parse, p.pparse = handed_back, handed_back
         return p
      end,
   })
   local co = coroutine.create(chunk)
   package.loaded.argparse = capture
   local ok, parser = coroutine.resume(co)
   package.loaded.argparse = argparse
   local done = coroutine.status(co) == "dead"
   coroutine.close(co)
   if not ok then return nil, tostring(parser) end
   if done or type(parser) ~= "table" then return nil, path .. " builds no argparse parser" end
   if name then parser:name("sockhost " .. name) end
   return parser
end

--- tools.list([dir]) -> the `sockhost --list` text: one line per tool, "name  description"
-- (the description of its parser; "(no description: <why>)" when it has none).
function tools.list(dir)
   dir = dir or tools.dir()
   local names, lines, width = tools.names(dir), {}, 0
   for _, name in ipairs(names) do width = math.max(width, #name) end
   for i, name in ipairs(names) do
      local parser, err = tools.parser(dir .. "/" .. name .. ".lua")
      local desc = parser and parser._description or ("(no description: %s)"):format(err)
      lines[i] = ("%-" .. width .. "s  %s"):format(name, (desc:gsub("\n.*", "")))
   end
   return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

return tools
