-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.tab: aligned text tables with auto-width columns, sorting and top-N.
--
--   local tab = require "sockhost.tab"
--   io.write(tab.render(rows, {
--      columns = { { key = "addr", title = "DEST" }, { key = "bytes", fmt = "bytes" }, "pkts" },
--      sort = "bytes", desc = true, top = 10,
--   }))
--
--   DEST        BYTES  PKTS
--   10.0.0.2  1.5 KiB    12
--   10.0.0.9    512 B     4
--
-- rows is a sequence of tables keyed by column key (or sequences, keyed 1..n). tab.rows turns
-- a {key -> value} table, snapshot or map into such rows. Rendering never changes rows.
--
-- Columns (opts.columns, a sequence; an entry is a key or a table):
--   key     the row field;
--   title   header text (default: the key upper-cased);
--   align   "left" or "right" (default: right when every present value is a number, else left);
--   fmt     a function(value, row) -> string, or the name of a sockhost.fmt function
--           ("bytes", "rate", "count", "count_rate", "duration", "u64"). The default prints
--           integers and integral floats as %d, other floats as %.2f, the rest via tostring;
--           nil prints as opts.missing (default "").
-- Without opts.columns: the keys 1..n when the first row is a sequence, else every key met in
-- any row, sorted.
--
-- Sorting compares the raw values, not their text. opts.sort is a column key (asc; desc with
-- opts.desc = true) or a function(a, b) like table.sort's. Ties keep the input order; nil
-- sorts last either way; numbers sort before strings. opts.top = N keeps the first N rows
-- after sorting. opts.header = false drops the header row; opts.sep (default two spaces)
-- separates columns. The last column is not padded, so lines carry no trailing blanks.
-- Widths count UTF-8 characters.
--
-- Live redraw: io.write(tab.CLEAR, tab.render(rows, opts)) repaints a terminal in place.
--
-- Pure Lua: no sockhost.core.

local fmt = require "sockhost.fmt"

local tab = {}

--- tab.CLEAR: cursor home plus clear screen (ANSI), to print before a redrawn table.
tab.CLEAR = "\27[H\27[2J"

local FMT_NAMES = { bytes = true, rate = true, count = true, count_rate = true, duration = true,
   u64 = true }

local function width(s)
   return utf8.len(s) or #s
end

local function default_cell(v)
   if v == nil then return nil end
   if math.type(v) == "integer" then return ("%d"):format(v) end
   if type(v) == "number" then
      local i = math.tointeger(v)
      return i and ("%d"):format(i) or ("%.2f"):format(v)
   end
   return tostring(v)
end

-- Raise a misuse error at the caller of tab.render (level: stack depth below render).
local function bad(level, fmt_, ...)
   error(fmt_:format(...), level + 2)
end

local function columns_of(rows, opts)
   if opts.columns then return opts.columns end
   local first = rows[1]
   if first == nil then return {} end
   if type(first) == "table" and #first > 0 then
      local cols = {}
      for i = 1, #first do cols[i] = i end
      return cols
   end
   local seen, cols = {}, {}
   for _, row in ipairs(rows) do
      for k in pairs(row) do
         if not seen[k] then seen[k], cols[#cols + 1] = true, k end
      end
   end
   table.sort(cols, function(a, b)
      if type(a) ~= type(b) then return type(a) == "number" end
      return a < b
   end)
   return cols
end

local function normalize(spec, i)
   if type(spec) ~= "table" then spec = { key = spec } end
   if spec.key == nil then
      bad(2, "bad option 'columns' to 'render' (column %d has no key)", i)
   end
   local f = spec.fmt
   if type(f) == "string" then
      if not FMT_NAMES[f] then
         bad(2, "bad option 'columns' to 'render' (column %d: unknown fmt '%s')", i, f)
      end
      local named = fmt[f]
      f = function(v) return v ~= nil and named(v) or nil end
   elseif f ~= nil and type(f) ~= "function" then
      bad(2, "bad option 'columns' to 'render' (column %d: fmt must be a function or a name)",
         i)
   end
   if spec.align ~= nil and spec.align ~= "left" and spec.align ~= "right" then
      bad(2, "bad option 'columns' to 'render' (column %d: align must be 'left' or 'right')",
         i)
   end
   return { key = spec.key, title = spec.title or tostring(spec.key):upper(), align = spec.align,
      fmt = f or default_cell }
end

-- nil last, then numbers, then strings, then the rest by their text.
local RANK = { number = 1, string = 2 }
local function less(a, b)
   local ta, tb = RANK[type(a)] or 3, RANK[type(b)] or 3
   if ta ~= tb then return ta < tb end
   if ta == 3 then return tostring(a) < tostring(b) end
   return a < b
end

local function sorted(rows, opts)
   local by = opts.sort
   local order = {}
   for i, row in ipairs(rows) do order[i] = { row = row, i = i } end
   if by ~= nil then
      local cmp
      if type(by) == "function" then
         cmp = function(a, b)
            if by(a.row, b.row) then return true end
            if by(b.row, a.row) then return false end
            return a.i < b.i
         end
      else
         local desc = opts.desc
         cmp = function(a, b)
            local x, y = a.row[by], b.row[by]
            if x == nil or y == nil then
               if (x == nil) ~= (y == nil) then return y == nil end
            elseif less(x, y) then return not desc
            elseif less(y, x) then return desc == true
            end
            return a.i < b.i
         end
      end
      table.sort(order, cmp)
   end
   local n = #order
   if opts.top ~= nil then
      if math.type(opts.top) ~= "integer" or opts.top < 0 then
         bad(2, "bad option 'top' to 'render' (non-negative integer expected, got %s)",
            tostring(opts.top))
      end
      n = math.min(n, opts.top)
   end
   local out = {}
   for i = 1, n do out[i] = order[i].row end
   return out
end

--- tab.render(rows [, opts]) -> string: the table, one "\n"-terminated line per row (plus
-- the header). No rows and no columns render as "".
function tab.render(rows, opts)
   if type(rows) ~= "table" then
      bad(1, "bad argument #1 to 'render' (table expected, got %s)", type(rows))
   end
   opts = opts or {}
   local cols = {}
   for i, spec in ipairs(columns_of(rows, opts)) do cols[i] = normalize(spec, i) end
   if #cols == 0 then return "" end
   local shown = sorted(rows, opts)
   local missing = opts.missing or ""

   local cells, widths = {}, {}
   for c, col in ipairs(cols) do
      local numeric, any = true, false
      for r, row in ipairs(shown) do
         local v = row[col.key]
         if v ~= nil then
            any = true
            if type(v) ~= "number" then numeric = false end
         end
         local text = col.fmt(v, row)
         if text == nil then text = missing end
         cells[r] = cells[r] or {}
         cells[r][c] = tostring(text)
      end
      col.right = col.align == "right" or (col.align == nil and numeric and any)
      widths[c] = opts.header == false and 0 or width(col.title)
      for r = 1, #shown do widths[c] = math.max(widths[c], width(cells[r][c])) end
   end

   local sep = opts.sep or "  "
   local lines = {}
   local function line(texts)
      local parts = {}
      for c, col in ipairs(cols) do
         local t = texts[c]
         local pad = string.rep(" ", widths[c] - width(t))
         if col.right then
            parts[c] = pad .. t
         elseif c < #cols then
            parts[c] = t .. pad
         else
            parts[c] = t
         end
      end
      lines[#lines + 1] = table.concat(parts, sep)
   end
   if opts.header ~= false then
      local titles = {}
      for c, col in ipairs(cols) do titles[c] = col.title end
      line(titles)
   end
   for r = 1, #shown do line(cells[r]) end
   return table.concat(lines, "\n") .. "\n"
end

--- tab.write(fh, rows [, opts]): render to a file handle (anything with :write).
function tab.write(fh, rows, opts)
   fh:write(tab.render(rows, opts))
end

--- tab.rows(t [, opts]) -> rows: one row per pair of t (a table, a map, a snapshot: anything
-- pairs() walks). A table key or value contributes its fields; any other key is stored as
-- row[opts.key or "key"] and any other value as row[opts.value or "value"]. Value fields win
-- over key fields of the same name. Rows come in pairs() order: sort them when rendering.
function tab.rows(t, opts)
   opts = opts or {}
   local kname, vname = opts.key or "key", opts.value or "value"
   local rows = {}
   for k, v in pairs(t) do
      local row = {}
      if type(k) == "table" then
         for f, x in pairs(k) do row[f] = x end
      else
         row[kname] = k
      end
      if type(v) == "table" then
         for f, x in pairs(v) do row[f] = x end
      else
         row[vname] = v
      end
      rows[#rows + 1] = row
   end
   return rows
end

return tab
