#!/usr/bin/env sockhost
-- SPDX-License-Identifier: GPL-2.0
--
-- hello-sockops: print every sock_ops callback (TCP connect, established, listen, state
-- changes ...) of the sockets in a cgroup, like aya's hello-sockops sample.
--
--   sockhost scripts/hello-sockops.lua --demo           one loopback connection, its callbacks
--   sockhost scripts/hello-sockops.lua --duration 10    everything on the machine for 10 s
--   sockhost scripts/hello-sockops.lua --json | jq .    NDJSON, one object per callback
--
-- Kernel side: bpf/hello-sockops.bpf.c (struct hello_event in bpf/hello-sockops.h).

local sockhost = require "sockhost"
local net = require "sockhost.net"
local cli = require "sockhost.cli"
local argparse = require "argparse"

-- --metrics families: the PERCPU_ARRAY `callbacks` (layout in bpf/hello-sockops.h: index
-- family slot * OPS + op), read at each scrape; ops that have not been seen are left out.
local OPS = 64
local SLOT_FAMILY = { [0] = "inet", [1] = "inet6", [2] = "other" }

local function callback_labels(i)
   local op = i % OPS
   return op == OPS - 1 and "other" or net.sockops_op_name(op) or tostring(op),
      SLOT_FAMILY[i // OPS]
end

local METRICS = {
   { name = "sockhost_hello_sockops_callbacks_total", type = "counter", map = "callbacks",
     labels = callback_labels, label_names = { "op", "family" },
     value = function(n) return n > 0 and n or nil end,
     help = "sock_ops callbacks of the cgroup's sockets, by op (as in the output: "
        .. "tcp_connect_cb, state_cb ...) and family (inet, inet6), counted in the kernel: "
        .. "the lines printed plus the records lost." },
}

local function parse_args()
   local parser = argparse("sockhost hello-sockops",
      "Print one line per TCP sock_ops callback of the sockets in a cgroup v2.",
      "Lines read 'PID <pid> | from <local ip>:<port> | op <callback> | to <peer> ...'.\n"
      .. "PID is the task current when the callback ran: exact for connect/listen, but for "
      .. "callbacks run from softirq (passive open, most state changes) it is whichever task "
      .. "the CPU was in. Stop with Ctrl-C; a summary goes to stderr.")
   cli.common(parser, {
      cgroup = { demo = "the demo's own cgroup" },
      duration = { demo = 1 },
      json = { help = "One JSON object per callback (NDJSON) instead of text: "
         .. "type (\"sockops\"), ts (wall-clock seconds, microseconds), pid, op (callback "
         .. "name, e.g. \"active_established_cb\"), family (\"inet\"/\"inet6\"), laddr, lport, "
         .. "raddr, rport, state (TCP state name); old_state and new_state on state_cb." },
      metrics = METRICS,
   })
   parser:flag("--demo", "Make a loopback TCP connection (IPv4, and IPv6 when ::1 exists) "
      .. "from a temporary cgroup sockhost-demo-<pid> under the cgroup2 root, which is "
      .. "removed again at exit.")
   return parser:parse(arg)
end

-- Formatting ------------------------------------------------------------------------------

-- Address fields may come as strings or as sequences of byte integers, depending on how the
-- codec treats __u8 arrays; net.ntop takes both, and so does this.
local function is_zero(bytes)
   if type(bytes) == "string" then return not bytes:find("[^\0]") end
   for _, b in ipairs(bytes) do
      if b ~= 0 then return false end
   end
   return true
end

local function text_line(e)
   local parts = {
      ("PID %d | from %s | op %s"):format(e.pid, net.endpoint(e.laddr, e.family, e.lport),
         net.sockops_op_name(e.op) or tostring(e.op)),
   }
   if e.rport ~= 0 or not is_zero(e.raddr) then
      parts[#parts + 1] = "to " .. net.endpoint(e.raddr, e.family, e.rport)
   end
   if e.op == 10 and e.args then -- BPF_SOCK_OPS_STATE_CB: args are old and new state
      parts[#parts + 1] = ("state %s -> %s"):format(net.tcp_state_name(e.args[1]) or e.args[1],
         net.tcp_state_name(e.args[2]) or e.args[2])
   elseif e.state then
      parts[#parts + 1] = "state " .. (net.tcp_state_name(e.state) or tostring(e.state))
   end
   return table.concat(parts, " | ")
end

-- --json: lines encoded in C from the record (opts.ndjson), the keys in this order
-- (documented in --help; checked by spec/tools/outputs_spec.lua).
local function names(fn, lo, hi)
   local t = {}
   for i = lo, hi do t[i] = fn(i) end
   return t
end

local function json_spec(out)
   local tcp = names(net.tcp_state_name, 1, 13)
   return {
      out = out, type = "sockops", ts = "now",
      fields = {
         "pid",
         { "op", names = names(net.sockops_op_name, 0, 31) },
         { "family", names = { [2] = "inet", [10] = "inet6" } },
         { "laddr", addr = "family" }, "lport",
         { "raddr", addr = "family" }, "rport",
         { "state", names = tcp },
         -- BPF_SOCK_OPS_STATE_CB (10): args are the old and the new state
         { "old_state", from = "args[0]", names = tcp, when = { "op", 10 } },
         { "new_state", from = "args[1]", names = tcp, when = { "op", 10 } },
      },
   }
end

-- The demo ------------------------------------------------------------------------------

-- One TCP connection over loopback with a line each way, all in this process. False when
-- the address cannot be bound (no ::1 where IPv6 is disabled).
local function talk(host)
   local client, conn = require("sockhost.demo").tcp_pair(host)
   if not client then return false end
   for _, s in ipairs({ client, conn }) do s:settimeout(2) end
   assert(client:send("hello\n"))
   assert(conn:receive("*l"))
   assert(conn:send("bye\n"))
   assert(client:receive("*l"))
   client:close()
   conn:close()
   return true
end

-- Sockets belong to the cgroup their creator was in when they were made, so only the
-- connection setup needs to happen inside; the process leaves again right away.
local function run_demo(cg)
   cli.need("socket", "lua-socket", "--demo")
   local ok, err = pcall(cg.within, function()
      if not talk("127.0.0.1") then error("cannot listen on 127.0.0.1", 0) end
      talk("::1")
   end)
   if not ok then error("demo connection failed: " .. tostring(err), 0) end
end

-- Main ------------------------------------------------------------------------------------

local function main()
   local args = parse_args()
   local json = args.json
   local output = cli.output("hello-sockops", args)
   if not json then io.stdout:setvbuf("line") end

   local root = sockhost.cgroup2_root()
   local cg <close> = args.demo and require("sockhost.demo").cgroup("demo") or nil
   local target = args.cgroup or (cg and cg.path) or root

   local obj <close> = sockhost.open("hello-sockops")
   -- luacheck: push no unused (to-be-closed handles: held for their lifetime, not read)
   local srv <close> = cli.serve_metrics("hello-sockops", args, obj, METRICS)
   -- luacheck: pop
   local function on_event(e)
      io.stdout:write(text_line(e), "\n")
   end
   -- luacheck: push no unused (to-be-closed handles: held for their lifetime, not read)
   local events <close> = json
      and obj:subscribe("events", "struct hello_event", nil, { ndjson = json_spec(output.file) })
      or obj:subscribe("events", "struct hello_event", on_event)
   if json then output:follow(events) end
   local link <close> = obj:program("hello"):attach(target)
   -- luacheck: pop

   if cg then run_demo(cg) end
   local duration = args.duration or (args.demo and 1) or nil
   local reason, signal = sockhost.run { duration = duration, on_hup = output.on_hup }
   -- callbacks the kernel reported before we stopped are printed, not left in the ring
   events:drain()

   -- records the kernel could not reserve, counted by the ring's loss ledger (events_drops)
   io.stderr:write(("hello-sockops: %d events, %d dropped (%s, cgroup %s)\n"):format(
      events.received, events.dropped, cli.stopped(reason, signal), target))
   -- link, events, obj and then cg close here, in that order: detach before the cgroup goes.
end

cli.main("hello-sockops", main)
