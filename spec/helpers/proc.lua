-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/proc.lua: the specs' view of sockhost.testing.proc (shell commands, files,
-- processes, waiting, the pid and counter in scratch names: the one copy, in lua/), plus what
-- only the project's own specs need: ctest's environment, this process's fds, sockhost's loop
-- run until a condition, CPU count, and NDJSON output read back (lua-cjson, python3, jq).

local socket = require "socket"
local cjson = require "cjson.safe"
local lib = require "sockhost.testing.proc"

local proc = {}
for k, v in pairs(lib) do proc[k] = v end

local quote, sh = proc.quote, proc.sh

--- The value of environment variable name, which ctest sets for every spec (SOCKHOST_BIN,
-- SOCKHOST_BUILD_DIR, SOCKHOST_SOURCE_DIR: see SPEC_ENV in CMakeLists.txt); raises without it.
function proc.env(name)
   return (assert(os.getenv(name), ("run through ctest (%s)"):format(name)))
end

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

--- A TCP port on 127.0.0.1 below the ephemeral range (so no client of another spec holds it)
-- that nothing listens on now: for a connect() that must be refused, or a listener's port.
function proc.free_port()
   for _ = 1, 100 do
      local port = math.random(20000, 32000)
      local s = assert(socket.tcp4())
      local ok = s:bind("127.0.0.1", port)
      s:close()
      if ok then return port end
   end
   error("no free port between 20000 and 32000")
end

return proc
