-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/testbed.lua: a veth pair into a network namespace of the spec's own, for
-- socket filters that watch an interface (the sockex specs), and the traffic they count:
-- ping and UDP sent from inside the namespace to the host end, and the sockex scripts run as
-- child processes. IPv6 is off on both ends, so the only IP packets on the pair are the
-- ones a spec sends (and what the kernel answers). Built on sockhost.testing (netns,
-- traffic) and helpers.proc.
local proc = require "helpers.proc"
local netns = require "sockhost.testing.netns"
local gen = require "sockhost.testing.traffic"
local socket = require "socket"

local testbed = {}

local quote, read_file = proc.quote, proc.read_file

--- Namespace + veth pair, IPv6 off on both ends. The /30 comes from this process's pid
-- (10.198.0.0/16), not from helpers.netns' per-process counter: two spec processes that
-- both used 10.199.1.0/30 would have two host routes for it, and replies could leave
-- through the other process's veth. Returns the pair ({host_if, ns_if, host_ip, ns_ip, ns}).
function testbed.create(tag)
   local ns = netns.create(tag)
   local x = proc.pid() % 16384
   local prefix = ("10.198.%d."):format(x // 64)
   local low = (x % 64) * 4
   local ok, bed = pcall(netns.veth_pair, ns, {
      host_addr = ("%s%d/30"):format(prefix, low + 1),
      ns_addr = ("%s%d/30"):format(prefix, low + 2),
   })
   if not ok then
      netns.delete(ns)
      error(bed, 0)
   end
   local sok, err = pcall(function()
      proc.must(("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1"):format(bed.host_if))
      proc.must(("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=1")
         :format(quote(ns), bed.ns_if))
   end)
   if not sok then
      testbed.remove(bed)
      error(err, 0)
   end
   return bed
end

--- Remove the pair and its namespace.
function testbed.remove(bed)
   netns.veth_delete(bed)
   netns.delete(bed.ns)
end

--- Frame sizes on the pair (Ethernet + IPv4 + ICMP/UDP header + payload).
function testbed.icmp_frame(size)
   return 14 + 20 + 8 + size
end

function testbed.udp_frame(size)
   return 14 + 20 + 8 + size
end

--- n ICMP echo requests of size payload bytes from the namespace to the host end; returns
-- when the n replies are back (raises otherwise). sockhost.testing.traffic.ping.
function testbed.ping(bed, n, size)
   local got = gen.ping(bed.ns, bed.host_ip, n, { size = size })
   if got ~= n then
      error(("ping from %s to %s: %d of %d replies"):format(bed.ns, bed.host_ip, got, n), 2)
   end
end

--- A UDP socket bound to the host end; returns it and its port.
function testbed.udp_sink(bed)
   return gen.udp_sink(bed.host_ip)
end

--- Receive from u until n datagrams came or nothing came for a second; returns the count.
function testbed.drain(u, n)
   return (gen.drain(u, n))
end

--- n UDP datagrams of size bytes from one socket inside the namespace to the host end's
-- port; returns the source port they were sent from.
function testbed.udp_from_ns(bed, port, n, size)
   return gen.udp_from_ns(bed.ns, bed.ns_ip, bed.host_ip, port, n, size)
end

--- Run scripts/<name>.lua --iface <bed.host_if> --json <extra> under $SOCKHOST_BIN, call
-- traffic() once it has attached, wait for it to end (extra should hold --duration).
-- Returns the NDJSON records it printed, decoded, and its stderr. command, when given, is
-- the shell text that starts the tool instead (an installed `sockhost <name>`, say).
function testbed.run_script(name, bed, extra, traffic, command)
   command = command or ("%s %s"):format(quote(proc.env("SOCKHOST_BIN")),
      quote(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name .. ".lua"))
   local out = os.tmpname()
   local err = out .. ".err"
   local pid = proc.spawn(("exec %s --iface %s --json %s >%s 2>%s"):format(command,
      bed.host_if, extra or "", out, err))
   local ok, res = pcall(function()
      local deadline = socket.gettime() + 10
      while not (read_file(err) or ""):find("counting", 1, true) do
         assert(proc.alive(pid), "script died: " .. tostring(read_file(err)))
         assert(socket.gettime() < deadline, "script never attached: " .. tostring(read_file(err)))
         socket.sleep(0.02)
      end
      traffic()
      assert(proc.wait_gone(pid, 15), "script did not stop")
      return { records = proc.records(read_file(out)), stderr = read_file(err) }
   end)
   if proc.alive(pid) then proc.kill(pid, "KILL") end
   os.remove(out)
   os.remove(err)
   if not ok then error(res, 0) end
   return res.records, res.stderr
end

return testbed
