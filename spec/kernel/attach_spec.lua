-- SPDX-License-Identifier: GPL-2.0
-- Every attach kind on the real kernel, with traffic the spec makes itself: sock_ops on the
-- spec's own cgroup, socket filters on the spec's own sockets, sk_msg on the spec's own
-- sockmap, tracepoints the spec triggers. Counts are exact.
local sockhost = require "sockhost"
local socket = require "socket"
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local traffic = require "helpers.traffic"
local bpftool = require "helpers.bpftool"
local errors = require "helpers.errors"
local testbed = require "helpers.testbed"
local fixtures = require "helpers.fixtures"

local NR_OPENAT = 257 -- x86_64

--- Drain the loop until fn() is true or two seconds pass.
local function poll_until(fn)
   return proc.poll_until(sockhost, fn)
end

local open_files = traffic.open_files

local function udp_receiver()
   local u = assert(socket.udp4())
   assert(u:setsockname("127.0.0.1", 0))
   local _, port = u:getsockname()
   return u, math.tointeger(tonumber(port))
end

local function drain_udp(u)
   local n = 0
   u:settimeout(0.2)
   while u:receive() do
      n = n + 1
   end
   return n
end

describe("sock_ops #kernel", function()
   local cg
   before_each(function() cg = cgroup.new("sockops") end)
   after_each(function()
      assert(proc.wait_for(function() return cgroup.remove(cg) end, 5))
   end)

   for _, host in ipairs({ "127.0.0.1", "::1" }) do
      it("reports the ops of one connection made inside its cgroup (" .. host .. ")", function()
         local obj <close> = sockhost.open("hello-sockops")
         local link <close> = obj:program("hello"):attach(cg)
         local events = {}
         obj:subscribe("events", "struct hello_event", function(e) events[#events + 1] = e end)
         local ports = cgroup.within(cg, function()
            return traffic.tcp_exchange({ host = host, send = 1000, reply = 10 })
         end)
         poll_until(function() return #events >= 3 end)
         sockhost.poll(50)

         local net = sockhost.net
         local by = {}
         for _, e in ipairs(events) do
            local key = net.sockops_op_name(e.op) .. ":" .. e.lport
            by[key] = (by[key] or 0) + 1
            assert.equal(host == "::1" and 10 or 2, e.family)
            assert.equal(host, net.ntop(e.laddr, e.family))
         end
         -- exactly one connect and one establishment on each side, on the right ports
         assert.equal(1, by["tcp_connect_cb:" .. ports.client_port])
         assert.equal(1, by["active_established_cb:" .. ports.client_port])
         assert.equal(1, by["passive_established_cb:" .. ports.server_port])
         for _, e in ipairs(events) do
            if e.op == 3 then -- tcp_connect_cb runs in connect(), in this process
               assert.equal(sockhost.pid(), e.pid)
               assert.equal(ports.server_port, e.rport)
            end
         end
      end)
   end

   it("sees nothing from connections outside its cgroup", function()
      local obj <close> = sockhost.open("hello-sockops")
      local link <close> = obj:program("hello"):attach(cg)
      local n = 0
      obj:subscribe("events", "struct hello_event", function() n = n + 1 end)
      traffic.tcp_exchange({ send = 100 })
      sockhost.poll(100)
      assert.equal(0, n)
   end)

   it("detaches with the link and leaves the cgroup empty", function()
      local obj <close> = sockhost.open("hello-sockops")
      local link = obj:program("hello"):attach(cg)
      assert.equal(1, #bpftool.prog_ids_attached_to_cgroup(cg))
      assert.matches("^sockhost.link sock_ops 'hello' %-> cgroup .+sockhost%-spec%-sockops", tostring(link))
      link:detach()
      link:detach()
      assert.is_false(link.attached)
      assert.equal(0, #bpftool.prog_ids_attached_to_cgroup(cg))
   end)

   it("detaches when the object closes", function()
      local obj = sockhost.open("hello-sockops")
      local link = obj:program("hello"):attach(cg)
      obj:close()
      assert.is_false(link.attached)
      assert.equal(0, #bpftool.prog_ids_attached_to_cgroup(cg))
   end)

   it("refuses a path that is not a cgroup v2 directory", function()
      local obj <close> = sockhost.open("hello-sockops")
      local prog = obj:program("hello")
      errors.raises(function() prog:attach("/nonexistent/cg") end,
         "cgroup '/nonexistent/cg': No such file or directory")
      errors.raises(function() prog:attach("/tmp") end,
         "cgroup '/tmp': not a cgroup v2 directory (cgroup2 is mounted at "
         .. cgroup.root() .. ")")
      errors.raises(function() prog:attach(3) end,
         "program 'hello' (sock_ops) attaches to a cgroup v2 directory path, got number")
   end)
end)

describe("socket filter #kernel", function()
   it("counts exactly the datagrams a socket receives", function()
      local obj <close> = fixtures.open("sockcount", { globals = { proto_filter = 17 } })
      local u, port = udp_receiver()
      finally(function() u:close() end)
      local link = obj:program("count"):attach(u)
      assert.equal("socket_filter", link.kind)
      assert.equal(10, traffic.udp_send("127.0.0.1", port, 10, 100))
      assert.equal(10, drain_udp(u))
      -- the filter sees the UDP header (8 bytes) and the payload
      assert.same({ packets = 10, bytes = 10 * 108 }, obj:map("counts")[0])
   end)

   it("replaces, detaches and survives a dropped handle (aya semantics)", function()
      local obj <close> = fixtures.open("sockcount")
      local counts = obj:map("counts")
      local u, port = udp_receiver()
      finally(function() u:close() end)

      local l1 = obj:program("count"):attach(u)
      local l2 = obj:program("drop_all"):attach(u) -- one slot: replaces count
      assert.is_false(l1.attached)
      assert.is_true(l2.attached)
      traffic.udp_send("127.0.0.1", port, 5, 20)
      assert.equal(0, drain_udp(u))
      assert.same({ packets = 5, bytes = 5 * 28 }, counts[1])
      assert.same({ packets = 0, bytes = 0 }, counts[0])

      l1:detach() -- no longer in the slot: must not clear drop_all
      traffic.udp_send("127.0.0.1", port, 1, 20)
      assert.equal(0, drain_udp(u))
      assert.equal(6, counts[1].packets)

      assert.is_true(sockhost.detach_filter(u)) -- clears whatever fills the slot
      assert.is_false(l2.attached)
      assert.is_false(sockhost.detach_filter(u))
      traffic.udp_send("127.0.0.1", port, 3, 20)
      assert.equal(3, drain_udp(u))
      assert.equal(6, counts[1].packets)

      obj:program("count"):attach(u.getfd and u:getfd()) -- by fd number; handle dropped
      collectgarbage()
      collectgarbage()
      traffic.udp_send("127.0.0.1", port, 2, 20)
      assert.equal(2, drain_udp(u))
      assert.same({ packets = 2, bytes = 2 * 28 }, counts[0])
   end)

   it("attaches to a raw socket bound to an interface", function()
      -- the spec's own veth pair into its own namespace: other processes' UDP on lo would
      -- be counted too
      local bed = testbed.create("rawsock")
      local sink, port
      finally(function() -- busted keeps only the last finally of a test: one for both
         if sink then sink:close() end
         testbed.remove(bed)
      end)
      sink, port = testbed.udp_sink(bed)
      local obj <close> = fixtures.open("sockcount", { globals = { proto_filter = 17 } })
      local raw <close> = sockhost.socket(bed.host_if)
      assert.equal(("sockhost.socket raw on '%s' (fd %d)"):format(bed.host_if, raw:fd()),
         tostring(raw))
      obj:program("count"):attach(raw)
      testbed.udp_from_ns(bed, port, 4, 50)
      assert.equal(4, testbed.drain(sink, 4))
      -- each datagram crosses the pair once, inbound; the filter sees the whole frame:
      -- ethernet (14) + IPv4 (20) + UDP (8) + payload
      assert.same({ packets = 4, bytes = 4 * (14 + 20 + 8 + 50) }, obj:map("counts")[0])
   end)

   it("runs crafted packets through test_run", function()
      local obj <close> = fixtures.open("sockcount")
      local pkt = string.rep("\0", 12) .. "\8\0" -- ethernet, type IPv4
         .. "\69\0\0\28" .. "\0\0\0\0" .. "\64\17\0\0" .. "\127\0\0\1\127\0\0\1" -- IPv4, UDP
         .. "\0\1\0\2\0\8\0\0" -- UDP header
      local r = obj:program("count"):test_run({ data = pkt, ["repeat"] = 3 })
      -- a socket filter is not an L2 program: the kernel pulls the ethernet header first
      assert.equal(#pkt - 14, r.retval)
      -- data out is the whole frame again (the kernel zeroes the link-layer header it made)
      assert.equal(#pkt, #r.data)
      assert.equal(pkt:sub(15), r.data:sub(15))
      -- the kernel's mean time per run, in ns: three runs of a program take some
      assert.is_true(math.type(r.duration_ns) == "integer" and r.duration_ns > 0,
         tostring(r.duration_ns))
      assert.same({ packets = 3, bytes = 3 * (#pkt - 14) }, obj:map("counts")[0])
      r = obj:program("drop_all"):test_run({ data = pkt })
      assert.equal(0, r.retval)
      errors.raises(function() obj:program("count"):test_run({ data = pkt, ["repeat"] = 0 }) end,
         "test_run: repeat must be an integer from 1 to 2147483647, got 0")
   end)

   it("pins, opens the pin, attaches through it and unpins", function()
      local obj <close> = fixtures.open("sockcount")
      local path = "/sys/fs/bpf/sockhost-spec-filter-" .. sockhost.pid()
      local prog = obj:program("count")
      prog:pin(path)
      local u, port
      finally(function() -- busted keeps only a test's last finally: one for both
         os.remove(path)
         if u then u:close() end
      end)
      u, port = udp_receiver()
      local pinned <close> = sockhost.open_pinned(path)
      assert.equal("sockhost.program 'count' (socket_filter)", tostring(pinned))
      assert.equal(prog:info().id, pinned:info().id)
      pinned:attach(u)
      traffic.udp_send("127.0.0.1", port, 3, 10)
      assert.equal(3, drain_udp(u))
      assert.equal(3, obj:map("counts")[0].packets)
      prog:unpin(path)
      assert.is_nil(io.open(path))
      errors.raises(function() sockhost.open_pinned(path) end,
         "open_pinned '" .. path .. "': No such file or directory")
   end)

   it("refuses targets that are not sockets", function()
      local obj <close> = fixtures.open("sockcount")
      local prog = obj:program("count")
      local cg2 = cgroup.root()
      errors.raises(function() prog:attach(cg2) end,
         "program 'count' (socket_filter) attaches to a socket (fd number, LuaSocket object or "
         .. "sockhost.socket), got string '" .. cg2 .. "'")
      errors.raises(function() prog:attach(0) end,
         "program 'count' (socket_filter) attach: fd 0 is not a socket")
      errors.raises(function() prog:attach(987) end,
         "program 'count' (socket_filter) attach: fd 987 is not open")
      errors.raises(function() sockhost.socket("nosuch0") end,
         "interface 'nosuch0' does not exist")
   end)
end)

describe("sk_msg #kernel", function()
   it("counts every message sent on a socket in its sockmap", function()
      local obj <close> = fixtures.open("skmsg", { programs = { "msg_count" } })
      local sock_map = obj:map("sock_map")
      local link <close> = obj:program("msg_count"):attach(sock_map)
      assert.matches("sk_msg 'msg_count' %-> sockmap map 'sock_map'", tostring(link))
      local cli, srv = traffic.tcp_pair()
      finally(function() cli:close(); srv:close() end)
      sock_map[0] = cli
      for _ = 1, 3 do
         assert(cli:send(string.rep("m", 100)))
      end
      srv:settimeout(5)
      assert.equal(300, #assert(srv:receive(300)))
      assert.same({ count = 3, bytes = 300 }, obj:map("msg_stats")[0])
   end)

   it("refuses a map that is not a sockmap and a socket that is not established", function()
      local obj <close> = fixtures.open("skmsg", { programs = { "msg_count" } })
      errors.raises(function() obj:program("msg_count"):attach(obj:map("msg_stats")) end,
         "program 'msg_count' (sk_msg) attaches to a sockmap or sockhash, but map 'msg_stats' is a array map")
      errors.raises(function() obj:program("msg_count"):attach("/tmp") end,
         "program 'msg_count' (sk_msg) attaches to a sockmap or sockhash map handle, got string")
      local lone = assert(socket.tcp4())
      assert(lone:bind("127.0.0.1", 0))
      finally(function() lone:close() end)
      errors.raises(function() obj:map("sock_map")[0] = lone end,
         "map 'sock_map' (sockmap): the TCP socket is not established (state CLOSE): only "
         .. "established or listening TCP sockets can go into a sockmap")
   end)
end)

describe("tracing #kernel", function()
   --- An object counting openat() calls of this process through the given program.
   local function tpcount(prog)
      return fixtures.open("tpcount", {
         programs = { prog },
         globals = { target_pid = sockhost.pid(), target_nr = NR_OPENAT },
      })
   end

   it("attaches a tracepoint by category and name and counts exactly", function()
      local obj <close> = tpcount("sys_enter_getppid")
      local link <close> = obj:program("sys_enter_getppid"):attach("syscalls", "sys_enter_openat")
      local seen = {}
      obj:subscribe("events", "struct tp_event", function(e) seen[#seen + 1] = e end)
      open_files(7)
      link:detach()
      open_files(2)
      poll_until(function() return #seen >= 7 end)
      assert.equal(7, obj.globals.hits)
      assert.equal(7, #seen)
      for i, e in ipairs(seen) do
         assert.equal(sockhost.pid(), e.pid)
         assert.equal(i, e.seq)
      end
   end)

   it("attaches a raw tracepoint from its section and by name", function()
      local obj <close> = tpcount("raw_sys_enter")
      local link = obj:program("raw_sys_enter"):attach()
      open_files(5)
      link:detach()
      assert.equal(5, obj.globals.raw_hits)
      link = obj:program("raw_sys_enter"):attach("sys_enter")
      open_files(4)
      link:detach()
      assert.equal(9, obj.globals.raw_hits)
   end)

   it("attaches tp_btf from its section", function()
      local obj <close> = tpcount("btf_sys_enter")
      local link <close> = obj:program("btf_sys_enter"):attach()
      open_files(6)
      link:detach()
      assert.equal(6, obj.globals.btf_hits)
      errors.raises(function() obj:program("btf_sys_enter"):attach("sys_enter") end,
         "program 'btf_sys_enter' (tracing) attaches where its section 'tp_btf/sys_enter' says and takes no target")
   end)

   it("attaches kprobes where the kernel has them, and says why not where it has none", function()
      local f = sockhost.features().kprobe
      local obj <close> = tpcount("kprobe_getppid")
      local prog = obj:program("kprobe_getppid")
      if f.ok then
         local link <close> = prog:attach("__x64_sys_openat")
         open_files(3)
         assert.equal(3, obj.globals.kprobe_hits)
      else
         errors.raises(function() prog:attach("__x64_sys_openat") end,
            "program 'kprobe_getppid' (kprobe): cannot attach to kprobe __x64_sys_openat+0: "
            .. "kprobe: kernel built without CONFIG_KPROBES (no kprobe_events in tracefs); "
            .. "use a tracepoint or tp_btf")
      end
   end)
end)

describe("a link left to the garbage collector #kernel", function()
   it("warns once with the line that attached it, unless detached, a socket's or alive at exit",
      function()
      local dir = proc.must("mktemp -d"):gsub("\n$", "")
      finally(function() proc.sh("rm -rf " .. proc.quote(dir)) end)
      local script = dir .. "/gc.lua"
      local f = assert(io.open(script, "w"))
      f:write(([[
local sockhost = require "sockhost"
local obj <close> = sockhost.open(%q, { globals = { target_pid = sockhost.pid() } })
local prog = obj:program("sys_enter_openat")
local dropped = prog:attach()
io.stderr:write(tostring(dropped), "\n")
dropped = nil
collectgarbage()
collectgarbage()
io.stderr:write("detached:\n")
local detached = prog:attach()
detached:detach()
detached = nil
collectgarbage()
io.stderr:write("socket filter:\n")
local filters <close> = sockhost.open(%q)
local u = require("socket").udp()
assert(u:setsockname("127.0.0.1", 0))
local filter = filters:program("count"):attach(u)
filter = nil
collectgarbage()
u:close()
io.stderr:write("at exit:\n")
OBJ = sockhost.open(%q, { globals = { target_pid = sockhost.pid() } })
LINK = OBJ:program("sys_enter_openat"):attach()
]]):format(fixtures.path("evgen"), fixtures.path("sockcount"), fixtures.path("evgen")))
      f:close()
      local ok, out = proc.sh(("%s %s 2>&1"):format(proc.quote(proc.env("SOCKHOST_BIN")),
         proc.quote(script)))
      assert.is_true(ok, out)
      local desc = "tracepoint 'sys_enter_openat' -> tracepoint/syscalls/sys_enter_openat"
      assert.equal("sockhost.link " .. desc .. "\n"
         .. "Lua warning: sockhost: link " .. desc .. ", attached at " .. script
         .. ":4, was garbage-collected and detached (keep the link, e.g. local link <close> "
         .. "= prog:attach(...), or call link:detach())\n"
         .. "detached:\nsocket filter:\nat exit:\n", out)
   end)
end)
