-- SPDX-License-Identifier: GPL-2.0
--- sockhost.events: what scripts do with the loss ledger at exit. Pure Lua on top of
-- sockhost.core's stats(): one row per event source (ring buffer, perf buffer, the BPF log)
-- with `received`, `dropped` (in the kernel: ring buffer `<map>_drops` counters, perf lost
-- samples), `errors` (callback errors counted with opts.on_error = "count") and `discarded`
-- (records still in the buffer when the subscription closed, never read).
local core = require "sockhost.core"

local M = {}

--- Totals over every source: {received =, dropped =, errors =, discarded =}.
function M.totals(stats)
   local t = { received = 0, dropped = 0, errors = 0, discarded = 0 }
   for _, s in ipairs(stats or core.stats()) do
      t.received = t.received + s.received
      t.dropped = t.dropped + s.dropped
      t.errors = t.errors + s.errors
      t.discarded = t.discarded + (s.discarded or 0)
   end
   return t
end

--- One line per source that dropped or counted errors, e.g.
-- "sockhost: warning: ringbuf 'events': 12 of 1012 events dropped in the kernel (reader too
-- slow or ring too small: opts maps = {events = {max_entries = ...}})".
function M.drop_warnings(stats)
   local lines = {}
   for _, s in ipairs(stats or core.stats()) do
      if s.dropped > 0 then
         local hint = s.kind == "perfbuf" and "reader too slow or perf buffer too small: opts.pages"
            or ("reader too slow or ring too small: maps = {" .. s.name .. " = {max_entries = ...}}")
         lines[#lines + 1] = ("sockhost: warning: %s '%s': %d of %d events dropped in the kernel (%s)")
            :format(s.kind, s.name, s.dropped, s.dropped + s.received, hint)
      end
      if (s.discarded or 0) > 0 then
         lines[#lines + 1] = ("sockhost: warning: %s '%s': %d events left unread at close "
            .. "(sub:drain() before closing reads them)"):format(s.kind, s.name, s.discarded)
      end
      if s.errors > 0 then
         lines[#lines + 1] = ("sockhost: warning: %s '%s': %d callback errors%s")
            :format(s.kind, s.name, s.errors,
               s.last_error and (", the last: " .. tostring(s.last_error):match("^[^\n]*")) or "")
      end
   end
   return lines
end

--- Write the warnings to out (default io.stderr); returns true when there were any.
-- Call it after sockhost.run returns, next to the script's summary.
function M.warn_drops(out)
   local lines = M.drop_warnings()
   out = out or io.stderr
   for _, l in ipairs(lines) do
      out:write(l, "\n")
   end
   return #lines > 0
end

return M
