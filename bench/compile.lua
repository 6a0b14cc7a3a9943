-- SPDX-License-Identifier: GPL-2.0
--- Compile-and-cache benchmark: exec-to-exit of a sockhost that opens a small BPF C probe
-- (count getppid calls on a tracepoint), attaches it and exits, against bpftrace starting the
-- equivalent one-liner, in one run:
--   first   a cache with nothing in it: vmlinux.h generated (bpftool), then clang
--   cold    vmlinux.h cached, the probe itself new: one clang run
--   warm    everything cached: no compiler runs (PATH holds no clang)
--   .bpf.o  the cached object opened by its path: what the cache lookup itself costs
--   bpftrace compiles its one-liner with the LLVM inside it on every start
-- Each run has its own SOCKHOST_CACHE_DIR under a temporary directory, removed at the end.
--
--   build/sockhost bench/compile.lua [--runs N]
local socket = require "socket"
local argparse = require "argparse"
-- the drivers' shared helpers sit next to this file (bench/benchutil.lua)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local util = require "benchutil"

local parser = argparse("sockhost bench/compile.lua",
   "Time cold, warm and first compile-and-open of BPF C against bpftrace's start.")
parser:option("--runs", "Runs per row (median reported).", "10"):convert(tonumber)
local args = parser:parse(arg)

local PROBE = [[
// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 calls;

SEC("tracepoint/syscalls/sys_enter_getppid")
int count(void *ctx)
{
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
]]

local quote = util.quote
-- the sockhost binary running this bench (lua.c-style arg[-1]), absolute: runs cd first
local exe = arg[-1] or "sockhost"
if exe:find("/") then exe = util.must("realpath " .. quote(exe)):gsub("\n$", "") end
local tmp = util.must("mktemp -d"):gsub("\n$", "")
local noclang = tmp .. "/empty"
util.must("mkdir -p " .. quote(noclang))
local OPEN = 'sockhost.open(%q):program("count"):attach()'

local function write(path, text)
   local f = assert(io.open(path, "wb"))
   f:write(text)
   f:close()
end

-- milliseconds cmd took, or nil and its output when it failed
local function once(cmd)
   local t0 = socket.gettime()
   local ok, out = util.sh(cmd .. " 2>&1")
   if not ok then return nil, out end
   return (socket.gettime() - t0) * 1000
end

local function sockhost_cmd(cache, src, path)
   return ("cd %s && env SOCKHOST_CACHE_DIR=%s%s %s -e %s"):format(quote(tmp), quote(cache),
      path and (" PATH=" .. quote(path)) or "", quote(exe), quote(OPEN:format(src)))
end

local prebuilt -- the warm row's object, found before anything is timed

-- rows: name, what, and a function(i) giving run i's command (nil: skip the row)
local rows = {
   {
      name = "sockhost first",
      what = "empty cache: bpftool vmlinux.h, clang, open+load+attach, exit",
      cmd = function(i)
         local src = ("first%d.bpf.c"):format(i)
         write(tmp .. "/" .. src, PROBE)
         return sockhost_cmd(("%s/cache-first-%d"):format(tmp, i), src)
      end,
   },
   {
      name = "sockhost cold",
      what = "vmlinux.h cached, a new probe: clang, open+load+attach, exit",
      cmd = function(i)
         local src = ("cold%d.bpf.c"):format(i)
         write(tmp .. "/" .. src, PROBE .. ("/* run %d */\n"):format(i))
         return sockhost_cmd(tmp .. "/cache", src)
      end,
   },
   {
      name = "sockhost warm",
      what = "all cached, no clang on PATH: open+load+attach, exit",
      cmd = function()
         return sockhost_cmd(tmp .. "/cache", "warm.bpf.c", noclang)
      end,
   },
   {
      name = "sockhost .bpf.o",
      what = "the warm row's cached object by path: open+load+attach, exit",
      cmd = function()
         return ("%s -e %s"):format(quote(exe), quote(OPEN:format(prebuilt)))
      end,
   },
   {
      name = "bpftrace",
      what = "compile+load+attach the same tracepoint one-liner, exit",
      cmd = function()
         if not util.sh("command -v bpftrace >/dev/null") then return nil end
         return "bpftrace -e 'tracepoint:syscalls:sys_enter_getppid { @c = count(); } "
            .. "BEGIN { exit(); }' >/dev/null"
      end,
   },
}

-- the warm row's entry, and vmlinux.h for the cold rows, made before anything is timed
write(tmp .. "/warm.bpf.c", PROBE)
util.must(sockhost_cmd(tmp .. "/cache", "warm.bpf.c"))
prebuilt = util.must(("cd %s && env SOCKHOST_CACHE_DIR=%s %s -e %s"):format(quote(tmp),
   quote(tmp .. "/cache"), quote(exe), quote("io.write(sockhost.cc('warm.bpf.c'))")))

io.write(("compile and open, median of %d runs each (lower is better)\n\n"):format(args.runs))
io.write(("%-15s %10s %10s  %s\n"):format("tool", "ms", "vs warm", "what"))
local results = {}
for _, r in ipairs(rows) do
   local xs, err = {}, nil
   for i = 1, args.runs do
      local cmd = r.cmd(i)
      if not cmd then
         err = "not installed (apt-get install bpftrace)"
         break
      end
      local ms, out = once(cmd)
      if not ms then
         err = "failed: " .. out
         break
      end
      xs[#xs + 1] = ms
   end
   results[r] = not err and util.median(xs) or nil
   r.err = err
end
local warm = results[rows[3]]
for _, r in ipairs(rows) do
   local ms = results[r]
   if ms then
      io.write(("%-15s %10.1f %9.2fx  %s\n"):format(r.name, ms, warm and ms / warm or 0, r.what))
   else
      io.write(("%-15s %10s %10s  %s\n"):format(r.name, "-", "-", r.err))
   end
end
os.execute("rm -rf " .. quote(tmp))
