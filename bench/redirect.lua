-- SPDX-License-Identifier: GPL-2.0
--
-- bench/redirect: plain loopback TCP against the sock_ops + sk_msg redirect
-- (scripts/redirect.lua), measured in one run on the same machine, in a cgroup this bench
-- creates and removes (never the root cgroup):
--   * sockperf ping-pong latency, 64 B, 1 KiB, 16 KiB messages: mean and p99 (sockperf
--     reports half the round trip);
--   * iperf3 throughput, -l 64, 1K, 64K, 128K;
--   * connections per second (connect/accept/close, build/bench/connrate), since
--     sock_ops runs on every connection.
-- Variants: "tcp" (nothing attached: the reference), and redirect.lua's modes "ingress" (the
-- redirect), "egress" (sk_msg in the path, data through the sender's own TCP stack) and
-- "pass" (sk_msg verdict only). Every figure is also given as a ratio to tcp.
--
--   sockhost bench/redirect.lua                    (from the source tree, after a build)
--   sockhost bench/redirect.lua --seconds 5 --variants tcp,ingress --json
--
-- Installs sockperf and iperf3 with apt-get when they are missing (and says so).

local sockhost = require "sockhost"
local argparse = require "argparse"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"

local parser = argparse("sockhost bench/redirect.lua",
   "Loopback TCP with and without the sock_ops/sk_msg redirect: latency, throughput, "
   .. "connection rate.")
parser:option("--seconds", "Seconds per measurement.", "3"):convert(tonumber)
parser:option("--rounds", "Rounds; the variants alternate within each round and every "
   .. "figure is the median over the rounds (a shared machine is noisy).", "3"):convert(tonumber)
parser:option("--variants", "Comma-separated: tcp,ingress,egress,pass (tcp is always run "
   .. "first as the reference).", "tcp,ingress,egress,pass")
parser:option("--build", "Build directory (sockhost, bench/connrate).", util.build_dir())
parser:option("--source", "Source directory (scripts/redirect.lua).",
   os.getenv("SOCKHOST_SOURCE_DIR") or ".")
parser:flag("--json", "One JSON object with every figure instead of the table.")
local args = parser:parse(arg)

local quote, sh, read_file, must, sleep = util.quote, util.sh, util.read_file, util.must, util.sleep

local function log(fmt, ...)
   io.stderr:write(("bench/redirect: " .. fmt .. "\n"):format(...))
end

-- Tools -----------------------------------------------------------------------------------

local function ensure_tools()
   local missing = {}
   for _, t in ipairs({ "sockperf", "iperf3" }) do
      if not sh("command -v " .. t .. " >/dev/null") then missing[#missing + 1] = t end
   end
   if #missing > 0 then
      log("installing %s with apt-get (needed for the benchmark only)", table.concat(missing, " "))
      must("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
         .. table.concat(missing, " "))
   end
end

local sockhost_bin = args.build .. "/sockhost"
local connrate_bin = args.build .. "/bench/connrate"
local redirect_script = args.source .. "/scripts/redirect.lua"
for _, f in ipairs({ sockhost_bin, connrate_bin, redirect_script }) do
   if not io.open(f, "r") then
      error(("%s not found: build first, and run from the source tree or give --build/--source")
         :format(f), 0)
   end
end

-- The bench's cgroup and its processes ---------------------------------------------------------

local self_pid = sockhost.pid()
local cgroup = require "sockhost.cgroup"
local cg_name = ("sockhost-bench-redirect-%d"):format(self_pid)
local cg = ("%s/%s"):format(cgroup.root() or error("no cgroup2 mount in /proc/mounts", 0), cg_name)
local tmp = os.tmpname()
local started = {} -- pids of background processes, killed at the end

-- cmd inside the bench's cgroup (the shell joins it, then execs cmd)
local function in_cg(cmd)
   return ("sh -c %s"):format(quote(("echo $$ > %s/cgroup.procs && exec %s"):format(quote(cg),
      cmd)))
end

local function spawn(cmd, out)
   local ok, pid = sh(("setsid %s </dev/null >%s 2>&1 & echo $!"):format(cmd, out or "/dev/null"))
   pid = ok and math.tointeger(tonumber(pid:match("%d+")))
   assert(pid, "cannot start: " .. cmd)
   started[#started + 1] = pid
   return pid
end

local function alive(pid)
   local s = read_file(("/proc/%d/stat"):format(pid))
   return s and not s:match("^%d+ %b() Z")
end

local function stop(pid, sig)
   os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", pid))
   for _ = 1, 100 do
      if not alive(pid) then return end
      sleep(0.05)
   end
   os.execute(("kill -KILL %d 2>/dev/null"):format(pid))
end

local function cleanup()
   for _, pid in ipairs(started) do
      if alive(pid) then stop(pid, "KILL") end
   end
   os.remove(tmp)
   os.remove(tmp .. ".redirect")
   os.remove(tmp .. ".server")
   -- the cgroup goes once its processes have
   for _ = 1, 50 do
      if cgroup.remove(cg) then return end
      sleep(0.1)
   end
   log("cannot remove %s", cg)
end

-- Measurements ------------------------------------------------------------------------------

local PORT_SOCKPERF, PORT_IPERF = 11111 + self_pid % 1000, 12111 + self_pid % 1000

local function wait_port(port)
   for _ = 1, 100 do
      if sh(("ss -Htln 'sport = :%d' | grep -q LISTEN"):format(port)) then return end
      sleep(0.05)
   end
   error("no server came up on port " .. port, 0)
end

local function pingpong(size)
   local out = must(in_cg(("sockperf ping-pong --tcp -i 127.0.0.1 -p %d -m %d -t %d")
      :format(PORT_SOCKPERF, size, args.seconds)))
   local mean = tonumber(out:match("avg%-latency=([%d.]+)"))
   local p99 = tonumber(out:match("percentile 99%.000 =%s*([%d.]+)"))
   if not mean or not p99 then error("cannot read sockperf's output:\n" .. out, 0) end
   return mean, p99
end

local function iperf(len)
   local out = must(in_cg(("iperf3 -c 127.0.0.1 -p %d -l %s -t %d -J"):format(PORT_IPERF, len,
      args.seconds)))
   local bps = out:match('"sum_received"%s*:%s*{.-"bits_per_second"%s*:%s*([%d.e+]+)')
   if not bps then error("cannot read iperf3's output:\n" .. out, 0) end
   return tonumber(bps) / 1e9
end

local function connrate()
   local out = must(in_cg(("%s --duration %d"):format(quote(connrate_bin), args.seconds)))
   return tonumber(out:match('"rate":([%d.]+)'))
end

local METRICS = {
   { key = "pp64_mean", label = "ping-pong 64 B mean (us)", lower = true },
   { key = "pp64_p99", label = "ping-pong 64 B p99 (us)", lower = true },
   { key = "pp1k_mean", label = "ping-pong 1 KiB mean (us)", lower = true },
   { key = "pp1k_p99", label = "ping-pong 1 KiB p99 (us)", lower = true },
   { key = "pp16k_mean", label = "ping-pong 16 KiB mean (us)", lower = true },
   { key = "pp16k_p99", label = "ping-pong 16 KiB p99 (us)", lower = true },
   { key = "iperf_64", label = "iperf3 -l 64 (Gbit/s)" },
   { key = "iperf_1k", label = "iperf3 -l 1K (Gbit/s)" },
   { key = "iperf_64k", label = "iperf3 -l 64K (Gbit/s)" },
   { key = "iperf_128k", label = "iperf3 -l 128K (Gbit/s)" },
   { key = "connrate", label = "connections/s" },
}

local function measure(variant)
   local r, redirect = {}, nil
   if variant ~= "tcp" then
      redirect = spawn(("%s %s --cgroup %s --mode %s --json"):format(quote(sockhost_bin),
         quote(redirect_script), quote(cg), variant), tmp .. ".redirect")
      for _ = 1, 100 do
         if (read_file(tmp .. ".redirect") or ""):find('"type":"start"', 1, true) then break end
         sleep(0.05)
      end
      if not (read_file(tmp .. ".redirect") or ""):find('"type":"start"', 1, true) then
         error("redirect.lua did not start:\n" .. tostring(read_file(tmp .. ".redirect")), 0)
      end
   end
   local sp = spawn(in_cg(("sockperf server --tcp -i 127.0.0.1 -p %d"):format(PORT_SOCKPERF)))
   local ip = spawn(in_cg(("iperf3 -s -B 127.0.0.1 -p %d"):format(PORT_IPERF)))
   wait_port(PORT_SOCKPERF)
   wait_port(PORT_IPERF)
   for _, size in ipairs({ { 64, "64" }, { 1024, "1k" }, { 16384, "16k" } }) do
      log("%s: ping-pong %d B", variant, size[1])
      r["pp" .. size[2] .. "_mean"], r["pp" .. size[2] .. "_p99"] = pingpong(size[1])
   end
   for _, len in ipairs({ "64", "1K", "64K", "128K" }) do
      log("%s: iperf3 -l %s", variant, len)
      r["iperf_" .. len:lower()] = iperf(len)
   end
   log("%s: connection rate", variant)
   r.connrate = connrate()
   stop(sp)
   stop(ip)
   if redirect then
      stop(redirect, "INT")
      local last
      for line in (read_file(tmp .. ".redirect") or ""):gmatch("[^\n]+") do
         if line:find('"type":"total"', 1, true) then last = line end
      end
      r.redirected_msgs = tonumber((last or ""):match('"msgs":(%d+)'))
      r.passed_msgs = tonumber((last or ""):match('"passed":(%d+)'))
   end
   return r
end

-- Main ------------------------------------------------------------------------------------

local function main()
   ensure_tools()
   local variants = { "tcp" }
   for v in args.variants:gmatch("[^,]+") do
      if v ~= "tcp" then
         if v ~= "ingress" and v ~= "egress" and v ~= "pass" then
            error("unknown variant '" .. v .. "' (tcp, ingress, egress, pass)", 0)
         end
         variants[#variants + 1] = v
      end
   end
   cgroup.create(cg_name)
   local rounds = {}
   local ok, err = pcall(function()
      for i = 1, args.rounds do
         log("round %d of %d", i, args.rounds)
         for _, v in ipairs(variants) do
            rounds[v] = rounds[v] or {}
            rounds[v][i] = measure(v)
         end
      end
   end)
   cleanup()
   if not ok then error(err, 0) end
   local results = {}
   for v, rs in pairs(rounds) do
      results[v] = {}
      for k in pairs(rs[1]) do
         local xs = {}
         for _, r in ipairs(rs) do xs[#xs + 1] = r[k] end
         results[v][k] = util.median(xs)
      end
   end

   if args.json then
      local cjson = require "cjson"
      print(cjson.encode({ seconds = args.seconds, rounds = rounds, variants = variants,
         median = results,
         kernel = (select(2, sh("uname -r")):gsub("%s+$", "")) }))
      return
   end
   local head = { ("%-28s %10s"):format("metric", "tcp") }
   for i = 2, #variants do head[#head + 1] = ("%10s %7s"):format(variants[i], "ratio") end
   print(table.concat(head, " "))
   for _, m in ipairs(METRICS) do
      local base = results.tcp[m.key]
      local row = { ("%-28s %10.2f"):format(m.label, base) }
      for i = 2, #variants do
         local v = results[variants[i]][m.key]
         row[#row + 1] = ("%10.2f %7.2f"):format(v, v / base)
      end
      print(table.concat(row, " "))
   end
   local row = { ("%-28s %10s"):format("messages redirected/passed", "-") }
   for i = 2, #variants do
      local r = results[variants[i]]
      row[#row + 1] = ("%18s"):format(("%s/%s"):format(r.redirected_msgs, r.passed_msgs))
   end
   print(table.concat(row, " "))
   print(("(median of %d rounds, %d s per figure; ratio = variant / tcp: below 1 is better "
      .. "for latency, above 1 for throughput and connections; messages are per round)")
      :format(args.rounds, args.seconds))
end

main()
