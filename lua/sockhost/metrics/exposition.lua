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

local exposition = {}

exposition.TEXT = "text/plain; version=0.0.4; charset=utf-8"
exposition.OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

-- ---- numbers and escaping -------------------------------------------------------------------

-- A sample value: integers exact (a u64 counter past 2^63 unsigned), floats in the shortest
-- form that reads back the same, +Inf, -Inf and NaN as the formats spell them.
function exposition.number(v, unsigned)
   if math.type(v) == "integer" then
      if unsigned and v < 0 then return fmt.u64(v) end
      return ("%d"):format(v)
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

local function escape_value(s)
   return (s:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
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
-- histogram {labels, buckets = {{le = s, count = n, negative = b}}, sum, count}.
function exposition.family(out, fam, rows, om)
   local base = fam.name
   if om and fam.type == "counter" then base = fam.name:gsub("_total$", "") end
   out[#out + 1] = ("# HELP %s %s\n"):format(base, escape_help(fam.help, om))
   out[#out + 1] = ("# TYPE %s %s\n"):format(base, fam.type)
   local names = fam.labels
   for _, r in ipairs(rows) do
      if fam.type == "histogram" then
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
      else
         local name = fam.name
         out[#out + 1] = ("%s%s %s\n"):format(name, labelset(names, r.labels),
            exposition.number(r.value, fam.type == "counter"))
      end
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
