-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/cgroup.lua: the specs' own cgroups, <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>,
-- on top of the library's sockhost.cgroup (the one implementation of making, joining and
-- removing a scratch cgroup). The spec removes what it made in finally/teardown; nothing
-- here touches the root cgroup except moving this process back to where it came from.

local lib = require "sockhost.cgroup"
local proc = require "helpers.proc"

local cgroup = {}

--- Mount point of the cgroup2 hierarchy, from /proc/mounts (nil when none is mounted).
cgroup.root = lib.root

--- Path of the cgroup2 directory this process is in now.
cgroup.current = lib.current

--- Run fn() with this process inside the cgroup at path, then move it back to the cgroup it
-- was in, also when fn raises (the error is re-raised). Returns fn's results.
cgroup.within = lib.within

--- Make an empty child cgroup <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>; returns its path.
function cgroup.new(tag)
   return lib.create(string.format("sockhost-spec-%s-%d-%d", tag or "x", proc.pid(),
      proc.next_id()))
end

--- Remove a cgroup made by cgroup.new (rmdir only: kills nothing, moves nothing; move your
-- processes out first, e.g. by leaving within). Returns true, or nil and the error text.
function cgroup.remove(path)
   if not path:find("/sockhost%-spec%-[^/]+$") then
      error("refusing to remove a cgroup not made by cgroup.new: " .. path, 2)
   end
   return lib.remove(path)
end

return cgroup
