-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/bpftool.lua: bpftool's view of what is loaded and attached, as an independent
-- check of what sockhost says (bpftool -j, decoded with lua-cjson).

local cjson = require "cjson.safe"
local proc = require "helpers.proc"

local bpftool = {}

local quote, sh = proc.quote, proc.sh

local function json(args)
   local ok, out = sh("bpftool -j " .. args .. " 2>/dev/null")
   if not ok then
      return nil, "bpftool " .. args .. " failed"
   end
   if out:match("^%s*$") then
      return {} -- bpftool prints nothing when nothing is attached
   end
   local v, err = cjson.decode(out)
   if v == nil then
      return nil, "bpftool " .. args .. ": bad JSON: " .. tostring(err)
   end
   return v
end

--- Sorted ids of the programs attached directly to the cgroup at path (bpftool -j cgroup
-- show), and bpftool's entries ({id=, attach_type=, name=, ...}) as second result.
function bpftool.prog_ids_attached_to_cgroup(path)
   local entries = assert(json("cgroup show " .. quote(path)))
   local ids = {}
   for _, e in ipairs(entries) do
      ids[#ids + 1] = math.tointeger(e.id)
   end
   table.sort(ids)
   return ids, entries
end

--- Does a BPF program with this id exist (bpftool prog show id)?
function bpftool.prog_exists(id)
   return (sh("bpftool prog show id " .. id .. " >/dev/null 2>&1"))
end

--- Number of BPF links (bpftool -j link show) whose program is named name (kernel program
-- names are cut at 15 characters; name is cut the same way).
function bpftool.link_count_for_prog_name(name)
   local short = name:sub(1, 15)
   local progs = assert(json("prog show"))
   local ids = {}
   for _, p in ipairs(progs) do
      if p.name == short then
         ids[p.id] = true
      end
   end
   local links = assert(json("link show"))
   local n = 0
   for _, l in ipairs(links) do
      if ids[l.prog_id] then
         n = n + 1
      end
   end
   return n
end

return bpftool
