-- SPDX-License-Identifier: GPL-2.0
-- sockhost.metrics and sockhost.metrics.http given bad inputs on real maps: labels functions
-- that raise or give what is not a label value, histogram binds on maps whose keys are not
-- bucket numbers (struct keys, negative keys, buckets past the numbering's end), a bound
-- map whose object is closed while the endpoint keeps serving, and a request that never
-- finishes while a ring keeps delivering. Each scrape must answer 200 with the exact text
-- (the failing family left out and counted in sockhost_metrics_errors_total), and
-- reg.last_error must say what was wrong. The endpoint is served from this process's loop;
-- curl runs in the background while the spec polls the loop.
local sockhost = require "sockhost"
local socket = require "socket"
local metrics = require "sockhost.metrics"
local mhttp = require "sockhost.metrics.http"
local fixtures = require "helpers.fixtures"
local proc = require "helpers.proc"
local errors = require "helpers.errors"
local check = require "helpers.promcheck"

local q = proc.quote

-- GET http://127.0.0.1:<port><path> by curl in the background, this process's loop running
-- meanwhile: status (0 when no HTTP answer came) and body.
local function scrape(port, path)
   local dir = proc.tmpdir()
   local pid = proc.spawn(("curl -s -m 5 -o %s/body -w '%%{http_code}' http://127.0.0.1:%d%s >%s/code")
      :format(q(dir), port, path or "/metrics", q(dir)))
   assert(proc.poll_until(sockhost, function() return not proc.alive(pid) end, 8),
      "curl did not finish")
   local code = math.tointeger(tonumber(proc.read_file(dir .. "/code") or "")) or 0
   local body = proc.read_file(dir .. "/body") or ""
   proc.sh("rm -rf " .. q(dir))
   return code, body
end

local ERRORS_HEAD = "# HELP sockhost_metrics_errors_total Scrapes in which a family's function "
   .. "raised an error (family skipped).\n# TYPE sockhost_metrics_errors_total counter\n"

local function errors_family(counts)
   local names = {}
   for name in pairs(counts) do names[#names + 1] = name end
   table.sort(names)
   local out = { ERRORS_HEAD }
   for _, name in ipairs(names) do
      out[#out + 1] = ('sockhost_metrics_errors_total{family="%s"} %d\n'):format(name, counts[name])
   end
   return table.concat(out)
end

describe("sockhost.metrics labels functions that fail #kernel", function()
   it("answers 200 without the family, counts it and says what the function did wrong",
      function()
      local obj <close> = fixtures.open("maps")
      local hash = obj:map("hash")
      hash[1] = { packets = 3, bytes = 300 }
      hash[2] = { packets = 5, bytes = 500 }
      local reg = metrics.registry()
      reg:bind(hash, { name = "flow_bytes_total", help = "Bytes per flow.", type = "counter",
         labels = { "flow" }, value = "bytes" })
      local BAD = {
         raises = function() error("no protocol for this key", 0) end,
         raises_table = function() error({ code = 7 }) end,
         gives_nil = function() return nil end,
         gives_function = function() return print end,
         gives_table = function() return { {} } end,
         gives_struct = function(k) return { protocol = k } end,
         gives_two = function(k) return k, "extra" end,
      }
      local names = {}
      for name, fn in pairs(BAD) do
         names[#names + 1] = name
         reg:bind(hash, { name = name .. "_total", help = "Bad.", type = "counter",
            labels = fn, label_names = { "protocol" }, value = "packets" })
      end
      local srv <close> = mhttp.serve("127.0.0.1:0", { registry = reg })
      local good = "# HELP flow_bytes_total Bytes per flow.\n# TYPE flow_bytes_total counter\n"
         .. 'flow_bytes_total{flow="1"} 300\nflow_bytes_total{flow="2"} 500\n'
      for n = 1, 2 do
         local counts = {}
         for _, name in ipairs(names) do counts[name .. "_total"] = n end
         local status, body = scrape(srv.port)
         assert.equal(200, status)
         assert.equal(good .. errors_family(counts), body)
         assert.same({ 0, "" }, { check.promtool(body) })
      end
      assert.same({
         raises_total = "labels function: no protocol for this key",
         raises_table_total = "labels function: raised a table, not a message",
         gives_nil_total = "labels function gave nil for label 'protocol' (a string, number or "
            .. "boolean expected)",
         gives_function_total = "labels function gave a function for label 'protocol' (a "
            .. "string, number or boolean expected)",
         gives_table_total = "labels function gave a table for label 'protocol' (a string, "
            .. "number or boolean expected)",
         gives_struct_total = "labels function gave a table without [1], the value of label "
            .. "'protocol' (one table is read as the sequence of label values)",
         gives_two_total = "labels function gave 2 values for 1 label (protocol)",
      }, reg.last_error)
      assert.same({ 2, 0 }, { srv.requests, srv.errors })
   end)
end)

-- maps whose keys are not bucket numbers, compiled for this spec
local HIST_MAPS = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct pair { __u32 a; __u32 b; };   /* 8 bytes: the size of a bucket number */
struct triple { __u32 a; __u32 b; __u32 c; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__type(key, struct pair); __type(value, __u64); } pair_keys SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__type(key, struct triple); __type(value, __u64); } triple_keys SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__type(key, char[8]); __type(value, __u64); } name_keys SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__type(key, __s32); __type(value, __u64); } signed_keys SEC(".maps");
/* larger than the 65 buckets of log2 (SH_LOG2_BUCKETS) */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 70);
	__type(key, __u32); __type(value, __u64); } wide_array SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__type(key, __u32); __type(value, __u64); } u32_keys SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
]]

describe("sockhost.metrics histograms on maps that are not SH_HIST buckets #kernel", function()
   local obj
   setup(function() obj = sockhost.compile(HIST_MAPS, "metrics_badhist") end)
   teardown(function() if obj then obj:close() end end)

   local function hist(reg, map, name, buckets)
      return reg:bind(obj:map(map), { name = name, help = "H.", type = "histogram",
         buckets = buckets or "log2" })
   end

   it("refuses a map whose key is not 1, 2, 4 or 8 bytes at bind", function()
      errors.raises(function() hist(metrics.registry(), "triple_keys", "t") end,
         "metrics.bind: metric 't': map 'triple_keys' has 12-byte keys, not bucket numbers "
         .. "(a bound histogram reads an SH_HIST map: integer keys of 1, 2, 4 or 8 bytes)")
   end)

   it("leaves out a histogram whose keys are structs, strings or negative, and says which",
      function()
      obj:map("pair_keys")[{ a = 1, b = 2 }] = 5
      obj:map("name_keys")["abc"] = 5
      obj:map("signed_keys")[-3] = 5
      local reg = metrics.registry()
      hist(reg, "pair_keys", "pairs")
      hist(reg, "name_keys", "names")
      hist(reg, "signed_keys", "signed")
      assert.equal(errors_family({ pairs = 1, names = 1, signed = 1 }), reg:render("text"))
      assert.same({
         pairs = "bucket keys must be bucket numbers (integers from 0), got a struct key (a "
            .. "table)",
         names = 'bucket keys must be bucket numbers (integers from 0), got a string key "abc"',
         signed = "bucket key -3 is negative (bucket numbers start at 0)",
      }, reg.last_error)
   end)

   it("takes empty buckets past the end, and refuses one that holds a count", function()
      local arr = obj:map("wide_array")
      for i = 0, 69 do arr[i] = 0 end
      arr[3] = 4 -- [2, 4): le 3
      local u32 = obj:map("u32_keys")
      u32[1] = 2 -- linear [0, 10): le 9
      local reg = metrics.registry()
      hist(reg, "wide_array", "wide")
      hist(reg, "u32_keys", "lin", { min = 0, max = 100, step = 10 })
      local text = reg:render("text")
      -- 65 finite buckets, then +Inf, _sum (4 * 2) and _count
      assert.truthy(text:find('\nwide_bucket{le="1"} 0\nwide_bucket{le="3"} 4\n', 1, true), text)
      assert.truthy(text:find('\nwide_bucket{le="9223372036854775807"} 4\n'
         .. 'wide_bucket{le="+Inf"} 4\nwide_sum 8\nwide_count 4\n', 1, true), text)
      assert.truthy(text:find('\nlin_bucket{le="9"} 2\n', 1, true), text)
      assert.is_nil(text:find("sockhost_metrics_errors_total", 1, true))
      arr[65] = 2
      u32[12] = 1
      assert.equal(errors_family({ lin = 1, wide = 1 }), reg:render("text"))
      assert.same({
         wide = "bucket key 65 holds 2 but log2 buckets end at 64 (is the map in another "
            .. "numbering?)",
         lin = "bucket key 12 holds 1 but linear {min=0, max=100, step=10} buckets end at 11 "
            .. "(is the map in another numbering?)",
      }, reg.last_error)
   end)
end)

describe("a bound map whose object closes while served #kernel", function()
   it("answers 200 without the family from then on, and says the map is closed", function()
      local obj = fixtures.open("maps")
      finally(function() obj:close() end)
      obj:map("hash")[1] = { packets = 1, bytes = 2 }
      local reg = metrics.registry()
      reg:bind(obj:map("hash"), { name = "b_total", help = "B.", type = "counter",
         labels = { "k" }, value = "bytes" })
      reg:bind(obj:map("hash"), { name = "h", help = "H.", type = "histogram",
         buckets = "log2", value = "packets" })
      local srv <close> = mhttp.serve("127.0.0.1:0", { registry = reg })
      local status, body = scrape(srv.port)
      assert.equal(200, status)
      assert.equal('# HELP b_total B.\n# TYPE b_total counter\nb_total{k="1"} 2\n'
         .. '# HELP h H.\n# TYPE h histogram\nh_bucket{le="0"} 1\n'
         .. 'h_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n', body)
      obj:close()
      collectgarbage()
      for n = 1, 2 do
         status, body = scrape(srv.port)
         assert.equal(200, status)
         assert.equal(errors_family({ b_total = n, h = n }), body)
      end
      local msg = "map 'hash' is closed (its object was closed), nothing to export: attempt "
         .. "to use a closed sockhost.map"
      assert.same({ b_total = msg, h = msg }, reg.last_error)
      assert.same({ 3, 0 }, { srv.requests, srv.errors })
   end)
end)

describe("sockhost.metrics.http and a request that never finishes #kernel", function()
   it("closes it at the timeout while every ring record is delivered, none lost", function()
      local obj <close> = fixtures.evgen()
      local rb <close> = sockhost.ringbuf(obj:map("events"), "struct ev_record", function() end)
      local link <close> = fixtures.evgen_attach(obj)
      local reg = metrics.registry()
      local srv <close> = mhttp.serve("127.0.0.1:0", { registry = reg, builtin = true,
         timeout = 1 })
      -- half a request, then silence
      local slow = assert(socket.connect("127.0.0.1", srv.port))
      assert(slow:send("GET /metrics HTTP/1.1\r\nHost: x\r\n"))
      slow:settimeout(0)
      local got, closed = "", false
      local deadline = socket.gettime() + 10
      while not closed and socket.gettime() < deadline do
         for _ = 1, 20 do assert(io.open("/dev/null")):close() end
         sockhost.poll(20)
         local data, err, partial = slow:receive("*a")
         got = got .. (data or partial or "")
         closed = err == "closed" or data ~= nil
      end
      slow:close()
      assert.is_true(closed, "the server never closed the connection")
      assert.equal("", got)
      -- the records of every openat() so far are in, none dropped
      link:detach()
      proc.poll_until(sockhost, function() return rb.received == obj.globals.calls end)
      local calls = obj.globals.calls
      assert.is_true(calls >= 20, tostring(calls))
      assert.same({ calls, 0 }, { rb.received, rb.dropped })
      -- and the endpoint says so
      local status, body = scrape(srv.port)
      assert.equal(200, status)
      local function sample(name)
         return body:match("\n" .. name .. '{kind="ringbuf",name="events"} (%d+)\n')
      end
      assert.same({ tostring(calls), "0", "0" }, { sample("sockhost_events_received_total"),
         sample("sockhost_events_dropped_total"), sample("sockhost_events_errors_total") })
      assert.same({ 1, 0 }, { srv.requests, srv.errors })
   end)
end)
