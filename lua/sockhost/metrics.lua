-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.metrics: a Prometheus registry in the naming and type conventions of the
-- Prometheus client libraries, rendered as the text format 0.0.4 or OpenMetrics 1.0. No HTTP:
-- a server calls registry:render(format) per scrape, with the format metrics.content_type()
-- picked from the scrape's Accept header.
--
--   local reg = metrics.registry()
--   local req = reg:counter{ name = "requests_total", help = "Requests.", labels = { "code" } }
--   req:inc(1, "200")
--   reg:bind(obj:map("conns"), { name = "conn_bytes_total", help = "Bytes.", type = "counter",
--      labels = { "port" }, value = "bytes" })
--   reg:bind(obj:map("lat"), { name = "lat_ns", help = "Latency.", type = "histogram",
--      buckets = "log2" })
--   io.write(reg:render("text"))
--
-- Families:
--   counter, gauge, histogram: values kept here, changed by :inc/:set/:dec/:observe with the
--     label values after the number, in the order of `labels`.
--   bind(map, spec): computed at scrape time from a map walk (pairs(map): per-CPU values come
--     summed, a per-CPU sequence is summed here). Entries whose labels are equal are summed;
--     an entry whose value function returns nil is left out. A map of SDK histogram buckets
--     (SH_HIST, sockhost.hist's numbering) with type = "histogram" becomes a Prometheus
--     histogram (see bucket_le below for the bounds, and `sum`). spec.div (a positive
--     number) converts to the family's base unit at scrape time: each sample (or a
--     histogram's bucket bounds and _sum; not its counts) is divided by it, e.g. 1e6 for a
--     map of microseconds exported as _seconds (a division, so 511 / 1e6 is 0.000511).
--   collector(spec): spec.collect(emit) calls emit(value, label values...) at scrape time.
-- A family past its series limit (spec.limit, default 10000) exports no more series and
-- counts each one it dropped in sockhost_metrics_series_dropped_total{family}. A Lua error in
-- a bound function or collector skips that family for the scrape and counts one in
-- sockhost_metrics_errors_total{family} (reg.last_error[family] keeps the message). Both
-- appear once they are non-zero. render() never raises.
--
-- Pure Lua: no sockhost.core (the built-in families are sockhost.metrics.builtin). The text
-- itself (numbers, escaping, the formats' lines, Accept) is sockhost.metrics.exposition.

local exposition = require "sockhost.metrics.exposition"

local metrics = {}

metrics.DEFAULT_LIMIT = 10000
metrics.DEFAULT_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
metrics.TEXT = exposition.TEXT
metrics.OPENMETRICS = exposition.OPENMETRICS
metrics.content_type = exposition.content_type

local DROPPED = "sockhost_metrics_series_dropped_total"
local ERRORS = "sockhost_metrics_errors_total"

-- ---- checking ------------------------------------------------------------------------------

-- raise msg at the first caller outside this file, as a library function does
local SOURCE = debug.getinfo(1, "S").source
local function raise(msg)
   local level = 2
   while true do
      local info = debug.getinfo(level, "S")
      if not info or info.source ~= SOURCE then break end
      level = level + 1
   end
   error(msg, level)
end

local function fail(fname, msg, ...)
   raise(("metrics.%s: " .. msg):format(fname, ...))
end

local OPTIONS = {
   counter = { "name", "help", "labels", "limit" },
   gauge = { "name", "help", "labels", "limit" },
   histogram = { "name", "help", "labels", "limit", "buckets" },
   bind = { "name", "help", "type", "labels", "label_names", "value", "limit", "buckets", "sum",
      "div" },
   collector = { "name", "help", "type", "labels", "limit", "collect" },
}

local function check_spec(fname, spec)
   if type(spec) ~= "table" then
      fail(fname, "options table expected, got %s", type(spec))
   end
   local valid = {}
   for _, k in ipairs(OPTIONS[fname]) do valid[k] = true end
   for k in pairs(spec) do
      if not valid[k] then
         fail(fname, "unknown option '%s' (valid: %s)", tostring(k),
            table.concat(OPTIONS[fname], ", "))
      end
   end
   local name = spec.name
   if type(name) ~= "string" then fail(fname, "option 'name' must be a string") end
   if not name:match("^[a-zA-Z_:][a-zA-Z0-9_:]*$") then
      fail(fname, "invalid metric name '%s' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)", name)
   end
   if type(spec.help) ~= "string" then
      fail(fname, "metric '%s': option 'help' must be a string", name)
   end
   if spec.limit ~= nil and (math.type(spec.limit) ~= "integer" or spec.limit < 0) then
      fail(fname, "metric '%s': option 'limit' must be a non-negative integer", name)
   end
end

local function check_type(fname, spec, kind)
   local name = spec.name
   if kind == "counter" and not name:match("_total$") then
      fail(fname, "counter name '%s' must end in _total", name)
   end
   if kind ~= "counter" and name:match("_total$") then
      fail(fname, "%s name '%s' must not end in _total (counters only)", kind, name)
   end
end

local function check_labels(fname, spec, kind)
   local labels = spec.labels or {}
   if type(labels) ~= "table" then
      fail(fname, "metric '%s': option 'labels' must be a sequence of names", spec.name)
   end
   local seen = {}
   for i, l in ipairs(labels) do
      if type(l) ~= "string" or not l:match("^[a-zA-Z_][a-zA-Z0-9_]*$") or l:match("^__") then
         fail(fname, "metric '%s': invalid label name '%s' (must match [a-zA-Z_][a-zA-Z0-9_]*, "
            .. "not starting with __)", spec.name, tostring(l))
      end
      if kind == "histogram" and l == "le" then
         fail(fname, "metric '%s': label name 'le' is reserved for histogram buckets", spec.name)
      end
      if seen[l] then fail(fname, "metric '%s': label '%s' given twice", spec.name, l) end
      seen[l] = i
   end
   return labels
end

local function check_buckets(fname, spec)
   local b = spec.buckets or metrics.DEFAULT_BUCKETS
   if type(b) ~= "table" or #b == 0 then
      fail(fname, "metric '%s': option 'buckets' must be a non-empty sequence", spec.name)
   end
   local out = {}
   for i, v in ipairs(b) do
      if type(v) ~= "number" or v ~= v then
         fail(fname, "metric '%s': bucket %d is not a number", spec.name, i)
      end
      if i > 1 and v <= b[i - 1] then
         fail(fname, "metric '%s': buckets must increase (%s after %s)", spec.name,
            tostring(v), tostring(b[i - 1]))
      end
      if v ~= math.huge then out[#out + 1] = v end
   end
   return out
end

local number, label_value = exposition.number, exposition.label_value
local render_family = exposition.family

-- ---- families -------------------------------------------------------------------------------

local Family = {}
Family.__index = Family

-- The series of label values, made when new and the family has room; nil past the limit.
local function series(fam, fname, ...)
   local n = select("#", ...)
   if n ~= #fam.labels then
      raise(("metrics: %s '%s': %d label value%s expected (%s), got %d"):format(fname, fam.name,
         #fam.labels, #fam.labels == 1 and "" or "s", #fam.labels == 0 and "no labels" or table.concat(fam.labels, ", "), n))
   end
   local values = {}
   for i = 1, n do
      local ok, v = pcall(label_value, (select(i, ...)))
      if not ok then
         raise(("metrics: %s '%s': label '%s': %s"):format(fname, fam.name, fam.labels[i], v))
      end
      values[i] = v
   end
   local key = table.concat(values, "\0")
   local s = fam.series[key]
   if s then return s end
   if #fam.order >= fam.limit then
      fam.registry:dropped(fam.name, 1)
      return nil
   end
   s = { labels = values, value = 0 }
   if fam.type == "histogram" then
      s.counts, s.sum, s.count = {}, 0, 0
      for i = 1, #fam.buckets do s.counts[i] = 0 end
   end
   fam.series[key] = s
   fam.order[#fam.order + 1] = s
   return s
end

local function amount(fname, fam, v, default)
   if v == nil then return default end
   if type(v) ~= "number" then
      raise(("metrics: %s '%s': number expected, got %s"):format(fname, fam.name, type(v)))
   end
   return v
end

--- counter:inc([n = 1], labels...), gauge:inc: add n (a counter only goes up).
function Family:inc(n, ...)
   n = amount("inc", self, n, 1)
   if self.type == "counter" and n < 0 then
      raise(("metrics: inc '%s': counters only go up (got %s)"):format(self.name, number(n)))
   end
   if self.type == "histogram" then
      raise(("metrics: inc '%s': a histogram takes :observe()"):format(self.name))
   end
   local s = series(self, "inc", ...)
   if s then s.value = s.value + n end
end

--- gauge:dec([n = 1], labels...)
function Family:dec(n, ...)
   n = amount("dec", self, n, 1)
   if self.type ~= "gauge" then
      raise(("metrics: dec '%s': only a gauge goes down"):format(self.name))
   end
   local s = series(self, "dec", ...)
   if s then s.value = s.value - n end
end

--- gauge:set(v, labels...)
function Family:set(v, ...)
   v = amount("set", self, v)
   if self.type ~= "gauge" or v == nil then
      raise(("metrics: set '%s': %s"):format(self.name,
         v == nil and "number expected, got nil" or "only a gauge is set"))
   end
   local s = series(self, "set", ...)
   if s then s.value = v end
end

--- histogram:observe(v, labels...)
function Family:observe(v, ...)
   v = amount("observe", self, v)
   if self.type ~= "histogram" or v == nil then
      raise(("metrics: observe '%s': %s"):format(self.name,
         v == nil and "number expected, got nil" or "only a histogram observes"))
   end
   local s = series(self, "observe", ...)
   if not s then return end
   for i, b in ipairs(self.buckets) do
      if v <= b then s.counts[i] = s.counts[i] + 1 end
   end
   s.sum, s.count = s.sum + v, s.count + 1
end

-- ---- bound maps: SDK histogram buckets --------------------------------------------------------

-- bucket_le(spec) -> function(index) -> inclusive upper bound (an integer) or nil for the
-- open last bucket, and the lower bound used for the _sum estimate; then the number of
-- finite buckets, the last bucket number (64; n + 1) and the numbering's name for messages. sockhost.hist's
-- numbering; bucket values are integers, so "< 2^k" is "<= 2^k - 1". A bucket with a
-- negative bound is exported once it is not empty (OpenMetrics then drops _sum and _count):
--   log2:   0 negative (le -1, counted as -1 in the sum), 1 zero (le 0), k >= 2 holds
--           [2^(k-2), 2^(k-1)) (le 2^(k-1) - 1, counted as 2^(k-2)); 64 ends at 2^63 - 1.
--   linear {min=, max=, step=}: n = (max - min) // step; 0 (..., min) (le min - 1, counted
--           as min - 1), i holds [min + (i-1)*step, min + i*step) (le min + i*step - 1,
--           counted as its lower bound), n + 1 the rest (only +Inf, counted as min + n*step).
local function hist_bounds(fname, spec)
   local b = spec.buckets
   if b == "log2" then
      return function(i)
         if i == 0 then return -1, -1 end
         if i == 1 then return 0, 0 end
         if i >= 65 then return nil, 1 << 62 end
         return (1 << (i - 1)) - 1, 1 << (i - 2)
      end, 64, 64, "log2"
   end
   if type(b) == "table" and b.min and b.max and b.step then
      local min, max, step = b.min, b.max, b.step
      if math.type(min) ~= "integer" or math.type(max) ~= "integer"
         or math.type(step) ~= "integer" or step <= 0 or max - min < step then
         fail(fname, "metric '%s': linear buckets need integers min, max, step > 0 and "
            .. "max >= min + step", spec.name)
      end
      local n = (max - min) // step
      return function(i)
         if i == 0 then return min - 1, min - 1 end
         if i > n then return nil, min + n * step end
         return min + i * step - 1, min + (i - 1) * step
      end, n, n + 1, ("linear {min=%d, max=%d, step=%d}"):format(min, max, step)
   end
   fail(fname, "metric '%s': a bound histogram takes buckets = \"log2\" or {min=, max=, step=}",
      spec.name)
end

-- a value or a per-CPU sequence of values, summed
local function plain(v)
   if type(v) == "table" and v[1] ~= nil then
      local s = 0
      for _, x in ipairs(v) do s = s + x end
      return s
   end
   return v
end

local function getter(fname, spec, opt, what)
   local g = spec[opt]
   if g == nil then return nil end
   if type(g) == "function" then return g end
   if type(g) == "string" then
      return function(t)
         if type(t) ~= "table" then
            error(("%s is a %s, not a struct with field '%s'"):format(what, type(t), g), 0)
         end
         return t[g]
      end
   end
   fail(fname, "metric '%s': option '%s' must be a field name or a function", spec.name, opt)
end

-- labels = {"field", ...}: each from the key's field (a scalar key gives the one label);
-- labels = function(key, value) -> label values (several results, or one sequence), named by
-- label_names = {...}.
local function label_getter(fname, spec)
   local l = spec.labels
   if type(l) == "function" then
      if spec.label_names == nil then
         fail(fname, "metric '%s': a labels function needs label_names", spec.name)
      end
      local names = check_labels(fname, { name = spec.name, labels = spec.label_names },
         spec.type)
      local nl = #names
      -- the label values, or an error that says it was the labels function and what it gave
      return function(k, v)
         local res = table.pack(pcall(l, k, v))
         if not res[1] then
            local e = res[2]
            error("labels function: " .. (type(e) == "string" and e
               or ("raised a %s, not a message"):format(type(e))), 0)
         end
         local vals, n
         local seq = res.n == 2 and type(res[2]) == "table"
         if seq then
            vals = res[2]
            n = #vals
         else
            vals, n = table.move(res, 2, res.n, 1, {}), res.n - 1
         end
         for i = 1, nl do
            local t = type(vals[i])
            if seq and t == "nil" then
               error(("labels function gave a table without [%d], the value of label '%s' "
                  .. "(one table is read as the sequence of label values)"):format(i, names[i]), 0)
            elseif t ~= "string" and t ~= "number" and t ~= "boolean" then
               error(("labels function gave %s for label '%s' (a string, number or boolean "
                  .. "expected)"):format(t == "nil" and "nil" or "a " .. t, names[i]), 0)
            end
         end
         if n > nl then
            error(("labels function gave %d values for %d label%s (%s)"):format(n, nl,
               nl == 1 and "" or "s", table.concat(names, ", ")), 0)
         end
         return vals
      end, names
   end
   if spec.label_names ~= nil then
      fail(fname, "metric '%s': label_names goes with a labels function", spec.name)
   end
   local names = check_labels(fname, spec, spec.type)
   local fields = (#names == 1 or #names == 2) and names or nil
   return function(k)
      local out = {}
      if type(k) ~= "table" then
         if #names > 1 then
            error(("key is a %s, not a struct with fields %s"):format(type(k),
               table.concat(names, ", ")), 0)
         end
         out[1] = k
      else
         for i, n in ipairs(names) do out[i] = k[n] end
      end
      return out
   end, names, fields
end

-- ---- the registry ---------------------------------------------------------------------------

local Registry = {}
Registry.__index = Registry

--- metrics.registry() -> an empty registry
function metrics.registry()
   return setmetatable({ families = {}, by_name = {}, dropped_by = {}, errors_by = {},
      last_error = {} }, Registry)
end

function Registry:dropped(family, n)
   self.dropped_by[family] = (self.dropped_by[family] or 0) + n
end

local function add(reg, fname, spec, fam)
   if reg.by_name[spec.name] or spec.name == DROPPED or spec.name == ERRORS then
      fail(fname, "metric '%s' is already registered", spec.name)
   end
   fam.name, fam.help, fam.registry = spec.name, spec.help, reg
   fam.limit = spec.limit or metrics.DEFAULT_LIMIT
   fam.series, fam.order = {}, {}
   -- each row keeps its sample prefix (exposition.family)
   fam.prefix_cache = true
   reg.by_name[spec.name] = fam
   reg.families[#reg.families + 1] = fam
   return setmetatable(fam, Family)
end

local function direct(kind)
   return function(reg, spec)
      check_spec(kind, spec)
      check_type(kind, spec, kind)
      local fam = { type = kind, labels = check_labels(kind, spec, kind) }
      if kind == "histogram" then fam.buckets = check_buckets(kind, spec) end
      add(reg, kind, spec, fam)
      if #fam.labels == 0 then series(fam, kind) end
      return fam
   end
end

--- reg:counter{name=, help=, labels=, limit=}, reg:gauge{...}, reg:histogram{..., buckets=}
Registry.counter = direct("counter")
Registry.gauge = direct("gauge")
Registry.histogram = direct("histogram")

local TYPES = { counter = true, gauge = true, histogram = true }

--- reg:collector{name=, help=, type=, labels=, limit=, collect = function(emit)}:
-- emit(value, label values...) per series, at scrape time.
function Registry:collector(spec)
   check_spec("collector", spec)
   if spec.type ~= "counter" and spec.type ~= "gauge" then
      fail("collector", "metric '%s': type must be \"counter\" or \"gauge\"", spec.name)
   end
   check_type("collector", spec, spec.type)
   if type(spec.collect) ~= "function" then
      fail("collector", "metric '%s': option 'collect' must be a function", spec.name)
   end
   local fam = { type = spec.type, labels = check_labels("collector", spec, spec.type),
      collect = spec.collect }
   return add(self, "collector", spec, fam)
end

--- reg:bind(map, {name=, help=, type=, labels=, value=, limit=, buckets=, sum=})
function Registry:bind(map, spec)
   check_spec("bind", spec)
   if not TYPES[spec.type] then
      fail("bind", "metric '%s': type must be \"counter\", \"gauge\" or \"histogram\"", spec.name)
   end
   check_type("bind", spec, spec.type)
   if map == nil then fail("bind", "metric '%s': no map given", spec.name) end
   local div = spec.div
   if div ~= nil and (type(div) ~= "number" or div ~= div or div <= 0 or div == math.huge) then
      fail("bind", "metric '%s': option 'div' must be a positive number", spec.name)
   end
   local fam = { type = spec.type, map = map, div = spec.div }
   if type(map) == "userdata" then
      local ok, n = pcall(function() return map.name end)
      fam.map_name = ok and type(n) == "string" and n or nil
   end
   if spec.type == "histogram" then
      if spec.labels ~= nil or spec.label_names ~= nil then
         fail("bind", "metric '%s': a bound histogram has no labels (one map, one histogram)",
            spec.name)
      end
      fam.labels = {}
      fam.bound_hist, fam.nfinite, fam.last_bucket, fam.numbering = hist_bounds("bind", spec)
      -- a sockhost.map knows its key size: a struct key of another size is refused here (one
      -- of 1, 2, 4 or 8 bytes is only seen to be a struct at scrape time)
      local ks = type(map) == "userdata" and select(2, pcall(function() return map.key_size end))
      if math.type(ks) == "integer" and ks ~= 1 and ks ~= 2 and ks ~= 4 and ks ~= 8 then
         fail("bind", "metric '%s': map '%s' has %d-byte keys, not bucket numbers (a bound "
            .. "histogram reads an SH_HIST map: integer keys of 1, 2, 4 or 8 bytes)", spec.name,
            tostring(map.name), ks)
      end
      if spec.sum ~= nil and type(spec.sum) ~= "function" then
         fail("bind", "metric '%s': option 'sum' must be a function", spec.name)
      end
      fam.sum = spec.sum
      fam.count_of = getter("bind", spec, "value", "value")
   else
      fam.label_of, fam.labels, fam.label_fields = label_getter("bind", spec)
      fam.value_of = getter("bind", spec, "value", "value")
   end
   return add(self, "bind", spec, fam)
end

-- ---- scraping -------------------------------------------------------------------------------

-- Rows {labels = {...}, value = v, key = k} of a computed family, equal labels summed, past
-- the limit dropped, sorted by label values for a stable order. Past the limit, the series
-- of the scrape before are kept first (a hash map's walk order changes as entries come), then
-- new ones in walk order while there is room.
--
-- Written for 10,000 series a scrape (bench/metrics.lua). A family keeps its rows from one
-- scrape to the next (fam.rows_by_key, by the label values joined with NULs), so a series
-- costs a table, its label strings and its sample prefix (exposition's prefix_cache) once,
-- not once per scrape; a bound family with labels = {"field"} or {"a", "b"} finds the row
-- from the raw key fields (fam.raw) without making the label strings at all. Rows are
-- sorted by key as strings (table.sort's own comparison, the same as a.key < b.key), and
-- when a scrape has exactly the series of the one before, the order of that one is kept.
-- The caches are dropped when they hold more than CACHE_FACTOR * limit + CACHE_SLACK
-- entries (series that went away), so they stay bounded by the series limit.
local concat, sort, math_type = table.concat, table.sort, math.type
local CACHE_FACTOR, CACHE_SLACK = 2, 1000

-- the family's caches for a scrape (dropped when they outgrew the bound)
local function caches(fam)
   if not fam.rows_by_key or fam.cached > CACHE_FACTOR * fam.limit + CACHE_SLACK then
      fam.rows_by_key, fam.raw, fam.cached, fam.prev = {}, {}, 0, nil
   end
   return fam.rows_by_key
end

-- the row of a key, made the first time
local function row_of(fam, key, vals)
   local cache = fam.rows_by_key
   local r = cache[key]
   if not r then
      -- every field a row gets, made at once (no rehash as collect and exposition add them)
      r = { labels = vals, key = key, gen = false, sticky = false, value = 0, prefix = false,
         vnum = false, vtype = false, vstr = false }
      cache[key] = r
      fam.cached = fam.cached + 1
   end
   return r
end

-- The rows of a scrape from the entries' rows rs[i] and values vs[i] (i = 1..m, in walk
-- order): equal rows summed, past the limit dropped, sorted; -> rows, dropped.
local function collect(fam, rs, vs, m)
   local gen = (fam.gen or 0) + 1
   fam.gen = gen
   local prev = fam.prev
   local prev_gen = prev and prev.gen
   local list, n, same, dropped, limit = {}, 0, 0, 0, fam.limit
   if prev_gen and m > limit then
      -- past the limit the series exported last time stay (sticky: a series does not come
      -- and go with the order of a hash map's walk), then new ones while there is room
      for i = 1, m do
         local r = rs[i]
         if r.sticky == gen then
            r.value = r.value + vs[i]
         elseif r.gen == prev_gen then
            r.gen, r.sticky, r.value = gen, gen, vs[i]
            same, n = same + 1, n + 1
            list[n] = r
         end
      end
   end
   for i = 1, m do
      local r, value = rs[i], vs[i]
      -- (a sticky row was summed above)
      if r.sticky ~= gen then
         if r.gen == gen then
            r.value = r.value + value
         elseif n >= limit then
            dropped = dropped + 1
         else
            if r.gen == prev_gen then same = same + 1 end
            r.gen, r.value = gen, value
            n = n + 1
            list[n] = r
         end
      end
   end
   local rows
   if prev and same == n and n == #prev.rows then
      rows = prev.rows
   else
      local keys, cache = {}, fam.rows_by_key
      for i = 1, n do keys[i] = list[i].key end
      sort(keys)
      rows = {}
      for i = 1, n do rows[i] = cache[keys[i]] end
   end
   local div = fam.div
   if div then
      for i = 1, n do rows[i].value = rows[i].value / div end
   end
   fam.prev = { gen = gen, rows = rows }
   return rows, dropped
end

-- one entry's value and label values into push: the general case, and every message
local function entry(push, nl, value, labels)
   value = plain(value)
   if type(value) ~= "number" then
      error(("value must be a number, got %s"):format(type(value)), 0)
   end
   local nv = #labels
   local vals = {}
   for i = 1, nv do
      local x = labels[i]
      if type(x) ~= "string" then x = label_value(x) end
      vals[i] = x
   end
   if nv ~= nl then
      error(("%d label values expected, got %d"):format(nl, nv), 0)
   end
   local key
   if nl == 1 then
      key = vals[1]
   elseif nl == 2 then
      key = vals[1] .. "\0" .. vals[2]
   else
      key = concat(vals, "\0")
   end
   push(value, key, vals)
end

local function gather(fam, each)
   caches(fam)
   local rs, vs, m, nl = {}, {}, 0, #fam.labels
   local function push(value, key, vals)
      m = m + 1
      rs[m], vs[m] = row_of(fam, key, vals), value
   end
   each(function(value, labels)
      if value ~= nil then entry(push, nl, value, labels) end
   end)
   return collect(fam, rs, vs, m)
end

local function scrape_bound(fam)
   local value_of, label_of = fam.value_of, fam.label_of
   caches(fam)
   local nl, fields, raw = #fam.labels, fam.label_fields, fam.raw
   local f1, f2 = fields and fields[1], fields and fields[2]
   local rs, vs, m = {}, {}, 0
   local function push(value, key, vals)
      m = m + 1
      rs[m], vs[m] = row_of(fam, key, vals), value
   end
   for k, v in pairs(fam.map) do
      local n = v
      if value_of then n = value_of(v, k) end
      if n ~= nil then
         -- labels = {"field"} or {"a", "b"} and a number: the row straight from the raw
         -- fields (fam.raw holds integers and strings only: a float such as 2^60 is a key
         -- equal to an integer, but its label is written otherwise)
         local r, x1, x2
         if fields and type(n) == "number" then
            if type(k) == "table" then
               x1 = k[f1]
               if nl == 2 then x2 = k[f2] end
            elseif nl == 1 then
               x1 = k
            end
            local t1 = math_type(x1) ~= "float" and type(x1)
            if t1 == "number" or t1 == "string" then
               if nl == 1 then
                  r = raw[x1]
                  if not r then
                     local a = tostring(x1)
                     r = row_of(fam, a, { a })
                     raw[x1] = r
                     fam.cached = fam.cached + 1
                  end
               else
                  local t2 = math_type(x2) ~= "float" and type(x2)
                  if t2 == "number" or t2 == "string" then
                     local sub = raw[x1]
                     if not sub then
                        sub = {}
                        raw[x1] = sub
                     end
                     r = sub[x2]
                     if not r then
                        local a, b = tostring(x1), tostring(x2)
                        r = row_of(fam, a .. "\0" .. b, { a, b })
                        sub[x2] = r
                        fam.cached = fam.cached + 1
                     end
                  end
               end
            end
         end
         if r then
            m = m + 1
            rs[m], vs[m] = r, n
         else
            entry(push, nl, n, label_of(k, v))
         end
      end
   end
   return collect(fam, rs, vs, m)
end

-- sum + c * low, exact in integers until that would overflow, then in floats
local function addmul(sum, c, low)
   if math.type(sum) == "integer" and math.type(c) == "integer" and c > 0 then
      local lim = math.maxinteger // c
      if math.abs(low) <= lim and math.abs(sum) <= math.maxinteger - math.abs(low) * c then
         return sum + c * low
      end
   elseif math.type(sum) == "integer" and c == 0 then
      return sum
   end
   return sum + c * 1.0 * low
end

local function scrape_hist(fam)
   local counts, top = {}, -1
   for k, v in pairs(fam.map) do
      if math.type(k) ~= "integer" then
         error(("bucket keys must be bucket numbers (integers from 0), got %s"):format(
            type(k) == "table" and "a struct key (a table)"
               or ("a %s key %s"):format(math.type(k) or type(k),
                  type(k) == "string" and ("%q"):format(k) or tostring(k))), 0)
      end
      if k < 0 then
         error(("bucket key %d is negative (bucket numbers start at 0)"):format(k), 0)
      end
      local c = v
      if fam.count_of then c = fam.count_of(v, k) end
      c = plain(c or 0)
      if type(c) ~= "number" then
         error(("bucket %d: count must be a number, got %s"):format(k, type(c)), 0)
      end
      -- past the last bucket: an empty one is nothing (an array sized larger than the
      -- numbering needs), a count there means the map is not in this numbering
      if k > fam.last_bucket then
         if c ~= 0 then
            error(("bucket key %d holds %s but %s buckets end at %d (is the map in another "
               .. "numbering?)"):format(k, number(c), fam.numbering, fam.last_bucket), 0)
         end
      else
         counts[k] = (counts[k] or 0) + c
         if k > top then top = k end
      end
   end
   local s = { labels = {}, buckets = {}, sum = 0, count = 0 }
   local cum = 0
   for i = 0, math.max(top, 0) do
      local c = counts[i] or 0
      local le, low = fam.bound_hist(i)
      cum = cum + c
      s.sum = addmul(s.sum, c, low)
      -- a negative bucket only once it holds something: OpenMetrics allows no _sum beside
      -- a negative threshold, and most histograms never see a negative value
      if le and (le >= 0 or cum > 0) then
         s.buckets[#s.buckets + 1] = { le = number(fam.div and le / fam.div or le),
            count = cum, negative = le < 0 }
      end
   end
   s.count = cum
   if fam.sum then
      local exact = fam.sum()
      if type(exact) ~= "number" then error("sum must return a number", 0) end
      s.sum = exact
   end
   if fam.div then s.sum = s.sum / fam.div end
   return { s }, 0
end

local function scrape_collector(fam)
   return gather(fam, function(emit)
      fam.collect(function(value, ...) emit(value, table.pack(...)) end)
   end)
end

-- rows of a family for this scrape, or nil, message when its function failed
local function scrape(fam)
   if fam.map then
      local ok, rows, dropped = pcall(fam.bound_hist and scrape_hist or scrape_bound, fam)
      if not ok and fam.map_name then
         local tok, desc = pcall(tostring, fam.map)
         if tok and desc:find("(closed)", 1, true) then
            rows = ("map '%s' is closed (its object was closed), nothing to export: %s")
               :format(fam.map_name, tostring(rows))
         end
      end
      return ok, rows, dropped
   end
   if fam.collect then return pcall(scrape_collector, fam) end
   local rows = {}
   for i, s in ipairs(fam.order) do
      rows[i] = s
      if fam.type == "histogram" then
         s.buckets = {}
         for j, b in ipairs(fam.buckets) do
            s.buckets[j] = { le = number(b), count = s.counts[j], negative = b < 0 }
         end
      end
   end
   return true, rows, 0
end

-- ---- rendering ------------------------------------------------------------------------------

local function meta_family(name, help, by)
   local fams = {}
   for f in pairs(by) do fams[#fams + 1] = f end
   if #fams == 0 then return nil end
   table.sort(fams)
   local rows = {}
   for i, f in ipairs(fams) do rows[i] = { labels = { f }, value = by[f] } end
   return { name = name, help = help, type = "counter", labels = { "family" } }, rows
end

local FORMATS = { text = false, openmetrics = true }

--- reg:render([format = "text"]) -> string: "text" (Prometheus text 0.0.4) or "openmetrics"
-- (OpenMetrics 1.0, ending in "# EOF"). Never raises: an unknown format renders as text.
function Registry:render(format)
   local om = FORMATS[format] or false
   local out = {}
   for _, fam in ipairs(self.families) do
      local ok, rows, dropped = scrape(fam)
      if ok then
         if dropped > 0 then self:dropped(fam.name, dropped) end
         local rok = pcall(render_family, out, fam, rows, om)
         if not rok then ok, rows = false, "rendering failed" end
      end
      if not ok then
         self.errors_by[fam.name] = (self.errors_by[fam.name] or 0) + 1
         self.last_error[fam.name] = tostring(rows)
      end
   end
   for _, m in ipairs({
      { DROPPED, "Series a family did not export because it was past its series limit.",
         self.dropped_by },
      { ERRORS, "Scrapes in which a family's function raised an error (family skipped).",
         self.errors_by },
   }) do
      local fam, rows = meta_family(m[1], m[2], m[3])
      if fam then render_family(out, fam, rows, om) end
   end
   if om then out[#out + 1] = "# EOF\n" end
   return table.concat(out)
end

-- ---- the default registry -------------------------------------------------------------------

--- metrics.default: the registry metrics.counter/gauge/histogram/bind/collector/render use.
metrics.default = metrics.registry()
for _, f in ipairs({ "counter", "gauge", "histogram", "bind", "collector", "render" }) do
   metrics[f] = function(...) return metrics.default[f](metrics.default, ...) end
end

return metrics
