-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/fakemap.lua: a stand-in for a sockhost map in pure-Lua specs. Like the real
-- one it is reachable only through pairs() (__pairs); indexing it raises, so a helper that
-- reads a map any other way fails its spec.
local fakemap = {}

--- fakemap.new(entries) -> a map whose pairs() walks entries (key -> value).
function fakemap.new(entries)
   return setmetatable({}, {
      __pairs = function()
         local k
         return function()
            local v
            k, v = next(entries, k)
            return k, v
         end, nil, nil
      end,
      __index = function() error("fake map: index instead of pairs()") end,
   })
end

return fakemap
