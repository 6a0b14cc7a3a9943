-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/readme.lua: README.md's sections, for the specs that run the README as
-- written (tools/tutorial, tools/fleet).
--   readme.section(title) -> the text of the section "## <title>" (to the next "## "), or raises
--   readme.blocks(title, lang) -> its ```<lang> code blocks, in order
local proc = require "helpers.proc"

local readme = {}

function readme.section(title)
   local text = proc.read_file(proc.env("SOCKHOST_SOURCE_DIR") .. "/README.md")
   local s = text:match("\n## " .. title:gsub("%p", "%%%0") .. "\n(.-)\n## ")
   assert(s, "README has no section '" .. title .. "'")
   return s
end

function readme.blocks(title, lang)
   local out = {}
   for code in readme.section(title):gmatch("```" .. lang .. "\n(.-)```") do out[#out + 1] = code end
   return out
end

return readme
