-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.leftovers: what a test made and left behind. Scratch cgroups, network
-- namespaces and pins carry this process's pid in their names (proc.name), so a look at the
-- cgroup2 root, `ip netns list` and the bpffs mounts finds every one still there, and the BPF
-- programs still attached to such a cgroup (by link or not) come from `bpftool cgroup show`.
-- (A link on a cgroup already removed is not looked for: the kernel detaches it on its own,
-- a moment after the rmdir, so the answer would depend on when one asked.)
-- assert_clean() raises with one line per leftover; sweep() removes what dead pids left.
local cjson = require "cjson.safe"
local lib = require "sockhost.cgroup"
local proc = require "sockhost.testing.proc"

local leftovers = {}

local quote, sh = proc.quote, proc.sh

local pins = {} -- paths handed out by pin_path

local function bpffs_mounts()
   local dirs = {}
   for line in io.lines("/proc/mounts") do
      local dir, fstype = line:match("^%S+ (%S+) (%S+)")
      if fstype == "bpf" then dirs[#dirs + 1] = dir end
   end
   return dirs
end

--- A path for a pin of this test's own: <bpffs>/sockhost-spec-<tag>-<pid>-<n> (the first
-- bpffs in /proc/mounts, /sys/fs/bpf when none is mounted yet: sockhost mounts it there).
function leftovers.pin_path(tag)
   local path = (bpffs_mounts()[1] or "/sys/fs/bpf") .. "/" .. proc.name(tag)
   pins[path] = true
   return path
end

local function entries(dir)
   local list = {}
   local ok, out = sh("ls -1 -- " .. quote(dir) .. " 2>/dev/null")
   if ok then
      for name in out:gmatch("[^\n]+") do list[#list + 1] = name end
   end
   return list
end

local function exists(path)
   return (sh("test -e " .. quote(path)))
end

local function bpftool(args)
   local ok, out = sh("bpftool -j " .. args .. " 2>/dev/null")
   if not ok or out:match("^%s*$") then return {} end
   return cjson.decode(out) or {}
end

--- Names of the network namespaces `ip netns list` shows.
function leftovers.netns_names()
   local names = {}
   local _, out = sh("ip netns list 2>/dev/null")
   for name in out:gmatch("([^%s]+)[^\n]*\n?") do names[#names + 1] = name end
   return names
end

local function mine(name, pid)
   return proc.owner(name) == pid
end

--- What this process made and left behind, one line each, in a fixed order (cgroups, each
-- followed by the programs attached to it, then namespaces, then pins); {} if none.
function leftovers.list()
   local pid, out = proc.pid(), {}
   local root = lib.root()
   local cgroups = {}
   for _, name in ipairs(root and entries(root) or {}) do
      if mine(name, pid) then cgroups[#cgroups + 1] = root .. "/" .. name end
   end
   table.sort(cgroups)
   for _, path in ipairs(cgroups) do
      out[#out + 1] = ("cgroup %s is still there"):format(path)
      for _, e in ipairs(bpftool("cgroup show " .. quote(path))) do
         out[#out + 1] = ("cgroup %s: program %d '%s' (%s) attached"):format(path,
            math.tointeger(e.id), tostring(e.name), tostring(e.attach_type))
      end
   end
   local names = {}
   for _, name in ipairs(leftovers.netns_names()) do
      if mine(name, pid) then names[#names + 1] = name end
   end
   table.sort(names)
   for _, name in ipairs(names) do
      out[#out + 1] = ("netns %s is still there"):format(name)
   end
   local found = {}
   for _, dir in ipairs(bpffs_mounts()) do
      for _, name in ipairs(entries(dir)) do
         if mine(name, pid) then found[dir .. "/" .. name] = true end
      end
   end
   for path in pairs(pins) do
      if exists(path) then found[path] = true end
   end
   local paths = {}
   for path in pairs(found) do paths[#paths + 1] = path end
   table.sort(paths)
   for _, path in ipairs(paths) do
      out[#out + 1] = ("pin %s is still there"):format(path)
   end
   return out
end

--- Raise "left behind by this test:\n  <line>\n  ..." (leftovers.list) when anything is.
function leftovers.assert_clean()
   local list = leftovers.list()
   if #list > 0 then
      error("left behind by this test:\n  " .. table.concat(list, "\n  "), 2)
   end
end

local function dead(name)
   local pid = proc.owner(name)
   return pid ~= nil and pid ~= proc.pid() and not proc.exists(pid)
end

--- Remove the scratch things of pids that are no process any more (a SIGKILLed test run):
-- cgroups that hold no tasks and have no BPF program attached, namespaces no process is in,
-- pins. Returns the list of what
-- went ("cgroup <path>", "netns <name>", "pin <path>"). Never touches a live pid's.
function leftovers.sweep()
   local removed = {}
   local root = lib.root()
   for _, name in ipairs(root and entries(root) or {}) do
      local path = root .. "/" .. name
      -- a cgroup with a program on it is someone's still (a pin holds the link, or the pid
      -- is alive in another pid namespace): kept
      if dead(name) and proc.read_file(path .. "/cgroup.procs") == ""
         and #bpftool("cgroup show " .. quote(path)) == 0 and lib.remove(path) then
         removed[#removed + 1] = "cgroup " .. path
      end
   end
   for _, name in ipairs(leftovers.netns_names()) do
      if dead(name) then
         local ok, pids = sh("ip netns pids " .. quote(name) .. " 2>/dev/null")
         if ok and pids == "" and sh("ip netns delete " .. quote(name) .. " 2>/dev/null") then
            removed[#removed + 1] = "netns " .. name
         end
      end
   end
   for _, dir in ipairs(bpffs_mounts()) do
      for _, name in ipairs(entries(dir)) do
         if dead(name) and os.remove(dir .. "/" .. name) then
            removed[#removed + 1] = "pin " .. dir .. "/" .. name
         end
      end
   end
   return removed
end

return leftovers
