-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.man: man pages (roff, man(7) macros) from the texts --help prints, so a page never
-- drifts from its tool: man.tool(parser, name) from a tool's argparse parser (sockhost.tools
-- gets it without running the tool), man.main(usage, tools) for sockhost(1) from the
-- executable's own usage text and the tool list. Pure Lua on lua-argparse's parser objects.

local man = {}

-- Text for roff: backslashes escaped, a line never starting with a control character.
local function esc(s)
   s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
   return (s:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end
man.escape = esc

-- A free text (description, epilog) as paragraphs: a blank line starts one; indented lines
-- (tables of fields, which argparse keeps as they are) stay as they are, unfilled.
local function paragraphs(text)
   local out, verbatim = {}, false
   for line in (text .. "\n"):gmatch("(.-)\n") do
      local indented = line:match("^%s") ~= nil
      if indented ~= verbatim then
         out[#out + 1] = indented and ".nf" or ".fi"
         verbatim = indented
      end
      out[#out + 1] = line == "" and not verbatim and ".PP" or esc(line)
   end
   if verbatim then out[#out + 1] = ".fi" end
   return table.concat(out, "\n")
end

local function header(title, section_name, version)
   -- left-adjusted, never hyphenated: option names stay whole and copyable
   return (".TH %s 1 \"\" \"sockhost %s\" \"sockhost manual\"\n.ad l\n.nh\n"):format(
      title:upper(), version or "")
      .. ".SH NAME\n" .. section_name
end

--- man.tool(parser, name [, version]) -> the page of tool name ("sockhost-<name>"): NAME with
-- the parser's description's first line, SYNOPSIS its usage, DESCRIPTION its description
-- and epilog, OPTIONS one entry per option that is not hidden, with its help (and default).
function man.tool(parser, name, version)
   local desc = parser._description or ""
   local usage = parser:get_usage():gsub("^Usage: ", ""):gsub("\n%s+", " ")
   local out = { header("sockhost-" .. name, esc("sockhost-" .. name .. " - "
      .. desc:gsub("\n.*", "")), version),
      ".SH SYNOPSIS", esc(usage), ".SH DESCRIPTION", paragraphs(desc) }
   if parser._epilog then
      out[#out + 1] = ".PP"
      out[#out + 1] = paragraphs(parser._epilog)
   end
   out[#out + 1] = ".SH OPTIONS"
   for _, opt in ipairs(parser._options) do
      if not opt._hidden then
         out[#out + 1] = ".TP"
         out[#out + 1] = "\\fB" .. esc(table.concat(opt:_get_label_lines(), " ")) .. "\\fR"
         out[#out + 1] = paragraphs(opt:_get_description())
      end
   end
   out[#out + 1] = ".SH SEE ALSO\n\\fBsockhost\\fR(1)"
   return table.concat(out, "\n") .. "\n"
end

--- man.environment(markdown) -> { {name =, text =}, ... }: the rows of the table under the
-- "## Environment" heading of a Markdown text (the README's), code marks dropped: the first
-- column names the variables, the last says what they do.
function man.environment(markdown)
   local rows = {}
   local section = markdown:match("\n## Environment\n(.-)\n## ") or ""
   for line in section:gmatch("[^\n]+") do
      local cells = {}
      for cell in line:gmatch("|([^|]*)") do cells[#cells + 1] = cell:match("^%s*(.-)%s*$") end
      if #cells >= 3 and cells[1] ~= "variable" and not cells[1]:match("^%-") then
         local function plain(t) return (t:gsub("`", "")) end
         rows[#rows + 1] = { name = plain(cells[1]), text = plain(cells[#cells - 1]) }
      end
   end
   return rows
end

--- man.main(usage, tools [, version [, env]]) -> sockhost(1): the usage text the executable
-- prints for --help ("usage: ...", "Available options are:", one "  -x arg  text" line per
-- option, then free text), tools, a list of { name =, description = }, and env, the
-- ENVIRONMENT entries (man.environment).
function man.main(usage, tools, version, env)
   local synopsis = usage:match("^usage: ([^\n]*)")
   local out = { header("sockhost", "sockhost \\- an eBPF probe host scriptable in Lua 5.4",
      version), ".SH SYNOPSIS", esc(synopsis or "sockhost"), ".SH DESCRIPTION",
      "\\fBsockhost\\fR runs Lua scripts that open, load and attach BPF objects "
      .. "(see the README and doc/api.md). A first argument that is not a file names an "
      .. "installed tool: \\fBsockhost conntrace \\-\\-port 443\\fR runs the conntrace tool "
      .. "(\\fBsockhost \\-\\-list\\fR lists them).", ".SH OPTIONS" }
   local rest = {}
   for line in usage:gmatch("[^\n]+") do
      local label, text = line:match("^  (%S.-)%s%s+(%S.*)$")
      if label then
         out[#out + 1] = ".TP\n\\fB" .. esc(label) .. "\\fR\n" .. esc(text)
      elseif not line:match("^usage:") and not line:match("^Available options") then
         rest[#rest + 1] = esc(line)
      end
   end
   if #rest > 0 then out[#out + 1] = ".PP\n" .. table.concat(rest, "\n") end
   out[#out + 1] = ".SH TOOLS"
   local see = {}
   for _, t in ipairs(tools) do
      out[#out + 1] = ".TP\n\\fB" .. esc(t.name) .. "\\fR\n" .. esc(t.description)
      see[#see + 1] = "\\fBsockhost\\-" .. esc(t.name) .. "\\fR(1)"
   end
   if env and #env > 0 then
      out[#out + 1] = ".SH ENVIRONMENT"
      for _, e in ipairs(env) do
         out[#out + 1] = ".TP\n\\fB" .. esc(e.name) .. "\\fR\n" .. esc(e.text)
      end
   end
   out[#out + 1] = ".SH SEE ALSO\n" .. table.concat(see, ", ")
   return table.concat(out, "\n") .. "\n"
end

return man
