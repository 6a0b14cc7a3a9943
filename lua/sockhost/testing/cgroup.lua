-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.cgroup: a test's own cgroups, <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>,
-- on top of sockhost.cgroup (the one implementation of making, joining and removing a
-- scratch cgroup). scratch() gives a guard that removes the cgroup when it is closed or
-- collected; new()/remove() are the plain pair. The first cgroup a process makes sweeps the
-- ones dead pids left (leftovers.sweep). Nothing here touches the root cgroup except moving
-- this process back to where it came from.
local lib = require "sockhost.cgroup"
local proc = require "sockhost.testing.proc"
local leftovers = require "sockhost.testing.leftovers"

local cgroup = {}

--- Mount point of the cgroup2 hierarchy, from /proc/mounts (nil when none is mounted).
cgroup.root = lib.root

--- Path of the cgroup2 directory this process is in now.
cgroup.current = lib.current

--- Run fn() with this process inside the cgroup at path, then move it back to the cgroup it
-- was in, also when fn raises (the error is re-raised). Returns fn's results.
cgroup.within = lib.within

local swept = false
local function sweep_once()
   if not swept then
      swept = true
      leftovers.sweep()
   end
end

--- Make an empty child cgroup <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>; returns its path.
function cgroup.new(tag)
   sweep_once()
   return lib.create(proc.name(tag))
end

--- Remove a cgroup made by cgroup.new (rmdir only: kills nothing, moves nothing; move your
-- processes out first, e.g. by leaving within). Returns true, or nil and the error text.
function cgroup.remove(path)
   if not path:find("/sockhost%-spec%-[^/]+$") then
      error("refusing to remove a cgroup not made by cgroup.new: " .. path, 2)
   end
   return lib.remove(path)
end

--- cgroup.scratch(tag) -> guard, a new cgroup (cgroup.new's name) as a to-be-closed value:
-- guard.path; guard.enter() / guard.leave() move this process in and back; guard.within(fn,
-- ...) runs fn inside; guard:close(). Closing or collecting it steps out and removes the
-- directory whatever happened; what fails then is said on stderr (and assert_clean finds it).
function cgroup.scratch(tag)
   sweep_once()
   local guard = lib.scratch(proc.name(tag), function(msg)
      io.stderr:write(("sockhost.testing: %s\n"):format(msg))
   end)
   guard.close = getmetatable(guard).__close
   return guard
end

return cgroup
