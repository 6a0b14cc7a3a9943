-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/texttable.lua: reads back a table a tool printed with sockhost.tab (columns
-- two spaces apart, titles aligned like their cells), checking its alignment on the way: a
-- left-aligned cell must start where its title starts, a right-aligned one end where its
-- title ends, so a row whose text pushes the columns out of line reads as wrong cells.
-- Pure Lua 5.4.
--
--   local rows = texttable.parse(text, { header = "^PROTO ", left = { PROTO = true, SOURCE = true } })
--   --> { { PROTO = "udp", SOURCE = "10.0.0.1:53", BYTES = "1.5 KiB", ... }, ... }

local texttable = {}

-- The titles of a header line (two or more spaces apart) and where each starts and ends.
local function titles(line)
   local out = {}
   local pos = 1
   while true do
      local s = line:find("%S", pos)
      if not s then break end
      local e = (line:find("  ", s, true) or #line + 1) - 1
      out[#out + 1] = { title = line:sub(s, e), s = s, e = e }
      pos = e + 1
   end
   return out
end

-- The cell that starts at t.s (left) or ends at t.e (right), up to two spaces or the line's
-- end; nil when the column's edge is not a cell's edge there.
local function cell(line, t, left)
   if left then
      if t.s > 1 and line:sub(t.s - 1, t.s - 1) ~= " " then return nil end
      local rest = line:sub(t.s)
      local v = rest:match("^(.-)  ") or rest
      return v:match("^%S") and v:match("%S$") and v or nil
   end
   if line:sub(t.e + 1, t.e + 1):match("%S") then return nil end
   local head = line:sub(1, t.e)
   local last = head:match(".*()  ")
   local v = last and head:sub(last + 2) or head:match("^%s*(.*)$")
   return v:match("^%S") and v:match("%S$") and v or nil
end

--- texttable.parse(text, opts) -> rows: the last table in text (from the last line that
-- matches opts.header, a Lua pattern, to a blank line or the end; each tick's table has a
-- header of its own, as wide as its rows), one table per row keyed by title. opts.left: the
-- set of left-aligned titles (the rest are right-aligned). A cell not where its column says
-- raises, naming the line.
function texttable.parse(text, opts)
   opts = opts or {}
   local lines = {}
   for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
   local at
   for i = #lines, 1, -1 do
      if lines[i]:find(opts.header) then at = i break end
   end
   assert(at, "no table header in: " .. text)
   local header = lines[at]
   local cols = titles(header)
   local rows = {}
   for i = at + 1, #lines do
      local line = lines[i]
      if line == "" then break end
      local row = {}
      for _, t in ipairs(cols) do
         local v = cell(line, t, opts.left and opts.left[t.title])
         if not v then
            error(("column %s out of line in %q (header %q)"):format(t.title, line, header), 2)
         end
         row[t.title] = v
      end
      rows[#rows + 1] = row
   end
   return rows
end

return texttable
