-- SPDX-License-Identifier: GPL-2.0
--- sockhost.demo: what a script's --demo needs to show real traffic on a fresh machine
-- without touching anyone else's: a temporary child cgroup under the cgroup2 root that the
-- process can step into while it opens its own sockets (a socket belongs to the cgroup its
-- creator was in), and that is removed again however the script ends.
local core = require "sockhost.core"

local demo = {}

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
   local cok, cerr = f:close() -- a refused cgroup move shows up here, at the flush
   if not ok then return nil, werr end
   if not cok then return nil, ("%s: %s"):format(path, cerr) end
   return true
end

--- The cgroup v2 directory this process is in now ("0::/path" in /proc/self/cgroup).
function demo.current_cgroup()
   local root = core.cgroup2_root()
   local text = assert(read_file("/proc/self/cgroup"))
   for line in text:gmatch("[^\n]+") do
      local rel = line:match("^0::(/.*)$")
      if rel then return rel == "/" and root or root .. rel end
   end
   error("no cgroup v2 entry in /proc/self/cgroup", 0)
end

--- demo.cgroup(tag) -> guard: makes <cgroup2 root>/sockhost-<tag>-<pid>. guard.path is its
-- path; guard.enter() moves this process in, guard.leave() back to where it was. Use it as a
-- to-be-closed variable: closing leaves and removes the directory whatever happened.
function demo.cgroup(tag)
   local pid = tostring(core.pid())
   local path = ("%s/sockhost-%s-%s"):format(core.cgroup2_root(), tag, pid)
   local home = demo.current_cgroup()
   -- plain Lua has no mkdir; the shell's runs and exits before anything moves
   if not os.execute("mkdir -- '" .. path:gsub("'", "'\\''") .. "'") then
      error(("cannot create demo cgroup %s"):format(path), 0)
   end
   local guard = { path = path, home = home, inside = false }
   function guard.enter()
      assert(write_file(path .. "/cgroup.procs", pid))
      guard.inside = true
   end
   function guard.leave()
      if guard.inside then
         local ok, err = write_file(home .. "/cgroup.procs", pid)
         if not ok then
            io.stderr:write(("sockhost demo: cannot move back to %s: %s\n"):format(home, err))
         end
         guard.inside = not ok
      end
   end
   --- Run fn inside the cgroup and step out again, also when fn raises.
   function guard.within(fn, ...)
      guard.enter()
      local res = table.pack(pcall(fn, ...))
      guard.leave()
      if not res[1] then error(res[2], 0) end
      return table.unpack(res, 2, res.n)
   end
   return setmetatable(guard, {
      __close = function()
         guard.leave()
         -- os.remove is C remove(), which rmdirs a directory; it must hold no tasks
         local ok, err = os.remove(path)
         if not ok then
            io.stderr:write(("sockhost demo: cannot remove %s: %s\n"):format(path, err))
         end
      end,
   })
end

return demo
