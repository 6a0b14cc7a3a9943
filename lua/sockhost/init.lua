-- SPDX-License-Identifier: GPL-2.0
--- sockhost: the public Lua module. It re-exports the C core (sockhost.core: objects,
-- programs, maps, links, ring buffers, the loop) and adds what is easier in Lua: feature
-- tables for people, and the helper modules under sockhost.*. Scripts use only this module.
local core = require "sockhost.core"

local M = {}
for k, v in pairs(core) do
   M[k] = v
end

local lazy = {
   net = "sockhost.net", inspect = "sockhost.inspect", fmt = "sockhost.fmt",
   tab = "sockhost.tab", hist = "sockhost.hist", interval = "sockhost.interval",
   ndjson = "sockhost.ndjson", events = "sockhost.events", demo = "sockhost.demo",
   cli = "sockhost.cli", cgroup = "sockhost.cgroup", metrics = "sockhost.metrics",
}
setmetatable(M, {
   __index = function(t, k)
      local mod = lazy[k]
      if mod then
         local v = require(mod)
         rawset(t, k, v)
         return v
      end
      return nil
   end,
})

--- Kinds from sockhost.features(), sorted: those that work first, then the missing ones.
function M.feature_rows()
   local rows = {}
   for kind, f in pairs(core.features()) do
      rows[#rows + 1] = { kind = kind, ok = f.ok, reason = f.reason, instead = f.instead }
   end
   table.sort(rows, function(a, b)
      if a.ok ~= b.ok then return a.ok end
      return a.kind < b.kind
   end)
   return rows
end

--- Print the feature table (sockhost --features).
function M.print_features(out)
   out = out or io.stdout
   local rows = M.feature_rows()
   local width = 4
   for _, r in ipairs(rows) do
      width = math.max(width, #r.kind)
   end
   out:write(string.format("%-" .. width .. "s  %-3s  %s\n", "KIND", "OK", "WHY NOT / INSTEAD"))
   for _, r in ipairs(rows) do
      local note = ""
      if not r.ok then
         note = r.reason or "unavailable"
         if r.instead then note = note .. "; " .. r.instead end
      end
      out:write(string.format("%-" .. width .. "s  %-3s  %s\n", r.kind, r.ok and "yes" or "no", note))
   end
end

return M
