-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.inspect: a readable rendering of any Lua value, for the REPL (main.c prints every
-- result of a statement through it) and for scripts that want to show a decoded record.
--
--   local inspect = require "sockhost.inspect"
--   inspect({ 1, 2, 3 })            --> { 1, 2, 3 }
--   inspect({ b = "x", a = { 1 } }) --> { a = { 1 }, b = "x" }
--
-- Strings are quoted as with %q (but with \n, \r, \t escapes instead of a backslash-newline);
-- table keys are sorted (numbers, then strings, then other types); the sequence part prints
-- first without keys; a table met again on the path from the root prints as <cycle>; tables
-- deeper than opts.depth (default 5) print as { ... }; at most opts.items (default 200)
-- entries print per table. Userdata, functions and threads print via tostring, so sockhost
-- handles show their own __tostring ("sockhost.map 'conns' (hash, 128 entries)"). Tables
-- are walked with next(), never through __index or __pairs, so inspecting has no side effects.

local DEFAULT_DEPTH = 5
local DEFAULT_ITEMS = 200
local LINE_WIDTH = 80

local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
               repeat return then true until while]]):gmatch("%a+") do
   KEYWORDS[word] = true
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- Like %q, but \n, \r, \t escapes instead of a backslash-newline and decimal codes.
local function quote(s)
   return '"' .. s:gsub('[%c"\\]', function(c)
      return ESCAPES[c] or string.format("\\%03d", c:byte())
   end) .. '"'
end

local TYPE_ORDER = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
   local ta, tb = type(a), type(b)
   if ta ~= tb then
      return (TYPE_ORDER[ta] or 4) < (TYPE_ORDER[tb] or 4) or
         ((TYPE_ORDER[ta] or 4) == (TYPE_ORDER[tb] or 4) and ta < tb)
   end
   if ta == "number" then
      return a < b
   end
   if ta == "string" then
      return a < b
   end
   if ta == "boolean" then
      return not a and b
   end
   return tostring(a) < tostring(b)
end

local function has_tostring(t)
   local mt = getmetatable(t)
   return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function scalar(v)
   local t = type(v)
   if t == "string" then
      return quote(v)
   elseif t == "number" then
      return tostring(v)
   end
   local ok, s = pcall(tostring, v)
   return ok and s or ("<" .. t .. ">")
end

local render

local function render_key(k, ctx, path, depth)
   if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then
      return k
   end
   return "[" .. render(k, ctx, path, depth) .. "]"
end

-- One entry per line, indented, when the one-line form is too long or holds a newline.
local function layout(parts, indent)
   if #parts == 0 then
      return "{}"
   end
   local line = "{ " .. table.concat(parts, ", ") .. " }"
   if #line + #indent <= LINE_WIDTH and not line:find("\n", 1, true) then
      return line
   end
   local inner = indent .. "  "
   return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. "\n" .. indent .. "}"
end

local function render_table(t, ctx, path, depth)
   if path[t] then
      return "<cycle>"
   end
   if has_tostring(t) then
      return scalar(t)
   end
   if depth >= ctx.depth then
      return next(t) == nil and "{}" or "{ ... }"
   end
   path[t] = true
   local indent = string.rep("  ", depth)
   local parts, shown = {}, 0

   -- the sequence part: 1..n without keys
   local n = 0
   while rawget(t, n + 1) ~= nil do
      n = n + 1
   end
   for i = 1, n do
      if shown >= ctx.items then break end
      shown = shown + 1
      parts[#parts + 1] = render(rawget(t, i), ctx, path, depth + 1)
   end

   local keys = {}
   for k in next, t do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then
         keys[#keys + 1] = k
      end
   end
   table.sort(keys, key_less)
   for _, k in ipairs(keys) do
      if shown >= ctx.items then break end
      shown = shown + 1
      parts[#parts + 1] = render_key(k, ctx, path, depth + 1) .. " = " ..
         render(rawget(t, k), ctx, path, depth + 1)
   end

   local total = n + #keys
   if shown < total then
      parts[#parts + 1] = string.format("... (%d more)", total - shown)
   end
   path[t] = nil
   return layout(parts, indent)
end

render = function(v, ctx, path, depth)
   if type(v) == "table" then
      return render_table(v, ctx, path, depth)
   end
   return scalar(v)
end

--- inspect(value [, opts]) -> string. opts: depth (tables nested deeper print as { ... }),
--- items (entries shown per table).
return function(value, opts)
   opts = opts or {}
   local ctx = {
      depth = opts.depth or DEFAULT_DEPTH,
      items = opts.items or DEFAULT_ITEMS,
   }
   return (render(value, ctx, {}, 0))
end
