-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing: a kit for testing sockhost scripts and probes (busted or not) against
-- the running kernel, with scratch things that are always removed and an assertion that
-- nothing was left behind. The parts are modules of their own (sockhost.testing.proc,
-- .cgroup, .netns, .traffic, .packets, .leftovers); this table gathers them.
--
--   local testing = require "sockhost.testing"
--   local cg <close> = testing.cgroup("mine")        -- <cgroup2 root>/sockhost-spec-mine-<pid>-<n>
--   local link <close> = prog:attach(cg.path)
--   local r = cg.within(testing.tcp_exchange, { send = 1000, reply = 50 })
--   local ns <close> = testing.netns("mine")         -- a namespace, loopback up
--   local veth = ns.veth()                           -- host end here, peer in ns
--   assert(testing.ping(ns, veth.host_ip, 3) == 3)
--   ...
--   testing.assert_clean()                           -- after the guards closed
--
-- Names carry this process's pid; the first cgroup or namespace a process makes sweeps what
-- killed runs left. Pure Lua 5.4 + LuaSocket + lua-cjson; the kernel is reached through ip,
-- ping, bpftool and the cgroup files, never through sockhost.core.
local proc = require "sockhost.testing.proc"
local cgroup = require "sockhost.testing.cgroup"
local netns = require "sockhost.testing.netns"
local traffic = require "sockhost.testing.traffic"
local leftovers = require "sockhost.testing.leftovers"

local testing = {
   proc = proc,
   packets = require "sockhost.testing.packets",
   --- testing.cgroup(tag) -> guard {path, enter, leave, within, close} (cgroup.scratch)
   cgroup = cgroup.scratch,
   --- testing.netns(tag) -> guard {name, exec, veth, close} (netns.scratch)
   netns = netns.scratch,
   --- testing.veth(ns, opts) -> {host_if, ns_if, host_ip, ns_ip, ns} (netns.veth_pair)
   veth = netns.veth_pair,
   tcp_pair = traffic.tcp_pair,
   tcp_exchange = traffic.tcp_exchange,
   udp_send = traffic.udp_send,
   udp_sink = traffic.udp_sink,
   udp_from_ns = traffic.udp_from_ns,
   drain = traffic.drain,
   ping = traffic.ping,
   --- testing.wait_for(fn, secs) -> fn's first true value, or nil after secs (default 10)
   wait_for = proc.wait_for,
   --- testing.pin_path(tag) -> <bpffs>/sockhost-spec-<tag>-<pid>-<n>, checked by assert_clean
   pin_path = leftovers.pin_path,
   leftovers = leftovers.list,
   assert_clean = leftovers.assert_clean,
   sweep = leftovers.sweep,
}

return testing
