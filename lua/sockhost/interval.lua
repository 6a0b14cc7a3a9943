-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.interval: per-interval deltas and rates from counters that only grow.
--
-- Why not clear the map after reading it: between the read of an entry and its delete, the
-- BPF program keeps counting, and those increments are lost. Worse, a program that does
-- "lookup, then update(old + n)" can resurrect a deleted entry with a stale total. So BPF
-- programs here only ever add to their counters, and user space keeps the previous snapshot
-- and subtracts. Nothing is lost and nothing races.
--
--   local interval = require "sockhost.interval"
--   local iv = interval.new { interval = 1 }     -- or pass a timestamp to :update
--   sockhost.every(1, function()
--      local rows = iv:update(map)               -- a map, a snapshot or any Lua table
--      for _, r in ipairs(rows) do print(r.key, r.delta, r.rate) end
--   end)
--
-- The cases, per key:
--   * present before and now: delta = now - before;
--   * new key: status "new", delta = its whole value (BPF counters start at zero when the
--     entry is created, so all of it was counted since it appeared, or at most since the
--     previous snapshot);
--   * vanished key (deleted, LRU-evicted): listed in the second result, "gone", with its last
--     value. What it counted between the last snapshot and its removal is unknown;
--   * a counter that went backwards: opts.backwards decides.
--       "reset" (default): the entry was deleted and created again (or the program
--         restarted): delta = the new value, status "reset". This is the right reading for
--         64-bit counters, which do not wrap in practice.
--       "wrap": the counter is opts.bits wide (default 64) and wrapped: delta = (now -
--         before) mod 2^bits, status "wrap". Use it for __u32 counters.
--     With struct values, any field going backwards marks the row; under "reset" every field
--     then takes its new value.
-- u64 values at or above 2^63 arrive as negative Lua integers: comparisons use math.ult and
-- subtraction wraps modulo 2^64, so counters near the top of the u64 range work.
--
-- Values: numbers, or tables of numbers (structs, arrays, nested). Deltas go field by field;
-- a per-CPU value read unreduced (a sequence, one element per CPU) gets per-CPU deltas.
-- Non-number fields (names, addresses) are copied from the newer value. Keys can be
-- anything; table keys (decoded structs) are matched by content, not identity.
--
-- Rows: { key =, value =, prev =, delta =, rate =, status = nil|"new"|"reset"|"wrap" },
-- sorted by key (numbers, then strings, then tables by content) so output is stable. delta
-- and rate have the shape of value. rate = delta / seconds, present only when the interval's
-- length is known.
--
-- Pure Lua: no sockhost.core.

local interval = {}

-- A stable identity for a key: scalars are themselves, tables a canonical text.
local function canon(v)
   local t = type(v)
   if t == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b)
         if type(a) ~= type(b) then return type(a) < type(b) end
         return a < b
      end)
      local parts = {}
      for i, k in ipairs(keys) do
         local kc = type(k) == "table" and canon(k) or ("%s:%s"):format(type(k), tostring(k))
         parts[i] = kc .. "=" .. canon(v[k])
      end
      return "{" .. table.concat(parts, ",") .. "}"
   elseif t == "number" then
      return math.type(v) .. ":" .. tostring(v)
   end
   return t .. ":" .. tostring(v)
end

local function key_id(k)
   if type(k) == "table" then return "\0" .. canon(k) end
   return k
end

-- A private copy, so later changes to the caller's table do not move the baseline.
local function copy(v)
   if type(v) ~= "table" then return v end
   local out = {}
   for k, x in pairs(v) do out[k] = copy(x) end
   return out
end

-- Is cur below prev, as the counters' unsigned values?
local function backwards(prev, cur, bits)
   if math.type(prev) == "integer" and math.type(cur) == "integer" and bits == 64 then
      return math.ult(cur, prev)
   end
   return cur < prev
end

-- Walk prev/cur in parallel; true when any numeric field went backwards.
local function any_backwards(prev, cur, bits)
   if type(cur) == "number" then
      return type(prev) == "number" and backwards(prev, cur, bits)
   end
   if type(cur) ~= "table" or type(prev) ~= "table" then return false end
   for k, x in pairs(cur) do
      if any_backwards(prev[k], x, bits) then return true end
   end
   return false
end

-- delta(prev, cur): prev nil means "count everything" (new key, or a reset).
local function delta(prev, cur, bits, wrap)
   if type(cur) == "number" then
      if type(prev) ~= "number" then return cur end
      if math.type(cur) == "integer" and math.type(prev) == "integer" then
         local d = cur - prev -- wraps modulo 2^64, which is exact for u64 counters
         if bits < 64 and wrap then d = d & ((1 << bits) - 1) end
         return d
      end
      return cur - prev
   end
   if type(cur) ~= "table" then return cur end -- names, addresses: the newer value
   local out = {}
   for k, x in pairs(cur) do
      out[k] = delta(type(prev) == "table" and prev[k] or nil, x, bits, wrap)
   end
   return out
end

local function rate(d, seconds)
   if type(d) == "number" then return d / seconds end
   if type(d) ~= "table" then return d end
   local out = {}
   for k, x in pairs(d) do out[k] = rate(x, seconds) end
   return out
end

-- Numbers, then strings, then tables (by canonical text), then the rest.
local ORDER = { number = 1, string = 2, table = 3 }
local function row_less(a, b)
   local ta, tb = ORDER[type(a.key)] or 4, ORDER[type(b.key)] or 4
   if ta ~= tb then return ta < tb end
   if ta == 4 then return tostring(a.id) < tostring(b.id) end
   return a.id < b.id
end

local function check_opts(opts, level)
   opts = opts or {}
   local bits = opts.bits or 64
   if math.type(bits) ~= "integer" or bits < 1 or bits > 64 then
      error(("bad option 'bits' (integer 1..64 expected, got %s)"):format(tostring(opts.bits)),
         level + 1)
   end
   local mode = opts.backwards or "reset"
   if mode ~= "reset" and mode ~= "wrap" then
      error(("bad option 'backwards' (\"reset\" or \"wrap\" expected, got %s)")
         :format(tostring(opts.backwards)), level + 1)
   end
   return bits, mode == "wrap"
end

-- Baseline table: id -> { key =, value = } from anything pairs() walks.
local function index(src)
   local out = {}
   for k, v in pairs(src) do
      out[key_id(k)] = { key = k, value = copy(v) }
   end
   return out
end

local function diff(before, now, seconds, bits, wrap)
   local rows, gone = {}, {}
   for id, e in pairs(now) do
      local p = before[id]
      local row = { id = id, key = e.key, value = e.value }
      if not p then
         row.status, row.delta = "new", delta(nil, e.value, bits, wrap)
      else
         row.prev = p.value
         if any_backwards(p.value, e.value, bits) then
            -- "reset": the entry started again from zero, so all of it is new
            row.status = wrap and "wrap" or "reset"
            row.delta = delta(wrap and p.value or nil, e.value, bits, wrap)
         else
            row.delta = delta(p.value, e.value, bits, wrap)
         end
      end
      if seconds then row.rate = rate(row.delta, seconds) end
      rows[#rows + 1] = row
   end
   for id, p in pairs(before) do
      if not now[id] then gone[#gone + 1] = { id = id, key = p.key, prev = p.value } end
   end
   table.sort(rows, row_less)
   table.sort(gone, row_less)
   for _, r in ipairs(rows) do r.id = nil end
   for _, r in ipairs(gone) do r.id = nil end
   return rows, gone
end

local function check_seconds(seconds, level)
   if seconds ~= nil and (type(seconds) ~= "number" or seconds ~= seconds or seconds <= 0) then
      error(("bad interval length (positive number of seconds expected, got %s)")
         :format(tostring(seconds)), level + 1)
   end
end

--- interval.diff(before, now [, opts]) -> rows, gone: the deltas from snapshot before to
-- snapshot now (tables, maps, anything pairs() walks). opts.seconds: the time between them,
-- for rates; opts.bits and opts.backwards as described above.
function interval.diff(before, now, opts)
   local bits, wrap = check_opts(opts, 2)
   local seconds = opts and opts.seconds
   check_seconds(seconds, 2)
   return diff(index(before), index(now), seconds, bits, wrap)
end

local Tracker = {}
Tracker.__index = Tracker

--- interval.new([opts]) -> tracker. opts.bits, opts.backwards as above; opts.interval: the
-- nominal seconds between updates (the sockhost.every period), used for rates when :update
-- gets no timestamp.
function interval.new(opts)
   local bits, wrap = check_opts(opts, 2)
   local nominal = opts and opts.interval
   check_seconds(nominal, 2)
   return setmetatable({ bits = bits, wrap = wrap, nominal = nominal }, Tracker)
end

--- tracker:update(snapshot [, now]) -> rows, gone. The first call only records the baseline
-- and returns two empty lists. now: a timestamp in seconds (any clock that does not jump);
-- with it rate = delta / (now - previous now), without it rate uses opts.interval.
function Tracker:update(src, now)
   if now ~= nil and type(now) ~= "number" then
      error(("bad argument #2 to 'update' (number expected, got %s)"):format(type(now)), 2)
   end
   local snap = index(src)
   local before, last = self.snap, self.now
   self.snap, self.now = snap, now
   if not before then return {}, {} end
   local seconds = self.nominal
   if now and last then
      seconds = now - last
      if seconds ~= seconds or seconds <= 0 then seconds = nil end
   end
   return diff(before, snap, seconds, self.bits, self.wrap)
end

--- tracker:reset(): forget the baseline; the next :update starts over.
function Tracker:reset()
   self.snap, self.now = nil, nil
end

return interval
