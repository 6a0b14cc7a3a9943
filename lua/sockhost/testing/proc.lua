-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.proc: shell commands, files, processes and waiting for tests that run
-- things around sockhost: sh/must, spawn/kill/alive/wait_gone/reap (a spawned command is its
-- own process group), wait_for, and the pid and per-process counter that the names of every
-- scratch thing carry (sockhost-spec-<tag>-<pid>-<n>), so leftovers can be told apart and
-- swept. Pure Lua 5.4 + LuaSocket; shell commands through io.popen.
local socket = require "socket"
local cgroup = require "sockhost.cgroup"

local proc = {}

local counter = 0

--- A number unique within this process (1, 2, ...), for names the helpers make.
function proc.next_id()
   counter = counter + 1
   return counter
end

--- This process's pid (read by the Lua process itself, from /proc/self/stat).
proc.pid = cgroup.pid

--- The name of a scratch thing (cgroup, netns, pin): sockhost-spec-<tag>-<pid>-<n>.
function proc.name(tag)
   return string.format("sockhost-spec-%s-%d-%d", tag or "x", proc.pid(), proc.next_id())
end

--- The pid in a name made by proc.name, or nil when name is not one.
function proc.owner(name)
   return math.tointeger(tonumber(name:match("^sockhost%-spec%-.*%-(%d+)%-%d+$")))
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

--- Is there a live process pid (a zombie, killed but not reaped, is none)?
function proc.exists(pid)
   local s = proc.read_file(string.format("/proc/%d/stat", math.tointeger(pid)))
   return s ~= nil and s:match("^%d+ %b() (%a)") ~= "Z"
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
