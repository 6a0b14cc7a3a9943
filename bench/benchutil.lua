-- SPDX-License-Identifier: GPL-2.0
--- bench/benchutil.lua: what the bench drivers (bench/*.lua) share: shell commands, files,
-- the median they report, and where the build put the bench's objects and tools. A driver
-- finds it next to itself:
--
--   package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
--   local util = require "benchutil"
--
-- Pure Lua 5.4 (+ sockhost for build_dir's default, sockhost.testing.proc for sh and quote);
-- nothing from the specs.
local proc = require "sockhost.testing.proc"

local util = {}

--- Quote s for /bin/sh (sockhost.testing.proc.quote).
util.quote = proc.quote

--- Run a shell command: ok (exit status 0), its stdout, and the exit code. stderr is not
-- captured (append 2>&1 to get it). (sockhost.testing.proc.sh)
util.sh = proc.sh

--- The stdout of a shell command, whatever its exit status.
function util.output(cmd)
   return (select(2, util.sh(cmd)))
end

--- Like sh, but raises with the command and its output (stderr included) when it fails.
function util.must(cmd)
   local ok, out = util.sh(cmd .. " 2>&1")
   if not ok then error(("command failed: %s\n%s"):format(cmd, out), 0) end
   return out
end

--- The whole content of a file, or nil when it cannot be opened.
function util.read_file(path)
   local f = io.open(path, "r")
   if not f then return nil end
   local s = f:read("a")
   f:close()
   return s
end

function util.exists(path)
   local f = io.open(path, "r")
   if f then f:close() end
   return f ~= nil
end

function util.sleep(s)
   os.execute(("sleep %.3f"):format(s))
end

--- The median of the numbers in xs (sorts xs).
function util.median(xs)
   table.sort(xs)
   local n = #xs
   if n % 2 == 1 then return xs[(n + 1) // 2] end
   return (xs[n // 2] + xs[n // 2 + 1]) / 2
end

--- The build directory: $SOCKHOST_BUILD_DIR, else the one whose bpf/ the running sockhost
-- loads its built-in objects from. Its bench/ holds the bench objects and C tools.
function util.build_dir()
   local env = os.getenv("SOCKHOST_BUILD_DIR")
   if env then return env end
   return (require("sockhost").bpf_dir():gsub("/bpf$", ""))
end

return util
