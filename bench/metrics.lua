-- SPDX-License-Identifier: GPL-2.0
--- Metrics endpoint benchmark: a family of --series series (10,000) bound to a real BPF hash
-- map (bench/metrics.bpf.c `series`: struct {shard, slot} -> __u64, filled from Lua), served
-- by sockhost.metrics.http in a sockhost process of its own and scraped over HTTP by curl.
--   (a) scrape time, median and p99 of --scrapes scrapes, each the wall time of one command
--       run from this driver (sh + the client + the work), against, in the same run:
--         bpftool       `bpftool map dump pinned <the same map> -j > /dev/null`
--         python        python3-prometheus-client serving a counter family of the same
--                       series (generate_latest through its own WSGI server), scraped by curl
--         curl 404      curl of a path the sockhost server answers 404: what the client and
--                       the shell cost alone
--       curl's own time_total (request to last byte) is shown beside the HTTP rows, and the
--       first scrape of each (before the median's) apart.
--   (a') reg:render("text") of the family in the driver itself: values unchanged, every value
--       changed between renders, and a new registry each time (no caches kept); with
--       --baseline REV the same with sockhost.metrics of git revision REV.
--   (b) CPU of one scrape a second: the server also consumes a ring buffer fed by a tracepoint
--       (sys_enter_getppid of a paced python producer, --rate calls/s for --seconds) with the
--       built-in families registered too (what --metrics serves in a tool); CPU seconds of
--       the server (utime + stime from /proc/<pid>/stat, over the producer's run) with no
--       scrape and with one a second, and the loss ledger (records produced, received,
--       dropped) of each run: the goal is no record lost with the scrapes.
--
--   build/sockhost bench/metrics.lua [--series 10000] [--scrapes 50] [--seconds 10]
--      [--rate 20000] [--rounds 2] [--json]
--
-- Run as root from the source tree after `cmake --build build --target bench`. The map is
-- pinned under /sys/fs/bpf while bpftool reads it and unpinned at the end.
local sockhost = require "sockhost"
local argparse = require "argparse"
local socket = require "socket"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"
local cjson = require "cjson"

local parser = argparse("sockhost bench/metrics.lua",
   "Time scrapes of a 10,000-series family bound to a BPF map, and their CPU under events.")
parser:option("--series", "Series in the family (entries of the map).", "10000"):convert(math.tointeger)
parser:option("--scrapes", "Scrapes per row of (a).", "50"):convert(math.tointeger)
parser:option("--seconds", "Length of each run of (b).", "10"):convert(tonumber)
parser:option("--rate", "getppid() calls a second of the (b) producer.", "20000"):convert(tonumber)
parser:option("--rounds", "Runs of (b) per mode, alternating (medians reported).", "2")
   :convert(math.tointeger)
parser:option("--baseline", "Also time (a') with sockhost.metrics and its exposition as of "
   .. "this git revision of the source tree (git show): the figure before a change, in the "
   .. "same run.")
parser:option("--duration", "Ignored (the bench ends when everything is measured).")
parser:flag("--json", "One NDJSON object per measurement on stdout instead of the table.")
-- internal: this file is also the server the driver starts
parser:option("--serve"):hidden(true)
parser:option("--target"):hidden(true):convert(math.tointeger)
parser:flag("--builtin"):hidden(true)
local args = parser:parse(arg)

local OBJ = util.build_dir() .. "/bench/metrics.bpf.o"
local FAMILY = "sockhost_bench_series_total"
local q = util.quote

local function write_file(path, text)
   local tmp = path .. ".tmp"
   local f = assert(io.open(tmp, "w"))
   f:write(text)
   f:close()
   assert(os.rename(tmp, path))
end

-- ---- the server (--serve DIR) -----------------------------------------------------------------

-- Opens the object, fills and binds the map, serves on 127.0.0.1:0 (port in DIR/port, the
-- map pinned at DIR/pin path), consumes the ring when --target is given; at SIGINT writes
-- the ledger to DIR/ledger.json.
local function serve(dir)
   local metrics = require "sockhost.metrics"
   local mhttp = require "sockhost.metrics.http"
   local obj <close> = sockhost.open(OBJ, {
      globals = { target_tgid = args.target or 0 },
      maps = { series = { max_entries = args.series } },
   })
   local map = obj:map("series")
   for i = 0, args.series - 1 do map[{ shard = i // 1000, slot = i % 1000 }] = i * 7 end
   local pin = "/sys/fs/bpf/sockhost-bench-metrics-" .. sockhost.pid()
   map:pin(pin)
   local pin_guard <close> = setmetatable({}, { __close = function() os.remove(pin) end })
   local reg = metrics.registry()
   reg:bind(map, { name = FAMILY, help = "Bench series.", type = "counter",
      labels = { "shard", "slot" } })
   local received, rb, link = 0, nil, nil
   if args.target then
      rb = sockhost.ringbuf(obj:map("events"), "struct series_event",
         function(e) received = received + e.seq // e.seq end)
      link = obj:program("sys_enter_getppid"):attach()
   end
   local srv <close> = mhttp.serve("127.0.0.1:0", { registry = reg, builtin = args.builtin,
      programs = args.builtin and obj:programs() or nil })
   write_file(dir .. "/pin", pin)
   write_file(dir .. "/port", tostring(srv.port))
   local why = sockhost.run()
   if link then link:detach() end
   sockhost.poll(0)
   local ledger = { why = why, requests = srv.requests, errors = srv.errors,
      produced = obj.globals.produced, received = received,
      dropped = rb and rb.dropped or 0, ring_received = rb and rb.received or 0,
      metric_errors = reg.errors_by[FAMILY] or 0 }
   if rb then rb:close() end
   write_file(dir .. "/ledger.json", cjson.encode(ledger))
end

if args.serve then
   serve(args.serve)
   return
end

-- ---- the driver -------------------------------------------------------------------------------

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp)))
local pids = {}
local tmp_guard <close> = setmetatable({}, { __close = function()
   for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
   os.execute("rm -rf " .. q(tmp))
end })

local function spawn(cmd)
   local pid = math.tointeger(tonumber(util.output(cmd .. " & echo $!")))
   pids[#pids + 1] = pid
   return pid
end

local function wait_file(path, what, pid)
   local t0 = sockhost.now()
   while not util.exists(path) do
      if sockhost.now() - t0 > 30 then error(what .. " did not start", 0) end
      if pid and not os.execute("kill -0 " .. pid .. " 2>/dev/null") then
         error(what .. " exited", 0)
      end
      socket.sleep(0.02)
   end
   return util.read_file(path)
end

local function start_server(name, extra)
   local dir = ("%s/%s"):format(tmp, name)
   assert(os.execute("mkdir -p " .. q(dir)))
   local pid = spawn(("exec %s %s --serve %s --series %d %s >%s/out 2>&1"):format(
      q(arg[-1] or "sockhost"), q(arg[0]), q(dir), args.series, extra or "", q(dir)))
   local port = wait_file(dir .. "/port", "the sockhost server (" .. dir .. "/out)", pid)
   return { pid = pid, dir = dir, port = math.tointeger(tonumber(port)),
            pin = util.read_file(dir .. "/pin") }
end

local function stop_server(s)
   os.execute("kill -INT " .. s.pid)
   local ledger = cjson.decode(wait_file(s.dir .. "/ledger.json", "the server's ledger"))
   while os.execute("kill -0 " .. s.pid .. " 2>/dev/null") do socket.sleep(0.02) end
   return ledger
end

local CLK_TCK = math.tointeger(tonumber(util.output("getconf CLK_TCK"))) or 100

-- utime + stime of pid, in seconds
local function cpu_seconds(pid)
   local stat = assert(util.read_file(("/proc/%d/stat"):format(pid)))
   local f = {}
   for w in stat:match("%) (.*)$"):gmatch("%S+") do f[#f + 1] = w end
   -- f[1] is field 3: utime is field 14, stime 15
   return (tonumber(f[12]) + tonumber(f[13])) / CLK_TCK
end

local function percentile(xs, p)
   local s = table.move(xs, 1, #xs, 1, {})
   table.sort(s)
   return s[math.max(1, math.ceil(p * #s))]
end

local results = {}
local function report(r)
   results[#results + 1] = r
   if args.json then io.write(cjson.encode(r), "\n") end
end

-- ---- (a) scrape time ----------------------------------------------------------------------------

local PYREF = [[
import os, sys
from wsgiref.simple_server import make_server
from prometheus_client import CollectorRegistry, Counter, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
n, portfile = int(sys.argv[1]), sys.argv[2]
reg = CollectorRegistry()
c = Counter("sockhost_bench_series", "Bench series.", ["shard", "slot"], registry=reg)
for i in range(n):
    c.labels(str(i // 1000), str(i % 1000)).inc(i * 7)
httpd = make_server("127.0.0.1", 0, make_wsgi_app(reg), ThreadingWSGIServer,
                    handler_class=_SilentHandler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(httpd.server_port))
os.rename(portfile + ".tmp", portfile)
httpd.serve_forever()
]]

local PRODUCER = [[
import os, sys, time
rate, secs, go, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.005)
t0 = time.monotonic()
n = 0
while True:
    now = time.monotonic() - t0
    if now >= secs:
        break
    target = int(now * rate)
    while n < target:
        os.getppid()
        n += 1
    time.sleep(0.002)
with open(out + ".tmp", "w") as f:
    f.write("%d %.6f\n" % (n, time.monotonic() - t0))
os.rename(out + ".tmp", out)
]]
write_file(tmp .. "/ref.py", PYREF)
write_file(tmp .. "/producer.py", PRODUCER)
local PYTHON = "/usr/bin/python3"

-- wall time of one command (and its stdout)
local function timed(cmd)
   local t0 = sockhost.now()
   local ok, out = util.sh(cmd)
   local dt = sockhost.now() - t0
   assert(ok, "failed: " .. cmd)
   return dt, out
end

local function curl_cmd(port, path)
   return ("curl -sf -o /dev/null -w '%%{time_total}' http://127.0.0.1:%d%s"):format(port, path)
end

local srv = start_server("a")
local pyport_file = tmp .. "/py.port"
local pypid = spawn(("exec env PROMETHEUS_DISABLE_CREATED_SERIES=True %s %s/ref.py %d %s >%s/py.out 2>&1")
   :format(PYTHON, q(tmp), args.series, q(pyport_file), q(tmp)))
local pyport = math.tointeger(tonumber(wait_file(pyport_file, "the python reference")))

-- the same series count from each
local function samples(port)
   local _, body = util.sh(("curl -sf http://127.0.0.1:%d/metrics"):format(port))
   local _, n = body:gsub("\nsockhost_bench_series_total{", "")
   return n, #body
end
local sh_n, sh_bytes = samples(srv.port)
local py_n, py_bytes = samples(pyport)
local bt_n = math.tointeger(tonumber(util.output(("bpftool map dump pinned %s -j | jq length")
   :format(q(srv.pin)))))
assert(sh_n == args.series and py_n == args.series and bt_n == args.series,
   ("series: sockhost %s, python %s, bpftool %s"):format(sh_n, py_n, bt_n))

local rows = {
   { what = "sockhost.metrics.http", cmd = curl_cmd(srv.port, "/metrics"), bytes = sh_bytes,
     http = true },
   { what = "python prometheus_client", cmd = curl_cmd(pyport, "/metrics"), bytes = py_bytes,
     http = true },
   { what = "bpftool map dump -j", cmd = ("bpftool map dump pinned %s -j > /dev/null")
     :format(q(srv.pin)) },
   { what = "curl 404 (client alone)", cmd = curl_cmd(srv.port, "/nope"):gsub(" %-sf ", " -s "),
     http = true },
}
-- the first scrape of each (a registry's caches are empty) apart; then interleaved, so a
-- slow moment of the VM hits every row alike
for _, r in ipairs(rows) do
   r.wall, r.curl = {}, {}
   r.first = timed(r.cmd)
end
for _ = 1, args.scrapes do
   for _, r in ipairs(rows) do
      local dt, out = timed(r.cmd)
      r.wall[#r.wall + 1] = dt
      if r.http then r.curl[#r.curl + 1] = tonumber(out) end
   end
end
local ref = {}
for _, r in ipairs(rows) do
   r.median, r.p99 = util.median(table.move(r.wall, 1, #r.wall, 1, {})), percentile(r.wall, 0.99)
   if r.http then
      r.curl_median, r.curl_p99 = util.median(table.move(r.curl, 1, #r.curl, 1, {})),
         percentile(r.curl, 0.99)
   end
   ref[r.what] = r
end
os.execute("kill " .. pypid)
local a_ledger = stop_server(srv)
assert(a_ledger.metric_errors == 0, "the family failed in a scrape")
for _, r in ipairs(rows) do
   report({ bench = "scrape", what = r.what, series = args.series, scrapes = args.scrapes,
      bytes = r.bytes, first_s = r.first, median_s = r.median, p99_s = r.p99, curl_median_s = r.curl_median,
      curl_p99_s = r.curl_p99, vs_bpftool = r.median / ref["bpftool map dump -j"].median,
      vs_python = r.median / ref["python prometheus_client"].median })
end

-- ---- (a') the render alone, in this process ------------------------------------------------------

-- reg:render("text") of the same family: values unchanged since the last render, every value
-- changed since the last render (the map update not timed), and a new registry each time
-- (no caches: the first scrape of a tool)
-- sockhost.metrics and sockhost.metrics.exposition as of git revision rev, loaded apart
local function metrics_at(rev)
   local root = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
   local function source(path)
      return util.must(("git -C %s show %s:%s"):format(q(root), q(rev), path))
   end
   local expo = assert(load(source("lua/sockhost/metrics/exposition.lua"),
      "=exposition.lua@" .. rev))()
   local saved = package.loaded["sockhost.metrics.exposition"]
   package.loaded["sockhost.metrics.exposition"] = expo
   local ok, m = pcall(function()
      return assert(load(source("lua/sockhost/metrics.lua"), "=metrics.lua@" .. rev))()
   end)
   package.loaded["sockhost.metrics.exposition"] = saved
   assert(ok, m)
   return m
end

local versions = { { "this tree", require "sockhost.metrics" } }
if args.baseline then versions[2] = { args.baseline, metrics_at(args.baseline) } end
for _, version in ipairs(versions) do
   local metrics = version[2]
   local obj <close> = sockhost.open(OBJ, { maps = { series = { max_entries = args.series } },
      programs = {} })
   local map = obj:map("series")
   local function fill(bump)
      for i = 0, args.series - 1 do map[{ shard = i // 1000, slot = i % 1000 }] = i * 7 + bump end
   end
   fill(0)
   local function bound()
      local reg = metrics.registry()
      reg:bind(map, { name = FAMILY, help = "Bench series.", type = "counter",
         labels = { "shard", "slot" } })
      return reg
   end
   local function median_of(prepare)
      local reg, xs = bound(), {}
      reg:render("text")
      for i = 1, args.scrapes do
         reg = prepare(reg, i) or reg
         collectgarbage() -- each render from the same heap, not paying for the one before
         local t0 = sockhost.now()
         local text = reg:render("text")
         xs[i] = sockhost.now() - t0
         assert(select(2, text:gsub("\n" .. FAMILY .. "{", "")) == args.series)
      end
      return util.median(xs), percentile(xs, 0.99)
   end
   for _, case in ipairs {
      { "values unchanged", function() end },
      { "every value changed", function(_, i) fill(i) end },
      { "new registry (cold)", function() return bound() end },
   } do
      local m, p99 = median_of(case[2])
      report({ bench = "render", what = case[1], version = version[1], series = args.series,
         renders = args.scrapes, median_s = m, p99_s = p99 })
   end
end

-- ---- (b) CPU of a scrape a second under events --------------------------------------------------

local function run_b(mode, round)
   local tag = ("b-%s-%d"):format(mode, round)
   local go, out = ("%s/%s.go"):format(tmp, tag), ("%s/%s.res"):format(tmp, tag)
   local ppid = spawn(("exec %s %s/producer.py %g %g %s %s >/dev/null 2>&1"):format(PYTHON, q(tmp),
      args.rate, args.seconds, q(go), q(out)))
   local s = start_server(tag, "--builtin --target " .. ppid)
   -- one scrape before the measure in both modes, so both start from a warm registry
   assert(util.sh(curl_cmd(s.port, "/metrics")))
   local c0 = cpu_seconds(s.pid)
   write_file(go, "")
   local scrapes, next_scrape = 0, sockhost.now() + 1
   while not util.exists(out) do
      if mode == "scrape" and sockhost.now() >= next_scrape then
         assert(util.sh(curl_cmd(s.port, "/metrics")))
         scrapes = scrapes + 1
         next_scrape = next_scrape + 1
      end
      socket.sleep(0.01)
   end
   local c1 = cpu_seconds(s.pid)
   local ledger = stop_server(s)
   local calls = util.read_file(out):match("^(%d+)")
   return { bench = "cpu", mode = mode, round = round, seconds = args.seconds, rate = args.rate,
      scrapes = scrapes, cpu_s = c1 - c0, calls = math.tointeger(tonumber(calls)),
      produced = ledger.produced, received = ledger.received, dropped = ledger.dropped,
      lost = ledger.produced - ledger.received, metric_errors = ledger.metric_errors }
end

local by_mode = { none = {}, scrape = {} }
for round = 1, args.rounds do
   for _, mode in ipairs { "none", "scrape" } do
      local r = run_b(mode, round)
      by_mode[mode][#by_mode[mode] + 1] = r
      report(r)
   end
end
local function med(mode, field)
   local xs = {}
   for _, r in ipairs(by_mode[mode]) do xs[#xs + 1] = r[field] end
   return util.median(xs)
end
local cpu_none, cpu_scrape = med("none", "cpu_s"), med("scrape", "cpu_s")
report({ bench = "cpu_summary", cpu_none_s = cpu_none, cpu_scrape_s = cpu_scrape,
   ratio = cpu_scrape / cpu_none, extra_per_scrape_s = (cpu_scrape - cpu_none)
      / med("scrape", "scrapes") })

if not args.json then
   local function ms(x) return x and ("%.1f"):format(x * 1000) or "-" end
   io.write(("(a) scrape of %d series, wall time of one command from this driver (sh + client "
      .. "+ work), %d each, interleaved; curl = curl's time_total\n\n"):format(args.series,
      args.scrapes))
   io.write(("%-26s %8s %8s %9s %7s %9s %8s %10s %10s\n"):format("what", "bytes", "first ms",
      "median ms", "p99 ms", "curl med", "curl p99", "vs bpftool", "vs python"))
   for _, r in ipairs(results) do
      if r.bench == "scrape" then
         io.write(("%-26s %8s %8s %9s %7s %9s %8s %9.2fx %9.2fx\n"):format(r.what,
            r.bytes and tostring(r.bytes) or "-", ms(r.first_s), ms(r.median_s), ms(r.p99_s),
            ms(r.curl_median_s), ms(r.curl_p99_s), r.vs_bpftool, r.vs_python))
      end
   end
   io.write(("\n(a') reg:render(\"text\") of the same family in this process, %d renders\n\n")
      :format(args.scrapes))
   io.write(("%-26s %-12s %9s %7s %10s\n"):format("case", "metrics.lua", "median ms",
      "p99 ms", "vs this"))
   local this = {}
   for _, r in ipairs(results) do
      if r.bench == "render" then
         if r.version == "this tree" then this[r.what] = r.median_s end
         io.write(("%-26s %-12s %9s %7s %9.2fx\n"):format(r.what, r.version, ms(r.median_s),
            ms(r.p99_s), r.median_s / this[r.what]))
      end
   end
   io.write(("\n(b) server CPU over %g s of %g getppid()/s into its ring (built-in families "
      .. "on), no scrape against one a second\n\n"):format(args.seconds, args.rate))
   io.write(("%-7s %5s %8s %8s %9s %9s %8s %5s\n"):format("mode", "round", "scrapes", "CPU s",
      "produced", "received", "dropped", "lost"))
   for _, r in ipairs(results) do
      if r.bench == "cpu" then
         io.write(("%-7s %5d %8d %8.2f %9d %9d %8d %5d\n"):format(r.mode, r.round, r.scrapes,
            r.cpu_s, r.produced, r.received, r.dropped, r.lost))
      end
   end
   local s = results[#results]
   io.write(("\nCPU, medians: %.2f s without scrapes, %.2f s with 1/s: %.2fx, %.1f ms a scrape\n")
      :format(s.cpu_none_s, s.cpu_scrape_s, s.ratio, s.extra_per_scrape_s * 1000))
end
local sh_row = ref["sockhost.metrics.http"]
io.stderr:write(("metrics bench: scrape median %.1f ms (goal < 50), %.2fx bpftool, %.2fx "
   .. "python; CPU with 1 scrape/s %.2fx\n"):format(sh_row.median * 1000,
   sh_row.median / ref["bpftool map dump -j"].median,
   sh_row.median / ref["python prometheus_client"].median, cpu_scrape / cpu_none))
