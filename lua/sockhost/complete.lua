-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.complete: Lua name completion for the REPL's Tab (host/repl.c calls
-- complete.candidates on the word before the cursor) and for `sockhost --complete WORD`.
--
--   complete.candidates("sockhost.ope")   --> { "sockhost.open", "sockhost.open_pinned" }
--   complete.candidates("obj:pro")        --> { "obj:program", "obj:programs" }
--   complete.candidates("string.fo")      --> { "string.format" }
--
-- The word is a dotted path, optionally ending in ":name" (a method call). Names come from
--   - the fields of a table (raw: next(), never __pairs, which for a sockhost map would walk
--     the kernel map);
--   - its metatable's __index when that is a table, and so on up the chain (string values
--     complete string methods this way);
--   - a sockhost handle's methods: the `methods` table of its metatable, which a handle's
--     __index function looks in (host/lua/class.c).
-- After ':' only functions are offered. Only names that are Lua identifiers (not keywords)
-- are offered, sorted. The path is walked with ordinary indexing under pcall, so a field that
-- raises completes to nothing; a global word ("pri") completes from env (default _G) and
-- the keywords.
--
-- Pure Lua: no sockhost.core.

local complete = {}

local KEYWORDS = {}
for kw in ([[and break do else elseif end false for function goto if in local nil not or
   repeat return then true until while]]):gmatch("%a+") do
   KEYWORDS[kw] = true
end

local function identifier(s)
   return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

-- Add to out[name] = value each name v offers (see the top of the file).
local function collect(v, out, depth)
   if depth > 8 then return end
   if type(v) == "table" then
      for k, x in next, v do
         if identifier(k) and out[k] == nil then out[k] = x end
      end
   end
   local mt = getmetatable(v)
   if type(mt) ~= "table" then return end -- none, or protected by __metatable
   local index = rawget(mt, "__index")
   if type(index) == "table" then
      collect(index, out, depth + 1)
   elseif type(rawget(mt, "methods")) == "table" then
      collect(rawget(mt, "methods"), out, depth + 1)
   end
end

local function index(v, k)
   local ok, x = pcall(function() return v[k] end)
   if ok then return x end
   return nil
end

--- complete.candidates(word [, env]) -> sorted sequence of the completions of word, each
-- the whole word ("sockhost.open"); empty when nothing fits.
function complete.candidates(word, env)
   env = env or _G
   local path, sep, partial = word:match("^(.-)([%.:]?)([%w_]*)$")
   local out, names = {}, {}
   if sep == "" then
      collect(env, names, 0)
      for kw in pairs(KEYWORDS) do names[kw] = names[kw] or true end
   else
      local v = env
      for part, dot in (path .. "."):gmatch("([^%.:]*)([%.:])") do
         if not identifier(part) or dot == ":" or v == nil then return out end
         v = index(v, part)
      end
      if v == nil then return out end
      collect(v, names, 0)
   end
   for name, x in pairs(names) do
      if name:sub(1, #partial) == partial and (sep ~= ":" or type(x) == "function") then
         out[#out + 1] = path .. sep .. name
      end
   end
   table.sort(out)
   return out
end

return complete
