-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/proc.lua: shell commands, files, processes and waiting, for specs that run
-- things around sockhost: sh/must, spawn/kill/alive/wait_gone (a spawned command is its own
-- process group), wait_for/poll_until, NDJSON output, and a few facts about this process and
-- machine. Pure Lua 5.4 + LuaSocket (+ lua-cjson for NDJSON); shell commands through
-- io.popen. Names a helper makes for the spec carry "sockhost-spec", this process's pid and
-- proc.next_id(), so leftovers are easy to find.

local socket = require "socket"
local cjson = require "cjson.safe"
local cgroup = require "sockhost.cgroup"

local proc = {}

local counter = 0

--- A number unique within this process (1, 2, ...), for names the helpers make.
function proc.next_id()
   counter = counter + 1
   return counter
end

--- The value of environment variable name, which ctest sets for every spec (SOCKHOST_BIN,
-- SOCKHOST_BUILD_DIR, SOCKHOST_SOURCE_DIR: see SPEC_ENV in CMakeLists.txt); raises without it.
function proc.env(name)
   return (assert(os.getenv(name), ("run through ctest (%s)"):format(name)))
end

--- Quote s for /bin/sh.
function proc.quote(s)
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = proc.quote

--- Run a shell command. Returns ok (exit status 0), its stdout, and the exit code (or the
-- signal number when it was killed). stderr is not captured: append 2>&1 to get it.
function proc.sh(cmd)
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local ok, _, code = p:close()
   return ok == true, out, code
end
local sh = proc.sh

--- Like sh, but raises with the command and its output when it fails; returns stdout.
function proc.must(cmd)
   local ok, out, code = sh(cmd .. " 2>&1")
   if not ok then
      error(string.format("command failed (%s): %s\n%s", tostring(code), cmd, out), 2)
   end
   return out
end

--- The whole content of a file, or nil when it cannot be opened.
function proc.read_file(path)
   local f = io.open(path, "r")
   if not f then
      return nil
   end
   local s = f:read("a")
   f:close()
   return s
end

--- A new empty directory with an os.tmpname() path; returns the path. The caller removes it
-- (proc.sh("rm -rf " .. proc.quote(dir))).
function proc.tmpdir()
   local dir = os.tmpname()
   os.remove(dir)
   proc.must("mkdir -p " .. quote(dir))
   return dir
end

--- This process's pid (read by the Lua process itself, from /proc/self/stat).
proc.pid = cgroup.pid

--- The file descriptors this process has open: a sorted list of "fd -> target" strings (read
-- with lua-filesystem, which busted needs anyway: no shell, no pipe of its own in the list).
function proc.fds()
   local lfs = require "lfs"
   local out = {}
   for name in lfs.dir("/proc/self/fd") do
      if name:match("^%d+$") then
         local target = lfs.symlinkattributes("/proc/self/fd/" .. name, "target")
         if target then out[#out + 1] = name .. " -> " .. target end
      end
   end
   table.sort(out)
   return out
end

--- Call fn every 20 ms until it returns a true value (which is returned), at most secs
-- seconds (default 10); nil when time ran out.
function proc.wait_for(fn, secs)
   local deadline = socket.gettime() + (secs or 10)
   while socket.gettime() < deadline do
      local v = fn()
      if v then return v end
      socket.sleep(0.02)
   end
   return nil
end

--- Run sockhost's loop (sockhost.poll(20), the caller's sockhost module) until fn() returns a
-- true value (which is returned), at most secs seconds (default 2); nil when time ran out.
-- Errors the loop raises (a callback's) go to the caller.
function proc.poll_until(sockhost, fn, secs)
   local deadline = socket.gettime() + (secs or 2)
   repeat
      sockhost.poll(20)
      local v = fn()
      if v then return v end
   until socket.gettime() > deadline
   return nil
end

--- Number of possible CPUs (/sys/devices/system/cpu/possible): the per-CPU map width and the
-- bound of bpf_get_smp_processor_id().
function proc.possible_cpus()
   local s = assert(proc.read_file("/sys/devices/system/cpu/possible"))
   local n = 0
   for range in s:gmatch("[^,\n]+") do
      local a, b = range:match("^(%d+)%-(%d+)$")
      n = n + (a and (tonumber(b) - tonumber(a) + 1) or 1)
   end
   return n
end

--- The records of an NDJSON text (one JSON value a line, blank lines skipped), decoded, in
-- order; nil text gives none. Raises on a line that is not JSON, naming it.
function proc.records(text)
   local out = {}
   for line in (text or ""):gmatch("[^\n]+") do
      local v, err = cjson.decode(line)
      if v == nil then error(("not a JSON line: %s (%s)"):format(line, tostring(err)), 2) end
      out[#out + 1] = v
   end
   return out
end

--- How python3's json and jq read an NDJSON text: per record "key:type,..." in its key
-- order (python's type names: int, float, str, list, dict, bool, NoneType), and jq's
-- `keys_unsorted` of each. Raises when either cannot read a line.
function proc.json_shapes(text)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
   local ok, py = sh(("python3 -c %s < %s 2>&1"):format(quote([[
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(",".join("%s:%s" % (k, type(v).__name__) for k, v in r.items()))
]]), quote(path)))
   local ok2, jq = sh(("jq -c 'keys_unsorted' < %s 2>&1"):format(quote(path)))
   os.remove(path)
   assert(ok, "python3 could not read it: " .. py)
   assert(ok2, "jq could not read it: " .. jq)
   local shapes, keys = {}, {}
   for line in py:gmatch("[^\n]+") do shapes[#shapes + 1] = line end
   for line in jq:gmatch("[^\n]+") do keys[#keys + 1] = line end
   return shapes, keys
end

--- Start cmd in the background in a process group of its own (setsid sh -c 'cmd' &, output
-- to /dev/null unless cmd redirects it); returns its pid, which is also the group id, so kill
-- and wait_gone reach the children cmd starts too.
function proc.spawn(cmd)
   local ok, out = sh("setsid sh -c " .. quote(cmd) .. " </dev/null >/dev/null 2>&1 & echo $!")
   local pid = ok and math.tointeger(tonumber(out:match("%d+")))
   assert(pid, "spawn failed: " .. cmd)
   return pid
end

--- Send signal sig ("TERM", "SIGKILL", "INT", a number; default TERM) to the process group
-- of a spawned pid. Returns true when at least one process got it.
function proc.kill(pid, sig)
   local name = tostring(sig or "TERM"):gsub("^SIG", "")
   return (sh(string.format("kill -%s -%d 2>/dev/null", name, math.tointeger(pid))))
end

local function state(pid)
   local s = proc.read_file(string.format("/proc/%d/stat", pid))
   if not s then
      return nil
   end
   return s:match("^%d+ %b() (%a) %d+ (%d+)")
end

--- Is pid, or any process of its group, still running (zombies count as gone)?
function proc.alive(pid)
   pid = math.tointeger(pid)
   local st = state(pid)
   if st and st ~= "Z" then
      return true
   end
   local ok, out = sh("pgrep -g " .. pid)
   if not ok then
      return false
   end
   for p in out:gmatch("%d+") do
      local s, pgrp = state(math.tointeger(tonumber(p)))
      if s and s ~= "Z" and tonumber(pgrp) == pid then
         return true
      end
   end
   return false
end

--- Wait until pid and its group are gone, at most timeout seconds (default 5). Returns true
-- when they went.
function proc.wait_gone(pid, timeout)
   local deadline = socket.gettime() + (timeout or 5)
   while proc.alive(pid) do
      if socket.gettime() > deadline then
         return false
      end
      socket.sleep(0.02)
   end
   return true
end

--- Make sure a spawned pid (nil: none was spawned) and its group are gone, for cleanup after
-- a failed test: SIGKILL to the group when something still runs, then wait_gone (5 s).
-- Returns true when nothing of it is left.
function proc.reap(pid)
   if pid and proc.alive(pid) then
      proc.kill(pid, "KILL")
      return proc.wait_gone(pid, 5)
   end
   return true
end

return proc
