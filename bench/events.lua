-- SPDX-License-Identifier: GPL-2.0
--- bench/events.lua: how fast events reach Lua, against a plain C libbpf consumer
-- measured in the same run (build/bench/events_ref, bench/events_ref.c).
--
--   (a) drain: the `fill` program (run through BPF_PROG_TEST_RUN) fills a 4 MiB ring with
--       32-byte records; only the drain is timed; fills repeat until --records records.
--       C ring_buffer__consume, sockhost per-event decoded callback, batch mode (all fields,
--       and one field), raw mode, and NDJSON lines encoded in C (opts.ndjson).
--   (b) live: a producer process calls getppid() in a loop for --seconds; the tracepoint
--       writes one record per call (through the loss ledger). Producer rate and drops with no
--       consumer attached, the C consumer, sockhost, and bpftrace printf.
--
-- Run as root: build/sockhost bench/events.lua [--records N] [--seconds S] [--json]
local sockhost = require "sockhost"
local socket = require "socket"
local cjson = require "cjson"
local argparse = require "argparse"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"

local parser = argparse("events.lua", "Ring/perf buffer throughput of sockhost against C libbpf")
parser:option("--records", "Records per drain measurement.", "3145728"):convert(math.tointeger)
parser:option("--seconds", "Producer run time of each live measurement.", "3"):convert(tonumber)
parser:option("--bench-dir", "Where events_ref and events.bpf.o are (default: <build>/bench).")
parser:flag("--json", "One NDJSON line per measurement on stdout.")
parser:flag("--no-bpftrace", "Skip the bpftrace live measurement.")
parser:flag("--install-peers", "apt-get install bpftrace when it is missing.")
local args = parser:parse()

local dir = args.bench_dir or (util.build_dir() .. "/bench")
local OBJ = dir .. "/events.bpf.o"
local REF = dir .. "/events_ref"
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))
-- removed when the chunk ends, also when a measurement raises
local tmp_guard <close> = setmetatable({}, {
   __close = function() os.execute("rm -rf " .. tmp) end,
})

local sh, exists, read = util.output, util.exists, util.read_file

local rows = {}
local function emit(row)
   rows[#rows + 1] = row
   if args.json then print(cjson.encode(row)) end
end

-- ---- (a) drain ------------------------------------------------------------------------------

local function drain_c()
   local r = cjson.decode(sh(("%s drain %s %d"):format(REF, OBJ, args.records)))
   return { consumer = "C libbpf ring_buffer__consume", records = r.records, fills = r.fills,
            seconds = r.seconds }
end

local function drain_sockhost(name, tname, fn, opts)
   local obj <close> = sockhost.open(OBJ, { programs = { "fill" } })
   local fill = obj:program("fill")
   local rb <close> = sockhost.ringbuf(obj:map("events"), tname, fn, opts)
   local pkt = string.rep("\0", 64)
   local secs, fills = 0, 0
   collectgarbage()
   while rb.received < args.records do
      fill:test_run { data = pkt }
      fills = fills + 1
      local target = rb.received + obj.globals.filled
      local t0 = socket.gettime()
      while rb.received < target do sockhost.poll(0) end
      secs = secs + socket.gettime() - t0
   end
   return { consumer = name, records = rb.received, fills = fills, seconds = secs }
end

local sum = 0
local drains = {
   drain_c,
   function()
      return drain_sockhost("sockhost per-event, decoded", "struct bench_event",
         function(e) sum = sum + e.seq end)
   end,
   function()
      return drain_sockhost("sockhost batch, all 5 fields", "struct bench_event", function(c, n)
         local seq = c.seq
         for i = 1, n do sum = sum + seq[i] end
      end, { batch = true })
   end,
   function()
      return drain_sockhost("sockhost batch, fields = {seq}", "struct bench_event",
         function(c, n)
            local seq = c.seq
            for i = 1, n do sum = sum + seq[i] end
         end, { batch = true, fields = { "seq" } })
   end,
   function()
      return drain_sockhost("sockhost raw strings", nil, function(s) sum = sum + #s end)
   end,
   function()
      -- every record encoded to an NDJSON line in C and written (to /dev/null): conntrace's
      -- --json path
      local null <close> = assert(io.open("/dev/null", "w"))
      return drain_sockhost("sockhost opts.ndjson lines (C)", "struct bench_event", nil,
         { ndjson = { out = null, type = "bench",
            fields = { "seq", { "t", from = "ts" }, "pid", "cpu", "val" } } })
   end,
}
local c_rate
for _, d in ipairs(drains) do
   local r = d()
   r.bench = "drain"
   r.rate = r.records / r.seconds
   c_rate = c_rate or r.rate
   r.vs_c = r.rate / c_rate
   emit(r)
end

-- ---- (b) live ---------------------------------------------------------------------------------

--- Start the producer; it waits for <tmp>/go. Returns its pid and result file.
local function producer(tag)
   local out = ("%s/%s.out"):format(tmp, tag)
   local go = ("%s/%s.go"):format(tmp, tag)
   local pid = sh(("%s produce %s %s %s >/dev/null 2>&1 & echo $!"):format(REF, args.seconds, go, out))
   return math.tointeger(tonumber(pid)), go, out
end

local function producer_result(out)
   while not exists(out) do socket.sleep(0.05) end
   socket.sleep(0.05)
   local calls, secs = read(out):match("(%d+) ([%d.]+)")
   return tonumber(calls), tonumber(secs)
end

local function live_none()
   local _, go, out = producer("none")
   io.open(go, "w"):close()
   local calls, secs = producer_result(out)
   return { consumer = "no probe", calls = calls, seconds = secs }
end

local function live_c()
   local r = cjson.decode(sh(("%s live %s %s"):format(REF, OBJ, args.seconds)))
   return { consumer = "C libbpf ring_buffer__poll", calls = r.calls, seconds = r.seconds,
            produced = r.produced, received = r.received, dropped = r.dropped }
end

local function live_sockhost()
   local obj <close> = sockhost.open(OBJ, { programs = { "sys_enter_getppid" } })
   local pid, go, out = producer("sockhost")
   -- a producer waiting for its go file must not outlive a failed attach
   local started = false
   local producer_guard <close> = setmetatable({}, {
      __close = function() if not started then os.execute("kill " .. pid .. " 2>/dev/null") end end,
   })
   obj:map("bench_config")[0] = { target_pid = pid }
   local link <close> = obj:program("sys_enter_getppid"):attach()
   local n = 0
   local rb <close> = sockhost.ringbuf(obj:map("events"), "struct bench_event",
      function(e) n = n + e.pid // e.pid end)
   local poller = sockhost.every(0.05, function()
      if exists(out) then sockhost.stop() end
   end)
   started = true
   io.open(go, "w"):close()
   sockhost.run()
   poller:cancel()
   local calls, secs = producer_result(out)
   sockhost.poll(0)
   return { consumer = "sockhost per-event, decoded", calls = calls, seconds = secs,
            produced = obj.globals.produced, received = n, dropped = rb.dropped }
end

local function bpftrace_bin()
   local path = sh("command -v bpftrace"):match("%S+")
   if path or not args.install_peers then return path end
   io.stderr:write("events.lua: installing bpftrace (optional peer, --install-peers): "
      .. "apt-get install -y bpftrace\n")
   os.execute("apt-get install -y bpftrace >&2")
   return sh("command -v bpftrace"):match("%S+")
end

local function live_bpftrace()
   local bt = bpftrace_bin()
   if not bt then
      io.stderr:write("events.lua: bpftrace not found, live bpftrace row skipped "
         .. "(--install-peers installs it)\n")
      return nil
   end
   local pid, go, out = producer("bpftrace")
   local prog = ("tracepoint:syscalls:sys_enter_getppid /pid == %d/ { printf(\"%%d %%d\\n\", pid, nsecs); }")
      :format(pid)
   local txt, err = tmp .. "/bt.txt", tmp .. "/bt.err"
   local btpid = math.tointeger(tonumber(sh(("%s -e '%s' >%s 2>%s & echo $!"):format(bt, prog, txt, err))))
   local deadline = socket.gettime() + 30
   while not (read(txt) or ""):find("Attaching") and not (read(err) or ""):find("Attaching")
      and socket.gettime() < deadline do
      socket.sleep(0.1)
   end
   io.open(go, "w"):close()
   local calls, secs = producer_result(out)
   socket.sleep(0.5)
   os.execute("kill -INT " .. btpid)
   while os.execute("kill -0 " .. btpid .. " 2>/dev/null") do socket.sleep(0.1) end
   local received = 0
   for line in io.lines(txt) do
      if line:match("^%d+ %d+$") then received = received + 1 end
   end
   local lost = 0
   for n in ((read(err) or "") .. (read(txt) or "")):gmatch("Lost (%d+) events") do
      lost = lost + tonumber(n)
   end
   local version = sh(bt .. " --version"):match("%S+%s+(%S+)") or "?"
   return { consumer = "bpftrace " .. version .. " printf", calls = calls, seconds = secs,
            produced = calls, received = received, dropped = lost }
end

local lives = { live_none, live_c, live_sockhost }
if not args.no_bpftrace then lives[#lives + 1] = live_bpftrace end
local c_live
for _, l in ipairs(lives) do
   local r = l()
   if r then
      r.bench = "live"
      r.rate = r.calls / r.seconds
      if r.consumer:find("^C ") then c_live = r.rate end
      emit(r)
   end
end
for _, r in ipairs(rows) do
   if r.bench == "live" then r.vs_c = r.rate / c_live end
end

-- ---- the table ------------------------------------------------------------------------------

local out = args.json and io.stderr or io.stdout
out:write(("(a) drain: %d records of 32 bytes, ring of 4 MiB filled by BPF_PROG_TEST_RUN, "
   .. "only the drain timed\n"):format(args.records))
out:write(("%-34s %12s %8s\n"):format("consumer", "M records/s", "vs C"))
for _, r in ipairs(rows) do
   if r.bench == "drain" then
      out:write(("%-34s %12.2f %8.3f\n"):format(r.consumer, r.rate / 1e6, r.vs_c))
   end
end
out:write(("\n(b) live: getppid() loop for %g s, one ring record per call\n"):format(args.seconds))
out:write(("%-34s %12s %8s %10s %10s\n"):format("consumer", "K calls/s", "vs C", "received",
   "dropped"))
for _, r in ipairs(rows) do
   if r.bench == "live" then
      local function int(v) return v and ("%d"):format(math.floor(v)) or "-" end
      out:write(("%-34s %12.1f %8.3f %10s %10s\n"):format(r.consumer, r.rate / 1e3, r.vs_c,
         int(r.received), int(r.dropped)))
   end
end
