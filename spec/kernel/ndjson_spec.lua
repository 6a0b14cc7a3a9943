-- SPDX-License-Identifier: GPL-2.0
-- Ring records as NDJSON written from C (opts.ndjson), ring pacing under load, and the loss
-- ledger's closing of the books (discarded at close and at exit, sub:drain()). Records come
-- from spec/fixtures/evgen.bpf.c on openat() calls of this process, so every count is exact.
local sockhost = require "sockhost"
local fmt = require "sockhost.fmt"
local proc = require "helpers.proc"
local traffic = require "helpers.traffic"
local errors = require "helpers.errors"
local fixtures = require "helpers.fixtures"

local bin = proc.env("SOCKHOST_BIN")
local open_files = traffic.open_files

local evgen, attach = fixtures.evgen, fixtures.evgen_attach

local function tmpfile()
   local path = os.tmpname()
   return path, function() os.remove(path) end
end

-- C's integer division: toward zero.
local function cdiv(x, d)
   local q = x // d
   if x % d ~= 0 and x < 0 then q = q + 1 end
   return q
end

local NAME = '"a\\"b\\\\c/d\\n\\u0001\xc3\xa9\\u00ff"'

-- The line evgen's record for call seq gives with DESC, "ts" left out.
local function expected(seq)
   local hist = {}
   for i = 1, math.min(seq % 6, 4) do hist[i] = tostring(10 * i) end
   if seq % 6 > 4 then hist[#hist + 1] = '"..."' end
   local kinds = { [1] = '"one"', [2] = '"two"', [3] = '"three"' }
   local colors = { '"EV_RED"', '"EV_GREEN"', '"EV_BLUE"' }
   return table.concat({
      '{"type":"mixed"',
      '"big":' .. fmt.u64(0xfedcba9876543210 + seq),
      '"neg":' .. (-1234567890123 * seq),
      '"neg_k":' .. cdiv(-1234567890123 * seq, 1000),
      '"small":' .. -seq,
      '"color":' .. colors[1 + seq % 3],
      '"family":' .. (seq % 2 == 1 and '"inet"' or '"inet6"'),
      '"kind":' .. (kinds[seq % 4] or "0"),
      '"flag":' .. (seq & 1),
      '"level":' .. (seq % 8),
      '"name":' .. NAME,
      '"addr":' .. (seq % 2 == 1 and ('"127.0.0.%d"'):format(seq) or ('"::%x"'):format(seq)),
      '"hist":[' .. table.concat(hist, ",") .. "]",
   }, ",") .. "}"
end

local function desc(out)
   return {
      out = out,
      type = "mixed",
      ts = "boot_ns",
      clock = "boottime",
      fields = {
         "big", "neg", { "neg_k", from = "neg", div = 1000 }, "small", "color",
         { "family", names = { [2] = "inet", [10] = "inet6" } },
         { "kind", names = { [1] = "one", [2] = "two", [3] = "three" } },
         "flag", "level", "name",
         { "addr", addr = "family" },
         { "hist", count = "n", more = "..." },
      },
   }
end

-- Subscribe `mixed` with desc(file), make n calls, read until n records came; the lines.
local function mixed_lines(n, make)
   local path, rm = tmpfile()
   local f = assert(io.open(path, "w"))
   local obj <close> = evgen({ to_ring = false, to_mixed = true })
   local sub = obj:subscribe("mixed", "struct ev_mixed", nil, { ndjson = (make or desc)(f) })
   local link = attach(obj)
   local wall0 = os.time()
   open_files(n)
   link:detach()
   proc.poll_until(sockhost, function() return sub.received >= n end)
   sub:close()
   f:close()
   local text = proc.read_file(path)
   rm()
   local lines = {}
   for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
   return lines, wall0, text
end

describe("opts.ndjson #kernel", function()
   it("writes each record as one line: every field kind, in the order given", function()
      local lines, wall0 = mixed_lines(12)
      assert.equal(12, #lines)
      for seq, line in ipairs(lines) do
         local ts = line:match('^{"type":"mixed","ts":(%d+%.%d%d%d%d%d%d),')
         assert.is_truthy(ts, line)
         -- CLOCK_BOOTTIME turned into wall-clock seconds
         assert.is_true(math.abs(tonumber(ts) - wall0) < 5, line)
         assert.equal(expected(seq), (line:gsub('"ts":[%d.]+,', "")))
      end
   end)

   it("gives JSON that python3 and jq read, with the documented types", function()
      local _, _, text = mixed_lines(6)
      local shapes = proc.json_shapes(text)
      -- jq holds numbers as doubles: a u64 above 2^53 would come back rounded
      local path, rm = tmpfile()
      local f = assert(io.open(path, "w"))
      f:write(text)
      f:close()
      local jq = proc.must(("jq -c '[.neg, .name]' < %s"):format(proc.quote(path)))
      rm()
      local first = shapes[1]
      assert.equal("type:str,ts:float,big:int,neg:int,neg_k:int,small:int,color:str,"
         .. "family:str,kind:str,flag:int,level:int,name:str,addr:str,hist:list", first)
      assert.equal('[-1234567890123,"a\\"b\\\\c/d\\n\\u0001\xc3\xa9\xc3\xbf"]',
         jq:match("[^\n]+"))
   end)

   it("encodes every member as its type says when no fields are listed", function()
      local line = mixed_lines(1, function(f) return { out = f } end)[1]
      assert.matches('^{"ts":%d+%.%d+,"big":18364758544493064721,"neg":%-1234567890123,'
         .. '"boot_ns":%d+,"small":%-1,"color":"EV_GREEN","family":2,"kind":1,"flag":1,"level":1,'
         .. '"spare":0,'
         .. '"name":' .. NAME:gsub("%p", "%%%0") .. ',"addr":%[127,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0%],'
         .. '"hist":%[10,20,30,40%],"n":1,"pad":%[0,0,0,0,0,0,0%]}$', line)
   end)

   it("picks array elements and writes a field only where another has a value", function()
      local lines = mixed_lines(4, function(f)
         return { out = f, type = "m", fields = { { "h2", from = "hist[1]" },
            { "odd", from = "small", when = { "flag", 1 } },
            { "two", from = "addr[15]", when = { "family", 10 } } } }
      end)
      for seq, line in ipairs(lines) do
         local want = '"h2":20' .. (seq % 2 == 1 and ',"odd":' .. -seq or ',"two":' .. seq)
         assert.equal('{"type":"m",' .. want .. "}", (line:gsub('"ts":[%d.]+,', "")))
      end
   end)

   it("refuses a description it cannot follow, naming what is wrong", function()
      local obj <close> = evgen({ to_ring = false, to_mixed = true })
      local function sub(d, typ, opts)
         opts = opts or {}
         opts.ndjson = d
         return obj:subscribe("mixed", typ == nil and "struct ev_mixed" or typ or nil, nil, opts)
      end
      local pre = "ringbuf 'mixed': opts.ndjson"
      local function refuses(d, want, typ, opts)
         errors.raises(function() sub(d, typ, opts) end, pre .. want)
      end
      local S = io.stdout
      refuses({}, ".out must be a file (io.stdout, io.open(...)), got nil")
      refuses({ out = S, colour = 1 },
         ": unknown option 'colour' (valid: out, type, ts, clock, fields)")
      refuses({ out = S, fields = { "ts" } }, ": field 'ts': the key \"ts\" is the line's own "
         .. "(type, ts): rename it, {\"t\", from = \"ts\"}")
      errors.raises(function()
         obj:subscribe("events", "struct ev_record", nil, { ndjson = { out = S } })
      end, "ringbuf 'events': opts.ndjson: field 'ts': the key \"ts\" is the line's own (type, "
         .. "ts): rename it, {\"t\", from = \"ts\"}")
      refuses({ out = S, fields = { "nope" } },
         ": field 'nope': struct ev_mixed has no member 'nope'")
      refuses({ out = S, fields = { { "name", names = {} } } }, ": field 'name': names on a string")
      refuses({ out = S, fields = { { "kind", count = "n" } } },
         ": field 'kind': count on something other than an array")
      refuses({ out = S, fields = { { "kind", addr = "family" } } },
         ": field 'kind': 1 bytes cannot hold an address")
      refuses({ out = S, fields = { { "hist", addr = true } } },
         ": field 'hist': addr must be 4, 6 or the name of a family field")
      refuses({ out = S, fields = { { "big", div0 = 1 } } },
         ": fields[1]: unknown option 'div0' (valid: from, names, addr, div, count, more, when)")
      refuses({ out = S, fields = { { "h", from = "hist[4]" } } },
         ": field 'h': struct ev_mixed has no member 'hist[4]'")
      refuses({ out = S, fields = { { "big", when = { "kind" } } } },
         ": field 'big': when must be {\"member\", integer}")
      refuses({ out = S, fields = { { "big", div = 0 } } },
         ": field 'big': div must be a positive integer")
      refuses({ out = S, ts = "nope" }, ": ts 'nope' is not an integer field of the record")
      refuses({ out = S, clock = "utc" },
         ': clock must be "boottime", "monotonic" or "realtime", got utc')
      refuses({ out = S }, " needs a record type (a struct in the object's BTF)", false)
      refuses({ out = S }, " and opts.batch do not go together", nil, { batch = 16 })
      errors.raises(function() obj:subscribe("mixed", "struct ev_mixed", nil) end,
         "ringbuf 'mixed': callback must be callable, got nil")
   end)

   it("stops the loop with the error when the file it writes to is closed", function()
      local path, rm = tmpfile()
      local f = assert(io.open(path, "w"))
      local obj <close> = evgen({ to_ring = false, to_mixed = true })
      local sub <close> = obj:subscribe("mixed", "struct ev_mixed", nil, { ndjson = desc(f) })
      local link <close> = attach(obj)
      f:close()
      assert.is_true(sub.received == 0 and link ~= nil)
      open_files(1)
      local ok, err = pcall(sockhost.run, { duration = 1 })
      rm()
      assert.is_false(ok)
      assert.matches("ringbuf 'mixed': opts.ndjson.out is closed", err, 1, true)
   end)
end)

describe("ring pacing #kernel", function()
   it("delivers every record of a fast stream, and a lone record after it within 0.2 s",
      function()
      local got = 0
      local obj <close> = evgen({ burst = 50 })
      local sub <close> = obj:subscribe("events", "struct ev_record", function() got = got + 1 end)
      local link <close> = attach(obj)
      -- 2,000 calls of 50 records, with the loop reading in between: the ring fd wakes it
      -- often enough to go batched
      for _ = 1, 200 do
         open_files(10)
         sockhost.poll(0)
      end
      proc.poll_until(sockhost, function() return got >= 100000 end, 5)
      assert.equal(100000, got)
      assert.equal(0, sub.dropped)
      assert.is_true(sub:stats().paced >= 1, "the ring never went batched")
      -- idle again: one more call's records still arrive, without anyone polling early
      sockhost.run { duration = 0.3 }
      open_files(1)
      local t0 = sockhost.now()
      proc.poll_until(sockhost, function() return got >= 100050 end, 2)
      assert.equal(100050, got)
      assert.is_true(sockhost.now() - t0 < 0.2, ("took %.3f s"):format(sockhost.now() - t0))
      assert.equal(obj.globals.produced, sub.received + sub.dropped)
   end)

   it("refuses a latency that is not a number of seconds up to 10", function()
      local obj <close> = evgen()
      local function latency(v)
         return function() obj:subscribe("events", "struct ev_record", print, { latency = v }) end
      end
      errors.raises(latency(11), "ringbuf 'events': opts.latency must be at most 10 seconds, got 11")
      errors.raises(latency(0), "ringbuf 'events': opts.latency must be > 0 seconds, got 0.0")
   end)
end)

describe("the loss ledger's books #kernel", function()
   it("counts records still in the ring at close as discarded", function()
      local obj <close> = evgen({ burst = 7 })
      local sub = obj:subscribe("events", "struct ev_record", function() end)
      local link = attach(obj)
      open_files(10)
      link:detach()
      sub:close()
      assert.equal(70, obj.globals.produced)
      assert.same({ 0, 0, 70 }, { sub.received, sub.dropped, sub.discarded })
      assert.equal(70, sub:stats().discarded)
      assert.same({ "sockhost: warning: ringbuf 'events': 70 events left unread at close "
         .. "(sub:drain() before closing reads them)" },
         require("sockhost.events").drop_warnings({ sub:stats() }))
   end)

   it("keeps received + dropped + discarded = produced with a full ring", function()
      local obj <close> = evgen({ burst = 200 }, { events = { max_entries = 4096 } })
      local got = 0
      local sub = obj:subscribe("events", "struct ev_record", function() got = got + 1 end)
      local link = attach(obj)
      open_files(5)
      sockhost.poll(0)
      open_files(5)
      link:detach()
      sub:close()
      assert.is_true(sub.dropped > 0)
      assert.is_true(sub.discarded > 0)
      assert.equal(2000, obj.globals.produced)
      assert.equal(2000, sub.received + sub.dropped + sub.discarded)
      assert.equal(got, sub.received)
   end)

   it("reads what is left with drain(), after run() ended", function()
      local got = 0
      local obj <close> = evgen({ burst = 3 })
      local sub <close> = obj:subscribe("events", "struct ev_record", function() got = got + 1 end)
      sockhost.run { duration = 0.05 }
      local link = attach(obj)
      open_files(4)
      link:detach()
      assert.equal(12, sub:drain())
      assert.equal(0, sub:drain())
      assert.same({ 12, 12, 0 }, { got, sub.received, sub.discarded })
      sub:close()
      errors.raises(function() sub:drain() end, "attempt to use a closed ringbuf")
   end)

   it("says at exit how many records nobody read", function()
      local dir = proc.tmpdir()
      local script = dir .. "/left.lua"
      local f = assert(io.open(script, "w"))
      f:write(([[
local sockhost = require "sockhost"
local o = sockhost.open(%q, { globals = { target_pid = sockhost.pid(), burst = 9 } })
local rb = o:subscribe("events", "struct ev_record", function() end)
local l = o:program("sys_enter_openat"):attach()
for _ = 1, 5 do io.open("/dev/null"):close() end
l:detach()
print(o.globals.produced, rb.received)
]]):format(fixtures.path("evgen")))
      f:close()
      local ok, out = proc.sh(("%s %s 2>&1"):format(proc.quote(bin), proc.quote(script)))
      proc.sh("rm -rf " .. proc.quote(dir))
      assert.is_true(ok, out)
      assert.equal("45\t0\nsockhost: 45 event records were still in ring/perf buffers at exit "
         .. "and were discarded (sub:drain() before exit reads them)\n", out)
   end)
end)
