-- SPDX-License-Identifier: GPL-2.0
--
-- bench/conntrace: conntrace --json against libbpf-tools' tcplife at the highest connection
-- rate build/bench/connrate reaches (loopback connect/accept/close, both ends traced), in
-- interleaved rounds of one run: nothing traced, tcplife, conntrace. Per variant, the median
-- over the rounds of
--   * rate       connections/s the workload made (what tracing costs it: compare to none)
--   * delivered  records the tool printed (two per connection: one per socket end)
--   * lost       records the tool says it lost (conntrace: `dropped`, its loss ledger;
--                tcplife: the "lost N events" lines of its perf buffer)
--   * kept       delivered / (delivered + lost)
--   * cpu_us     the tool's CPU time (user + system, /proc/PID/stat) from just before the
--                workload starts to its exit, per delivered record
-- and the ratios conntrace/tcplife. Both tools trace every TCP socket of the machine, so
-- other traffic adds records to both alike.
--
--   sockhost bench/conntrace.lua                 (from the source tree, after
--                                                 cmake --build build --target bench)
--   sockhost bench/conntrace.lua --seconds 5 --rounds 5 --json
--   sockhost bench/conntrace.lua --metrics       a fourth variant, "metrics": conntrace --json
--                                                 --metrics 127.0.0.1:0 scraped once a second
--                                                 (curl) during the workload; the closes its
--                                                 last scrape counts are set against the
--                                                 records (delivered + lost), which also have
--                                                 what closed after it (that scrape's own
--                                                 connection, 2 records, at least)
--
-- Installs libbpf-tools with apt-get when tcplife is missing (and says so).

local argparse = require "argparse"
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"

local parser = argparse("sockhost bench/conntrace.lua",
   "conntrace --json against tcplife under build/bench/connrate: rate, records kept, CPU.")
parser:option("--seconds", "Seconds of workload per measurement.", "3"):convert(tonumber)
parser:option("--rounds", "Rounds; variants alternate within a round; medians reported.", "3")
   :convert(tonumber)
parser:option("--build", "Build directory (sockhost, bench/connrate).", util.build_dir())
parser:option("--source", "Source directory (scripts/conntrace.lua).",
   os.getenv("SOCKHOST_SOURCE_DIR") or ".")
parser:flag("--json", "One JSON object with every figure instead of the table.")
parser:flag("--metrics", "Also run conntrace with --metrics, scraped once a second.")
local args = parser:parse(arg)

local quote, must, sleep, read_file = util.quote, util.must, util.sleep, util.read_file

local function log(fmt, ...)
   io.stderr:write(("bench/conntrace: " .. fmt .. "\n"):format(...))
end

local TCPLIFE = "/usr/sbin/tcplife"
if not util.exists(TCPLIFE) then
   log("installing libbpf-tools with apt-get (tcplife, the reference)")
   must("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
      .. "libbpf-tools")
end
local connrate = args.build .. "/bench/connrate"
if not util.exists(connrate) then
   error(connrate .. " is missing: cmake --build " .. args.build .. " --target bench", 0)
end

local tmp = util.output("mktemp -d"):gsub("%s+$", "")

-- CPU seconds (user + system) of pid so far, or nil once it is gone.
local function cpu_seconds(pid)
   local stat = read_file(("/proc/%d/stat"):format(pid))
   if not stat then return nil end
   local rest = stat:match("%) (.*)$")
   local f = {}
   for w in rest:gmatch("%S+") do f[#f + 1] = w end
   -- fields after the comm: state is f[1], utime f[12], stime f[13]
   return (tonumber(f[12]) + tonumber(f[13])) / 100
end

local function alive(pid)
   return util.exists(("/proc/%d/stat"):format(pid))
end

-- Does pid hold a BPF link (attached, as far as the fds say)?
local function has_link(pid)
   return util.output(("ls -l /proc/%d/fd 2>/dev/null"):format(pid)):find("bpf_link") ~= nil
end

local function wait_for(pred, seconds)
   for _ = 1, seconds * 20 do
      if pred() then return true end
      sleep(0.05)
   end
   return false
end

local function count_lines(path, skip)
   local n = 0
   for _ in io.lines(path) do n = n + 1 end
   return math.max(0, n - (skip or 0))
end

-- Start a tool in the background; its pid. stdout and stderr go to files.
local function start(cmd, out, err)
   local pid = tonumber(util.output(("%s >%s 2>%s & echo $!"):format(cmd, quote(out),
      quote(err))))
   assert(pid, "could not start " .. cmd)
   return pid
end

local function stop(pid)
   os.execute("kill -INT " .. pid)
   if not wait_for(function() return not alive(pid) end, 10) then
      os.execute("kill -KILL " .. pid)
      wait_for(function() return not alive(pid) end, 5)
   end
end

local function workload()
   local out = must(("%s --duration %g"):format(quote(connrate), args.seconds))
   local n = tonumber(out:match('"connections":(%d+)'))
   local rate = tonumber(out:match('"rate":([%d.]+)'))
   return n, rate
end

local variants = {
   none = function()
      local n, rate = workload()
      return { connections = n, rate = rate }
   end,
   tcplife = function()
      local out, err = tmp .. "/tcplife.out", tmp .. "/tcplife.err"
      local pid = start("exec " .. TCPLIFE, out, err)
      -- ready once it holds a BPF link (its stdout, a file, is not flushed before exit)
      if not wait_for(function() return has_link(pid) end, 20) then
         stop(pid) -- not left running (and attached) when the bench gives up
         error("tcplife did not start: " .. (read_file(err) or ""), 0)
      end
      sleep(0.2)
      local cpu0 = cpu_seconds(pid)
      local n, rate = workload()
      sleep(0.5)
      local cpu1 = cpu_seconds(pid)
      stop(pid)
      local lost = 0
      for k in (read_file(err) or ""):gmatch("[Ll]ost (%d+) events") do lost = lost + tonumber(k) end
      local delivered = count_lines(out, 1)
      return { connections = n, rate = rate, delivered = delivered, lost = lost,
         cpu = (cpu1 or cpu0) - cpu0 }
   end,
}

-- conntrace --json; with metrics, also --metrics 127.0.0.1:0 and a curl of it every second
-- while the workload runs (the scrapes' cost lands in conntrace's CPU time, as in a fleet)
local function conntrace(metrics)
   local out, err = tmp .. "/conntrace.out", tmp .. "/conntrace.err"
   local pid = start(("exec %s %s --json%s"):format(quote(args.build .. "/sockhost"),
      quote(args.source .. "/scripts/conntrace.lua"), metrics and " --metrics 127.0.0.1:0" or ""),
      out, err)
   if not wait_for(function() return (read_file(err) or ""):find("filters:") end, 20) then
      stop(pid)
      error("conntrace did not start: " .. (read_file(err) or ""), 0)
   end
   local url, scraper, scrapes = nil, nil, tmp .. "/scrapes"
   if metrics then
      url = ("http://127.0.0.1:%s/metrics"):format((read_file(err) or ""):match(
         "metrics on http://[^/]*:(%d+)/metrics"))
      scraper = start(("exec sh -c 'while :; do curl -sf %s >/dev/null && echo ok; sleep 1; "
         .. "done'"):format(url), scrapes, "/dev/null")
   end
   local cpu0 = cpu_seconds(pid)
   local n, rate = workload()
   sleep(0.5)
   local cpu1 = cpu_seconds(pid)
   local closed
   if metrics then
      os.execute("kill -KILL " .. scraper) -- a shell loop: SIGINT waits for its sleep
      closed = 0
      for v in util.output(("curl -sf %s"):format(url)):gmatch(
         "\nsockhost_conntrace_connections_closed_total{[^}]*} (%d+)") do
         closed = closed + tonumber(v)
      end
   end
   stop(pid)
   local summary = read_file(err) or ""
   local lost = tonumber(summary:match("(%d+) events dropped")) or 0
   local discarded = tonumber(summary:match("(%d+) discarded")) or 0
   return { connections = n, rate = rate, delivered = count_lines(out), lost = lost + discarded,
      cpu = (cpu1 or cpu0) - cpu0, closed = closed,
      scrapes = metrics and count_lines(scrapes) or nil }
end
variants.conntrace = function() return conntrace(false) end
variants.metrics = function() return conntrace(true) end
local order = { "none", "tcplife", "conntrace" }
if args.metrics then order[#order + 1] = "metrics" end

local results = { none = {}, tcplife = {}, conntrace = {}, metrics = {} }
for round = 1, args.rounds do
   for _, v in ipairs(order) do
      local r = variants[v]()
      results[v][#results[v] + 1] = r
      log("round %d %-9s rate %.0f/s%s%s", round, v, r.rate, r.delivered and
         (" delivered %d lost %d cpu %.2fs"):format(r.delivered, r.lost, r.cpu) or "",
         r.closed and (" scrapes %d, closes in the last %d"):format(r.scrapes, r.closed) or "")
      sleep(0.5)
   end
end
os.execute("rm -rf " .. quote(tmp))

local function med(v, f)
   local xs = {}
   for _, r in ipairs(results[v]) do xs[#xs + 1] = f(r) end
   return util.median(xs)
end

local summary = {}
for _, v in ipairs(order) do
   local s = { rate = med(v, function(r) return r.rate end) }
   if v ~= "none" then
      s.delivered = med(v, function(r) return r.delivered end)
      s.lost = med(v, function(r) return r.lost end)
      s.kept = med(v, function(r) return r.delivered / math.max(1, r.delivered + r.lost) end)
      s.cpu_us = med(v, function(r) return r.cpu * 1e6 / math.max(1, r.delivered) end)
   end
   summary[v] = s
end
summary.ratio = {
   rate = summary.conntrace.rate / summary.tcplife.rate,
   kept = summary.conntrace.kept / summary.tcplife.kept,
   cpu_us = summary.conntrace.cpu_us / summary.tcplife.cpu_us,
}
if args.metrics then
   -- the records the kernel's close count (at the last scrape) does not have yet
   summary.metrics.records_after_scrape = med("metrics", function(r)
      return r.delivered + r.lost - r.closed
   end)
   summary.metrics.scrapes = med("metrics", function(r) return r.scrapes end)
   summary.ratio.metrics_rate = summary.metrics.rate / summary.conntrace.rate
   summary.ratio.metrics_cpu_us = summary.metrics.cpu_us / summary.conntrace.cpu_us
end

if args.json then
   local ndjson = require "sockhost.ndjson"
   ndjson.writer(io.stdout):write(summary)
else
   print(("%-10s %10s %10s %9s %7s %12s"):format("variant", "conns/s", "delivered", "lost",
      "kept", "cpu us/rec"))
   for _, v in ipairs(order) do
      local s = summary[v]
      print(("%-10s %10.0f %10s %9s %7s %12s"):format(v, s.rate,
         s.delivered and ("%.0f"):format(s.delivered) or "-",
         s.lost and ("%.0f"):format(s.lost) or "-", s.kept and ("%.4f"):format(s.kept) or "-",
         s.cpu_us and ("%.2f"):format(s.cpu_us) or "-"))
   end
   print(("conntrace/tcplife: rate %.3f, kept %.4f, cpu per record %.2f"):format(
      summary.ratio.rate, summary.ratio.kept, summary.ratio.cpu_us))
   if args.metrics then
      print(("metrics/conntrace: rate %.3f, cpu per record %.2f; %.0f scrapes a round; "
         .. "records past the last scrape's closes %.0f"):format(summary.ratio.metrics_rate,
         summary.ratio.metrics_cpu_us, summary.metrics.scrapes,
         summary.metrics.records_after_scrape))
   end
   print(("goals: kept ratio 1.000 (%s), rate ratio >= 1 (%s), cpu ratio <= 1.5 (%s)"):format(
      summary.conntrace.kept >= summary.tcplife.kept and "met" or "NOT met",
      summary.ratio.rate >= 1 and "met" or "NOT met",
      summary.ratio.cpu_us <= 1.5 and "met" or "NOT met"))
end
