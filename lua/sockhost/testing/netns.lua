-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.netns: network namespaces of a test's own, sockhost-spec-<tag>-<pid>-<n>
-- with their loopback up, and veth pairs into them (one end here, the peer there), through
-- ip(8). scratch() gives a guard that deletes the namespace, and with it every veth pair into
-- it (deleting one end of a pair deletes both), when it is closed or collected. The first
-- namespace a process makes sweeps the ones dead pids left (leftovers.sweep).
local proc = require "sockhost.testing.proc"
local leftovers = require "sockhost.testing.leftovers"

local netns = {}

local quote, sh, must = proc.quote, proc.sh, proc.must

local swept = false

--- Create a network namespace sockhost-spec-<tag>-<pid>-<n> with its loopback up; returns
-- its name.
function netns.create(tag)
   if not swept then
      swept = true
      leftovers.sweep()
   end
   local name = proc.name(tag)
   must("ip netns add " .. quote(name))
   local ok, err = pcall(must, "ip -n " .. quote(name) .. " link set lo up")
   if not ok then
      sh("ip netns delete " .. quote(name) .. " 2>&1")
      error(err, 0)
   end
   return name
end

--- Delete a namespace made by netns.create (its interfaces go with it). Returns ok, output.
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

--- A veth pair with one end in this namespace and its peer in namespace ns (a name or a
-- scratch guard), both up and addressed (opts.host_addr / opts.ns_addr in CIDR form; default
-- a 10.199.x.y/30 from pid and counter, used only between these two ends). Returns {host_if=,
-- ns_if=, host_ip=, ns_ip=, ns=}; it goes with the namespace, or with veth_delete.
function netns.veth_pair(ns, opts)
   ns = type(ns) == "table" and ns.name or ns
   opts = opts or {}
   local n = proc.next_id()
   local tag = string.format("%d%d", proc.pid() % 100000, n % 100)
   local host_if, ns_if = "shh" .. tag, "shp" .. tag -- at most 10 of IFNAMSIZ's 15
   -- a /30 derived from pid and counter, so concurrent test processes never share a subnet
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

--- netns.scratch(tag) -> guard, a new namespace (netns.create) as a to-be-closed value:
-- guard.name; guard.exec(cmd) (netns.exec); guard.veth(opts) (netns.veth_pair into it);
-- guard:close(). Closing or collecting it deletes guard.veth's pairs and the namespace; a failure
-- then is said on stderr (and assert_clean finds the namespace).
function netns.scratch(tag)
   local guard = { name = netns.create(tag) }
   local done, pairs_made = false, {}
   local function finish()
      if done then return end
      done = true
      -- the kernel tears a deleted namespace down later, in a work queue: its veth pairs
      -- would outlive the close for a moment, so they are deleted here first, at once
      for _, pair in ipairs(pairs_made) do netns.veth_delete(pair) end
      local ok, out = netns.delete(guard.name)
      if not ok then
         io.stderr:write(("sockhost.testing: cannot delete netns %s: %s"):format(guard.name, out))
      end
   end
   function guard.exec(cmd) return netns.exec(guard.name, cmd) end
   function guard.veth(opts)
      local pair = netns.veth_pair(guard.name, opts)
      pairs_made[#pairs_made + 1] = pair
      return pair
   end
   guard.close = finish
   return setmetatable(guard, { __close = finish, __gc = finish })
end

return netns
