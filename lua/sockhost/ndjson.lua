-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.ndjson: newline-delimited JSON, one object per line, for scripts' --json output.
--
--   local ndjson = require "sockhost.ndjson"
--   local out = ndjson.writer(io.stdout, { order = { "ts", "pid" } })
--   out:write { ts = 12, pid = 42, comm = "curl", bytes = 1500 }
--   --> {"ts":12,"pid":42,"bytes":1500,"comm":"curl"}
--
-- Why not plain cjson.encode: lua-cjson 2.1 turns every number into a double and prints it
-- with %.14g (at most 14 digits), so a byte counter of 123456789012345 comes out as
-- 1.2345678901234e+14 and a u64 cookie loses its low digits; and its key order follows the
-- hash table, so lines of one stream differ in layout. Here:
--   * integers print exactly (%d); integral floats too (100000.0 prints 100000, not
--     1e+05), while other floats print with opts.precision significant digits (default 14,
--     as cjson; 17 round-trips any double). NaN and infinities print as null (cjson raises);
--   * u64: BTF decoding hands a u64 at or above 2^63 out as a negative Lua integer.
--     opts.unsigned = true prints every integer as unsigned; a set of field names
--     ({ cookie = true }) does it for those fields only, at any depth. Lua 5.4.4's "%u"
--     prints the 64 bits unsigned (sockhost.fmt.u64);
--   * keys are ordered: opts.order's names first, in that order (top level only), then the
--     rest sorted (integer keys before string keys, compared as such);
--   * a top-level "ts" that is a float (a record's time, wall-clock seconds) prints with
--     exactly 6 decimals, as the lines written from C (opts.ndjson) do;
--   * writer:emit(type, record) stamps a tool's record: "type" and "ts" first;
--   * strings are escaped by lua-cjson (as JSON requires; "/" is left as is). Bytes are not
--     checked for UTF-8: decode binary fields (addresses, raw keys) before writing them;
--   * a table whose keys are exactly 1..n (n >= 1) is an array, any other table an object
--     (so {} is {}); ndjson.array(t) marks a table as an array even when empty.
-- Values that JSON cannot hold (functions, userdata, table keys) raise an error naming the
-- field path.

local ok, cjson = pcall(require, "cjson")
if not ok then
   error("sockhost.ndjson needs lua-cjson (Debian: apt-get install lua-cjson)", 2)
end
local fmt = require "sockhost.fmt"

local ndjson = {}

local ARRAY = setmetatable({}, { __mode = "k" })

--- ndjson.array(t) -> t, marked to encode as a JSON array (also when empty).
function ndjson.array(t)
   ARRAY[t] = true
   return t
end

local function escape(s)
   -- cjson 2.1 escapes "/" as "\/": valid, but noisy in paths. It never emits a bare "/",
   -- so every "\/" in its output is that escape (a backslash itself comes out as "\\").
   return (cjson.encode(s):gsub("\\/", "/"))
end

local function is_array(t)
   if ARRAY[t] then return true end
   local n = #t
   if n == 0 then return false end
   local count = 0
   for _ in pairs(t) do count = count + 1 end
   return count == n
end

local function key_less(a, b)
   local ia, ib = math.type(a) == "integer", math.type(b) == "integer"
   if ia ~= ib then return ia end
   return a < b
end

local function path_of(path, k)
   if path == "" then return tostring(k) end
   if math.type(k) == "integer" then return ("%s[%d]"):format(path, k) end
   return path .. "." .. tostring(k)
end

local encode

local function number(v, unsigned, precision)
   if math.type(v) == "integer" then
      return unsigned and fmt.u64(v) or ("%d"):format(v)
   end
   if v ~= v or v == math.huge or v == -math.huge then return "null" end
   local i = math.tointeger(v)
   if i then return ("%d"):format(i) end
   return ("%." .. precision .. "g"):format(v)
end

local function object(t, out, opts, path, unsigned_here, top)
   local keys, listed = {}, {}
   if top and opts.order then
      for _, k in ipairs(opts.order) do
         if t[k] ~= nil and not listed[k] then
            keys[#keys + 1], listed[k] = k, true
         end
      end
   end
   local rest = {}
   for k in pairs(t) do
      local tk = type(k)
      if tk ~= "string" and math.type(k) ~= "integer" then
         error(("ndjson: cannot encode a %s key in %s"):format(tk,
            path == "" and "the record" or ("field '" .. path .. "'")), 0)
      end
      if not listed[k] then rest[#rest + 1] = k end
   end
   table.sort(rest, key_less)
   for _, k in ipairs(rest) do keys[#keys + 1] = k end
   out[#out + 1] = "{"
   for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = escape(tostring(k))
      out[#out + 1] = ":"
      local u = unsigned_here or (type(opts.unsigned) == "table" and opts.unsigned[k] == true)
      if top and k == "ts" and math.type(t[k]) == "float" and t[k] == t[k] then
         out[#out + 1] = ("%.6f"):format(t[k]) -- the record's time: microseconds, always
      else
         encode(t[k], out, opts, path_of(path, k), u)
      end
   end
   out[#out + 1] = "}"
end

encode = function(v, out, opts, path, unsigned)
   local t = type(v)
   if t == "number" then
      out[#out + 1] = number(v, unsigned, opts.precision)
   elseif t == "string" then
      out[#out + 1] = escape(v)
   elseif t == "boolean" then
      out[#out + 1] = v and "true" or "false"
   elseif v == nil or v == cjson.null then
      out[#out + 1] = "null"
   elseif t == "table" then
      if opts.seen[v] then
         error(("ndjson: cycle at %s"):format(path == "" and "the record" or
            ("field '" .. path .. "'")), 0)
      end
      opts.seen[v] = true
      if is_array(v) then
         out[#out + 1] = "["
         for i = 1, #v do
            if i > 1 then out[#out + 1] = "," end
            encode(v[i], out, opts, path_of(path, i), unsigned)
         end
         out[#out + 1] = "]"
      else
         object(v, out, opts, path, unsigned, path == "")
      end
      opts.seen[v] = nil
   else
      error(("ndjson: cannot encode a %s in %s"):format(t,
         path == "" and "the record" or ("field '" .. path .. "'")), 0)
   end
end

local function check_opts(opts)
   opts = opts or {}
   local p = opts.precision or 14
   if math.type(p) ~= "integer" or p < 1 or p > 17 then
      error(("bad option 'precision' (integer 1..17 expected, got %s)")
         :format(tostring(opts.precision)), 3)
   end
   local u = opts.unsigned
   if u ~= nil and type(u) ~= "boolean" and type(u) ~= "table" then
      error(("bad option 'unsigned' (boolean or set of field names expected, got %s)")
         :format(type(u)), 3)
   end
   if opts.order ~= nil and type(opts.order) ~= "table" then
      error(("bad option 'order' (sequence of field names expected, got %s)")
         :format(type(opts.order)), 3)
   end
   if opts.clock ~= nil and type(opts.clock) ~= "function" then
      error(("bad option 'clock' (function expected, got %s)"):format(type(opts.clock)), 3)
   end
   return { precision = p, unsigned = u, order = opts.order, seen = {}, clock = opts.clock }
end

-- Wall-clock seconds for "ts": sockhost.wallclock() (microseconds) where the core loads,
-- else os.time().
local function default_clock()
   local loaded, core = pcall(require, "sockhost.core")
   if loaded and type(core) == "table" and core.wallclock then return core.wallclock end
   return function() return os.time() + 0.0 end
end

local function encode_line(value, o)
   local out = {}
   local ok_, err = pcall(encode, value, out, o, "", o.unsigned == true)
   if not ok_ then
      o.seen = {}
      error(err, 3)
   end
   return table.concat(out)
end

--- ndjson.encode(value [, opts]) -> one line of JSON, without the newline.
-- opts: order = { names }, unsigned = true | { name = true }, precision = 1..17.
function ndjson.encode(value, opts)
   return encode_line(value, check_opts(opts))
end

local Writer = {}
Writer.__index = Writer

--- ndjson.writer(fh [, opts]) -> writer; writer:write(record) writes one line to fh (any
-- object with :write, e.g. io.stdout) and counts it in writer.lines. writer:emit(type,
-- record) does the same for a tool's record: it sets record.type and record.ts (wall-clock
-- seconds from opts.clock, default sockhost.wallclock) and puts them first.
function ndjson.writer(fh, opts)
   if fh == nil or (type(fh) ~= "userdata" and type(fh) ~= "table") then
      error(("bad argument #1 to 'writer' (file handle expected, got %s)"):format(type(fh)), 2)
   end
   local o = check_opts(opts)
   local order = { "type", "ts" }
   for _, k in ipairs(o.order or {}) do
      if k ~= "type" and k ~= "ts" then order[#order + 1] = k end
   end
   local e = { precision = o.precision, unsigned = o.unsigned, order = order, seen = {} }
   return setmetatable({ fh = fh, opts = o, emit_opts = e, lines = 0,
      clock = o.clock or default_clock() }, Writer)
end

function Writer:emit(kind, record)
   if type(kind) ~= "string" then
      error(("bad argument #1 to 'emit' (record type string expected, got %s)"):format(type(kind)), 2)
   end
   record.type, record.ts = kind, self.clock()
   local line = encode_line(record, self.emit_opts)
   self.fh:write(line, "\n")
   self.lines = self.lines + 1
   return self
end

function Writer:write(record)
   local line = encode_line(record, self.opts)
   self.fh:write(line, "\n")
   self.lines = self.lines + 1
   return self
end

return ndjson
