-- SPDX-License-Identifier: GPL-2.0
--- Startup benchmark: how long from exec to "program loaded and attached, then gone" for
-- sockhost, against bpftrace (which compiles at start) and bpftool (load only, no Lua), all in
-- the same run. Each tool attaches one tracepoint program and exits at once. The objects are
-- the bench's own events.bpf.o (its getppid tracepoint) and the shipped sockex1 (one socket
-- filter); build them first with `cmake --build build --target bench`.
--
--   build/sockhost bench/startup.lua [--runs N] [--bench-dir build/bench]
--
-- bpftrace is optional: when it is missing the bench says so and offers the apt-get line.
local sockhost = require "sockhost"
local socket = require "socket"
local argparse = require "argparse"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"

local parser = argparse("sockhost bench/startup.lua",
   "Time exec-to-exit of load+attach+detach for sockhost, bpftrace and bpftool.")
parser:option("--runs", "Runs per tool (median reported).", "20"):convert(tonumber)
parser:option("--bench-dir", "Where events.bpf.o is (default: <build>/bench).")
local args = parser:parse(arg)

local function sh(cmd)
   local ok = os.execute(cmd .. " >/dev/null 2>&1")
   return ok
end

-- the sockhost binary running this bench (lua.c-style arg[-1])
local function exe()
   return arg[-1] or "sockhost"
end

--- Median wall time of cmd over runs, in milliseconds; nil when it fails.
local function time(cmd, runs)
   if not sh(cmd) then return nil end -- warm the page cache, check it works
   local xs = {}
   for i = 1, runs do
      local t0 = socket.gettime()
      if not sh(cmd) then return nil end
      xs[i] = (socket.gettime() - t0) * 1000
   end
   return util.median(xs)
end

local events_obj = (args.bench_dir or (util.build_dir() .. "/bench")) .. "/events.bpf.o"
if not io.open(events_obj, "r") then
   error(("%s not found: cmake --build build --target bench, or give --bench-dir"):format(events_obj), 0)
end
local obj = sockhost.bpf_dir() .. "/sockex1.bpf.o"
local pin = "/sys/fs/bpf/sockhost-bench-startup-" .. sockhost.pid()
local tools = {
   {
      name = "sockhost",
      what = "open+load bench events, attach tracepoint, exit",
      cmd = string.format("%s -e %q", exe(),
         ('local o = sockhost.open(%q, {programs = {"sys_enter_getppid"}}) '):format(events_obj)
         .. 'o:program("sys_enter_getppid"):attach()'),
   },
   {
      name = "bpftrace",
      what = "compile+load+attach tracepoint, exit",
      cmd = "bpftrace -e 'tracepoint:syscalls:sys_enter_getppid { @c = count(); } BEGIN { exit(); }'",
      missing = "bpftrace is not installed (apt-get install bpftrace)",
      probe = "command -v bpftrace",
   },
   {
      name = "sockhost",
      what = "open+load sockex1 (a socket filter), exit",
      cmd = string.format("%s -e %q", exe(), 'sockhost.open("sockex1")'),
   },
   {
      name = "bpftool",
      what = "load sockex1 (a socket filter), pin, unpin",
      cmd = string.format("bpftool prog loadall %s %s && rm -rf %s", obj, pin, pin),
   },
}

io.write(string.format("startup, median of %d runs each (lower is better)\n\n", args.runs))
io.write(string.format("%-9s %10s %12s  %s\n", "tool", "ms", "vs sockhost", "what"))
local base
for _, t in ipairs(tools) do
   if t.probe and not sh(t.probe) then
      io.write(string.format("%-9s %10s %12s  %s\n", t.name, "-", "-", t.missing))
   else
      local ms = time(t.cmd, args.runs)
      -- each sockhost row is the reference for the peers below it
      if t.name == "sockhost" then base = ms end
      if ms then
         io.write(string.format("%-9s %10.1f %11.2fx  %s\n", t.name, ms, ms / base, t.what))
      else
         io.write(string.format("%-9s %10s %12s  failed: %s\n", t.name, "-", "-", t.cmd))
      end
   end
end
os.execute("rm -rf " .. pin)
