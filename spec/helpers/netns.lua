-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/netns.lua: network namespaces of the spec's own, sockhost-spec-<tag>-<pid>-<n>
-- with their loopback up, and veth pairs into them (one end here, the peer there), through
-- ip(8). The spec deletes what it made in finally/teardown.

local proc = require "helpers.proc"

local netns = {}

local quote, sh, must = proc.quote, proc.sh, proc.must

--- Create a network namespace sockhost-spec-<tag>-<pid>-<n> with its loopback up; returns
-- its name.
function netns.create(tag)
   local name = string.format("sockhost-spec-%s-%d-%d", tag or "x", proc.pid(), proc.next_id())
   must("ip netns add " .. quote(name))
   must("ip -n " .. quote(name) .. " link set lo up")
   return name
end

--- Delete a namespace made by netns.create (its interfaces go with it).
function netns.delete(name)
   if not name:find("^sockhost%-spec%-") then
      error("refusing to delete a namespace not made by netns.create: " .. name, 2)
   end
   return sh("ip netns delete " .. quote(name) .. " 2>&1")
end

--- Run a shell command inside namespace name; returns ok, stdout, code as proc.sh does.
function netns.exec(name, cmd)
   return sh("ip netns exec " .. quote(name) .. " sh -c " .. quote(cmd))
end

--- A veth pair with one end in this namespace and its peer in namespace ns, both up and
-- addressed (opts.host_addr / opts.ns_addr in CIDR form; default a 10.199.x.y/30 from pid,
-- used only between these two ends). Returns {host_if=, ns_if=, host_ip=, ns_ip=, ns=};
-- remove it with veth_delete.
function netns.veth_pair(ns, opts)
   opts = opts or {}
   local n = proc.next_id()
   local tag = string.format("%d%d", proc.pid() % 100000, n % 100)
   local host_if, ns_if = "shh" .. tag, "shp" .. tag -- at most 10 of IFNAMSIZ's 15
   -- a /30 derived from pid and counter, so concurrent spec processes never share a subnet
   local slot = (proc.pid() * 7 + n) % 16384
   local base = string.format("10.199.%d.%d", slot // 64, (slot % 64) * 4)
   local host_addr = opts.host_addr or base:gsub("%d+$", function(x) return tostring(x + 1) end) .. "/30"
   local ns_addr = opts.ns_addr or base:gsub("%d+$", function(x) return tostring(x + 2) end) .. "/30"
   must(string.format("ip link add %s type veth peer name %s", host_if, ns_if))
   local ok, err = pcall(function()
      must(string.format("ip link set %s netns %s", ns_if, quote(ns)))
      must(string.format("ip addr add %s dev %s", host_addr, host_if))
      must(string.format("ip link set %s up", host_if))
      must(string.format("ip -n %s addr add %s dev %s", quote(ns), ns_addr, ns_if))
      must(string.format("ip -n %s link set %s up", quote(ns), ns_if))
   end)
   if not ok then
      sh("ip link delete " .. host_if .. " 2>/dev/null")
      error(err, 0)
   end
   return {
      host_if = host_if,
      ns_if = ns_if,
      host_ip = host_addr:match("^[^/]+"),
      ns_ip = ns_addr:match("^[^/]+"),
      ns = ns,
   }
end

--- Delete a pair made by veth_pair (deleting one end removes both).
function netns.veth_delete(pair)
   return sh("ip link delete " .. quote(pair.host_if) .. " 2>&1")
end

return netns
