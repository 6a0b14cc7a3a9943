-- SPDX-License-Identifier: GPL-2.0
--- sockhost.cgroup: scratch cgroups under the cgroup2 mount, the one implementation of
-- "create a child cgroup, step this process in and out of it, remove it" that --demo
-- (sockhost.demo), the specs' helpers and the benchmarks share. A socket belongs to the cgroup
-- its creator was in when it was made, so a process steps in only while it opens sockets.
--
--   local cgroup = require "sockhost.cgroup"
--   local path = cgroup.create("sockhost-x-" .. cgroup.pid())   -- under cgroup.root()
--   cgroup.within(path, function() ... end)                     -- in, fn, back out
--   cgroup.remove(path)
--
-- Pure Lua 5.4 on /proc and the cgroup files (mkdir through the shell, as plain Lua has
-- none); no sockhost.core, so it loads anywhere. Nothing here writes to the root cgroup except
-- moving this process back to where it came from.
local cgroup = {}

local function read_file(path)
   local f, err = io.open(path, "r")
   if not f then return nil, err end
   local s = f:read("a")
   f:close()
   return s
end

local function write_file(path, data)
   local f, err = io.open(path, "w")
   if not f then return nil, err end
   local ok, werr = f:write(data)
   local cok, cerr = f:close() -- a refused cgroup move (EBUSY, EINVAL) shows up at the flush
   if not ok then return nil, werr end
   if not cok then return nil, ("%s: %s"):format(path, cerr) end
   return true
end

-- Unescape a /proc/mounts field (\040 for space and the like).
local function unoctal(s)
   return (s:gsub("\\(%d%d%d)", function(o) return string.char(tonumber(o, 8)) end))
end

--- This process's pid (the first field of /proc/self/stat).
function cgroup.pid()
   return math.tointeger(assert(read_file("/proc/self/stat")):match("^(%d+)"))
end

--- Mount point of the cgroup2 hierarchy, from /proc/mounts; nil when none is mounted.
function cgroup.root()
   for line in io.lines("/proc/mounts") do
      local dir, fstype = line:match("^%S+ (%S+) (%S+)")
      if fstype == "cgroup2" then return unoctal(dir) end
   end
   return nil
end

local function must_root()
   return cgroup.root() or error("no cgroup2 mount in /proc/mounts", 0)
end

--- Path of the cgroup2 directory this process is in now ("0::/path" in /proc/self/cgroup).
function cgroup.current()
   local root = must_root()
   local text = assert(read_file("/proc/self/cgroup"))
   for line in text:gmatch("[^\n]+") do
      local rel = line:match("^0::(/.*)$")
      if rel then return rel == "/" and root or root .. rel end
   end
   error("no cgroup v2 entry in /proc/self/cgroup", 0)
end

--- cgroup.create(name) -> path: makes the empty child cgroup <root>/<name> (name is one path
-- component); raises when it cannot.
function cgroup.create(name)
   if name:find("/", 1, true) or name == "" or name == "." or name == ".." then
      error(("not a cgroup name: '%s'"):format(name), 2)
   end
   local path = must_root() .. "/" .. name
   -- the shell's mkdir runs and exits before anything moves
   local ok = os.execute("mkdir -- '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
   if not ok then error(("cannot create cgroup %s"):format(path), 0) end
   return path
end

--- cgroup.remove(path) -> true, or nil and the error: rmdir only (it kills nothing, moves
-- nothing: the cgroup must hold no tasks). os.remove is C remove(), which rmdirs a directory.
function cgroup.remove(path)
   return os.remove(path)
end

--- cgroup.join(path [, pid]) -> true, or nil and the error: moves pid (default this process)
-- into the cgroup at path.
function cgroup.join(path, pid)
   return write_file(path .. "/cgroup.procs", tostring(pid or cgroup.pid()))
end

--- cgroup.within(path, fn, ...) -> fn's results: runs fn with this process inside the cgroup
-- at path, then moves it back to the cgroup it was in, also when fn raises (the error is
-- raised again). Raises when it cannot move in or back.
function cgroup.within(path, fn, ...)
   local home = cgroup.current()
   assert(cgroup.join(path))
   local res = table.pack(pcall(fn, ...))
   local ok, err = cgroup.join(home)
   if not res[1] then error(res[2], 0) end
   if not ok then error(("cannot move back to %s: %s"):format(home, tostring(err)), 0) end
   return table.unpack(res, 2, res.n)
end

--- cgroup.scratch(name [, warn]) -> guard: creates <root>/<name> (cgroup.create). guard.path
-- is its path; guard.enter() moves this process in, guard.leave() back to where it was,
-- guard.within(fn, ...) runs fn inside and steps out again also when fn raises. Use it as a
-- to-be-closed variable: closing leaves and removes the directory whatever happened. A failure
-- to step out or to remove is not raised but given to warn(message) (default: raise).
function cgroup.scratch(name, warn)
   warn = warn or function(msg) error(msg, 0) end
   local guard = { inside = false }
   local done = false
   -- Closing it (the caller's <close>), collecting it (a signal that landed before the caller
   -- could take it: the state is closed on the way out) or an error inside this function all
   -- come here; only the first does anything.
   local function finish()
      if done or not guard.path then return end
      done = true
      guard.leave()
      local ok, err = cgroup.remove(guard.path)
      if not ok then warn(("cannot remove %s: %s"):format(guard.path, err)) end
   end
   setmetatable(guard, { __close = finish, __gc = finish })
   -- luacheck: push no unused (a to-be-closed handle: held for its scope, not read)
   local on_error <close> = setmetatable({}, {
      __close = function(_, err) if err ~= nil then finish() end end,
   })
   -- luacheck: pop
   local home = cgroup.current()
   guard.home = home
   guard.path = cgroup.create(name)
   function guard.enter()
      -- marked first: a signal between the move and the mark must still move us back
      guard.inside = true
      assert(cgroup.join(guard.path))
   end
   function guard.leave()
      if guard.inside then
         local ok, err = cgroup.join(home)
         guard.inside = not ok
         if not ok then warn(("cannot move back to %s: %s"):format(home, err)) end
      end
   end
   function guard.within(fn, ...)
      guard.enter()
      local res = table.pack(pcall(fn, ...))
      guard.leave()
      if not res[1] then error(res[2], 0) end
      return table.unpack(res, 2, res.n)
   end
   return guard
end

--- cgroup.sweep(prefix) -> names removed: removes <root>/<prefix><pid> directories whose pid
-- is no process any more and that hold no tasks (what a SIGKILLed run of this very naming
-- leaves behind). Never touches a cgroup of a live pid or one with tasks in it.
function cgroup.sweep(prefix)
   local root = cgroup.root()
   local removed = {}
   if not root then return removed end
   local p = io.popen("ls -1 -- '" .. root:gsub("'", "'\\''") .. "' 2>/dev/null")
   for entry in p:lines() do
      local pid = entry:sub(1, #prefix) == prefix and entry:sub(#prefix + 1):match("^(%d+)$")
      local path = root .. "/" .. entry
      -- a zombie (state Z: killed, not yet reaped) is no process any more
      local stat = pid and read_file("/proc/" .. pid .. "/stat")
      local alive = stat and stat:match("^%d+ %b() (%a)") ~= "Z"
      if pid and not alive and read_file(path .. "/cgroup.procs") == "" and cgroup.remove(path) then
         removed[#removed + 1] = entry
      end
   end
   p:close()
   return removed
end

return cgroup
