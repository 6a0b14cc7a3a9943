-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.metrics.exposition: the text of a scrape, for sockhost.metrics. Sample values
-- (exact integers, shortest round-trip floats, +Inf, -Inf, NaN), label and HELP escaping,
-- the lines of one family in the Prometheus text format 0.0.4 or OpenMetrics 1.0 (counter
-- families without _total, le as canonical floats, no _sum/_count beside a negative
-- threshold), and the choice between them from an HTTP Accept header.
--
-- Pure Lua: no sockhost.core.

local fmt = require "sockhost.fmt"

local find, gsub, mtype, tostring = string.find, string.gsub, math.type, tostring

local exposition = {}

exposition.TEXT = "text/plain; version=0.0.4; charset=utf-8"
exposition.OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

-- ---- numbers and escaping -------------------------------------------------------------------

-- A sample value: integers exact (a u64 counter past 2^63 unsigned), floats in the shortest
-- form that reads back the same, +Inf, -Inf and NaN as the formats spell them.
function exposition.number(v, unsigned)
   if mtype(v) == "integer" then
      if unsigned and v < 0 then return fmt.u64(v) end
      return v .. "" -- LUA_INTEGER_FMT, as ("%d"):format(v), and the cheapest way there
   end
   if v ~= v then return "NaN" end
   if v == math.huge then return "+Inf" end
   if v == -math.huge then return "-Inf" end
   if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(math.tointeger(v)) end
   for p = 1, 17 do
      local s = ("%." .. p .. "g"):format(v)
      if tonumber(s) == v then return s end
   end
   return ("%.17g"):format(v)
end

-- le as OpenMetrics wants it: a canonical float ("1.0", "0.5", "+Inf").
local function om_le(s)
   if s:match("^%-?%d+$") then return s .. ".0" end
   return s
end

-- most label values need no escape: find is much cheaper than gsub with a table
local function escape_value(s)
   if not find(s, '[\\"\n]') then return s end
   return (gsub(s, '[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function escape_help(s, om)
   if om then return escape_value(s) end
   return (s:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

--- exposition.label_value(v) -> string (raises for other types)
function exposition.label_value(v)
   local t = type(v)
   if t == "string" then return v end
   if t == "number" then return exposition.number(v) end
   if t == "boolean" then return tostring(v) end
   error(("label value must be a string, number or boolean, got %s"):format(t), 0)
end

local function labelset(names, values, extra_name, extra_value)
   local parts = {}
   for i, n in ipairs(names) do
      parts[#parts + 1] = ('%s="%s"'):format(n, escape_value(values[i]))
   end
   if extra_name then parts[#parts + 1] = ('%s="%s"'):format(extra_name, extra_value) end
   if #parts == 0 then return "" end
   return "{" .. table.concat(parts, ",") .. "}"
end

--- exposition.family(out, fam, rows, om): append family fam's lines to the sequence out:
-- fam = {name, help, type, labels}; rows = {{labels = {values}, value = v}, ...}, for a
-- histogram {labels, buckets = {{le = s, count = n, negative = b}}, sum, count}. With
-- fam.prefix_cache true, a sample row keeps its "name{labels} " in r.prefix, and its value's
-- text (r.vstr, of r.vnum) for the next render (sockhost.metrics' rows live from scrape to
-- scrape; their labels never change).
function exposition.family(out, fam, rows, om)
   local base = fam.name
   if om and fam.type == "counter" then base = fam.name:gsub("_total$", "") end
   out[#out + 1] = ("# HELP %s %s\n"):format(base, escape_help(fam.help, om))
   out[#out + 1] = ("# TYPE %s %s\n"):format(base, fam.type)
   local names = fam.labels
   if fam.type == "histogram" then
      for _, r in ipairs(rows) do
         for _, b in ipairs(r.buckets) do
            out[#out + 1] = ("%s_bucket%s %s\n"):format(fam.name,
               labelset(names, r.labels, "le", om and om_le(b.le) or b.le), exposition.number(b.count))
         end
         local ls = labelset(names, r.labels)
         out[#out + 1] = ("%s_bucket%s %s\n"):format(fam.name,
            labelset(names, r.labels, "le", "+Inf"), exposition.number(r.count))
         -- OpenMetrics: no _sum (and then no _count: they come together) beside a bucket
         -- with a negative threshold; the +Inf bucket is the count
         if not (om and r.buckets[1] and r.buckets[1].negative) then
            out[#out + 1] = ("%s_sum%s %s\n"):format(fam.name, ls, exposition.number(r.sum))
            out[#out + 1] = ("%s_count%s %s\n"):format(fam.name, ls, exposition.number(r.count))
         end
      end
      return
   end
   -- samples: one string per line, the label pairs' prefixes made once per family, and the
   -- whole "name{labels} " once per row with fam.prefix_cache (in r.prefix)
   local number, unsigned, name, nl = exposition.number, fam.type == "counter", fam.name,
      #names
   local pre = {}
   for i, n in ipairs(names) do pre[i] = (i == 1 and "{" or ",") .. n .. '="' end
   local p1, p2, o = pre[1], pre[2], #out
   local keep = fam.prefix_cache
   for _, r in ipairs(rows) do
      local p = r.prefix
      if not p then
         local v = r.labels
         if nl == 0 then
            p = name .. " "
         elseif nl == 1 then
            p = name .. p1 .. escape_value(v[1]) .. '"} '
         elseif nl == 2 then
            p = name .. p1 .. escape_value(v[1]) .. '"' .. p2 .. escape_value(v[2]) .. '"} '
         else
            p = name .. labelset(names, v) .. " "
         end
         if keep then r.prefix = p end
      end
      -- and the value's text while the value stays (most series of a big family do not
      -- move between two scrapes); 1 and 1.0 are equal but not always written alike
      local v, vs = r.value
      if keep and v == r.vnum and mtype(v) == r.vtype then
         vs = r.vstr
      else
         vs = number(v, unsigned)
         if keep then r.vnum, r.vtype, r.vstr = v, mtype(v), vs end
      end
      -- three pieces rather than one string: table.concat joins them once, in the end
      out[o + 1], out[o + 2], out[o + 3] = p, vs, "\n"
      o = o + 3
   end
end

-- ---- content negotiation --------------------------------------------------------------------

--- exposition.content_type(accept) -> format ("text" | "openmetrics"), Content-Type:
-- OpenMetrics when the Accept header asks for application/openmetrics-text (version 1.0.0 or
-- none) at a q at least that of text/plain, text/* and */*; text otherwise (no header too).
function exposition.content_type(accept)
   local om_q, text_q = -1, -1
   if type(accept) == "string" then
      for range in accept:gmatch("[^,]+") do
         local media = range:match("^%s*([^;%s]+)"):lower()
         local q, version = 1, nil
         for k, v in range:gmatch(";%s*([%w_%-]+)%s*=%s*\"?([^;\"%s]*)\"?") do
            k = k:lower()
            if k == "q" then q = tonumber(v) or 0 end
            if k == "version" then version = v end
         end
         if media == "application/openmetrics-text" and (version == nil or version == "1.0.0") then
            om_q = math.max(om_q, q)
         elseif media == "text/plain" or media == "*/*" or media == "text/*" then
            text_q = math.max(text_q, q)
         end
      end
   end
   if om_q > 0 and om_q >= text_q then return "openmetrics", exposition.OPENMETRICS end
   return "text", exposition.TEXT
end

return exposition
