-- SPDX-License-Identifier: GPL-2.0
-- sockhost.testing, the users' test kit, against real kernel state: scratch cgroups and
-- namespaces that are there while held and gone after (closed, collected, or swept after a
-- dead pid), a veth pair with pings that get exactly N replies and UDP out of the namespace,
-- a loopback exchange whose bytes conntrace counts the same, frames checked byte for byte and
-- run through test_run, and assert_clean catching what a test leaked, word for word.
local sockhost = require "sockhost"
local testing = require "sockhost.testing"
local lib = require "sockhost.cgroup"
local leftovers = require "sockhost.testing.leftovers"
local proc = require "helpers.proc"
local fixtures = require "helpers.fixtures"

local quote, sh, read_file = proc.quote, proc.sh, proc.read_file
local p = testing.packets

local function is_dir(path)
   return (sh("test -d " .. quote(path)))
end

local function netns_exists(name)
   for _, n in ipairs(leftovers.netns_names()) do
      if n == name then return true end
   end
   return false
end

local function link_exists(ifname)
   return (sh("ip link show dev " .. quote(ifname) .. " >/dev/null 2>&1"))
end

local function hex(s)
   return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

describe("sockhost.testing", function()
   local me = proc.pid()

   before_each(function()
      testing.assert_clean()
   end)
   after_each(function()
      testing.assert_clean()
   end)

   describe(".cgroup()", function()
      it("makes a cgroup under the cgroup2 root, steps in and out, removes it on close", function()
         local path, home
         do
            local cg <close> = testing.cgroup("kit")
            path = cg.path
            assert.equal(("%s/sockhost-spec-kit-%d-"):format(lib.root(), me),
               path:match("^(.*%-)%d+$"))
            assert.is_true(is_dir(path))
            home = lib.current()
            assert.equal(path, cg.within(lib.current))
            assert.equal(home, lib.current())
            assert.equal("", read_file(path .. "/cgroup.procs"))
            assert.same({ "cgroup " .. path .. " is still there" }, testing.leftovers())
         end
         assert.is_false(is_dir(path))
         assert.equal(home, lib.current())
      end)

      it("is removed when the guard is collected without a close", function()
         local path = (function() return testing.cgroup("gc").path end)()
         collectgarbage("collect")
         collectgarbage("collect")
         assert.is_false(is_dir(path))
      end)

      it("is removed when the scope ends with an error, inside", function()
         local path
         local ok, err = pcall(function()
            local cg <close> = testing.cgroup("err")
            path = cg.path
            cg.enter()
            error("boom", 0)
         end)
         assert.same({ false, "boom" }, { ok, err })
         assert.is_false(is_dir(path))
         assert.is_not.equal(path, lib.current())
      end)
   end)

   describe(".netns() and .veth()", function()
      it("pings across the pair with exactly N replies both ways, then deletes both", function()
         local name, pair
         do
            local ns <close> = testing.netns("kit")
            name = ns.name
            assert.matches(("^sockhost%%-spec%%-kit%%-%d%%-%%d+$"):format(me), name)
            assert.is_true(netns_exists(name))
            pair = ns.veth()
            assert.is_true(link_exists(pair.host_if))
            local ok, out = ns.exec("ip -o link show dev " .. pair.ns_if)
            assert.is_true(ok, out)
            assert.same({ 5, 5 }, { testing.ping(ns, pair.host_ip, 5) })
            assert.same({ 3, 3 }, { testing.ping(nil, pair.ns_ip, 3, { size = 1000 }) })
            -- requests sent to a MAC address nobody has are dropped: 2 sent, none back
            assert(ns.exec(("ip neigh replace %s lladdr 02:00:00:00:00:99 dev %s nud permanent")
               :format(pair.host_ip, pair.ns_if)))
            assert.same({ 0, 2 }, { testing.ping(ns, pair.host_ip, 2, { wait = 0.2 }) })
         end
         assert.is_false(netns_exists(name))
         assert.is_false(link_exists(pair.host_if), pair.host_if)
      end)

      it("carries UDP out of the namespace: every datagram and byte arrives", function()
         local ns <close> = testing.netns("udp")
         local pair = ns.veth()
         local u, port = testing.udp_sink(pair.host_ip)
         local sport = testing.udp_from_ns(ns, pair.ns_ip, pair.host_ip, port, 4, 100)
         assert.same({ 4, 400 }, { testing.drain(u, 4) })
         u:close()
         assert.is_true(sport > 0)
      end)

      it("deletes the namespace when the guard is collected", function()
         local name = (function() return testing.netns("gc").name end)()
         collectgarbage("collect")
         collectgarbage("collect")
         assert.is_false(netns_exists(name))
      end)
   end)

   describe(".tcp_exchange()", function()
      it("moves exactly the bytes asked for, both ways, as conntrace counts them", function()
         local out = os.tmpname()
         local pid = proc.spawn(("exec %s %s --json --pid %d >%s 2>%s.err"):format(
            quote(proc.env("SOCKHOST_BIN")),
            quote(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/conntrace.lua"), me, out, out))
         finally(function()
            proc.reap(pid)
            os.remove(out)
            os.remove(out .. ".err")
         end)
         assert(testing.wait_for(function()
            return (read_file(out .. ".err") or ""):find("conntrace: filters:", 1, true)
         end), "conntrace never started: " .. tostring(read_file(out .. ".err")))
         local r = testing.tcp_exchange({ send = 123457, reply = 4321 })
         assert.same({ 123457, 4321 }, { r.sent, r.received })
         local recs = assert(testing.wait_for(function()
            local recs = proc.records(read_file(out))
            return #recs >= 2 and recs
         end), "no close records: " .. tostring(read_file(out)))
         local by = {}
         for _, rec in ipairs(recs) do by[rec.role] = rec end
         assert.same({ r.server_port, 123457, 4321 },
            { by.client.dport, by.client.bytes_sent, by.client.bytes_received })
         assert.same({ r.client_port, 4321, 123457 },
            { by.server.dport, by.server.bytes_sent, by.server.bytes_received })
      end)
   end)

   describe(".packets", function()
      it("builds Ethernet + 802.1Q + IPv4 + UDP byte for byte", function()
         local frame = p.eth { dst = "02:00:00:00:00:02", src = "02:00:00:00:00:01",
            type = p.ETH_P_IP, vlans = { { vid = 5 } },
            payload = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_UDP,
               payload = p.udp { sport = 1000, dport = 2000, data = "hello" } } }
         assert.equal("020000000002020000000001810000050800"
            .. "4500002100010000401166c90a0000010a000002"
            .. "03e807d0000d9c47" .. "68656c6c6f", hex(frame))
      end)

      it("builds IPv6 + TCP byte for byte", function()
         local pkt = p.ipv6 { src = "2001:db8::1", dst = "2001:db8::2", next = p.IPPROTO_TCP,
            payload = p.tcp { sport = 1234, dport = 80, flags = 0x02 } }
         assert.equal("600000000014064020010db800000000000000000000000120010db8"
            .. "000000000000000000000002" .. "04d2005000000001000000005002ffff4f4b0000", hex(pkt))
      end)

      it("builds IPv4 + ICMP echo byte for byte", function()
         local pkt = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_ICMP,
            df = true, payload = p.icmp_echo { id = 7, seq = 1, data = "ping" } }
         assert.equal("4500002000014000400126da0a0000010a000002" .. "080019270007000170696e67",
            hex(pkt))
      end)

      it("makes frames prog:test_run parses by protocol", function()
         local obj <close> = fixtures.open("sockcount", { globals = { proto_filter = 17 } })
         local udp = p.eth { type = p.ETH_P_IP, payload = p.ipv4 { src = "10.0.0.1",
            dst = "10.0.0.2", proto = p.IPPROTO_UDP, payload = p.udp { sport = 1, dport = 2,
               data = ("d"):rep(50) } } }
         local tcp = p.eth { type = p.ETH_P_IP, payload = p.ipv4 { src = "10.0.0.1",
            dst = "10.0.0.2", proto = p.IPPROTO_TCP, payload = p.tcp { sport = 1, dport = 2 } } }
         local prog = obj:program("count")
         assert.equal(#udp - 14, prog:test_run({ data = udp, ["repeat"] = 2 }).retval)
         prog:test_run({ data = tcp })
         -- only the two UDP runs were counted: 20 + 8 + 50 bytes each past the Ethernet header
         assert.same({ packets = 2, bytes = 2 * 78 }, obj:map("counts")[0])
      end)
   end)

   describe(".wait_for()", function()
      it("returns fn's first true value, or nil when the time is up", function()
         local n = 0
         assert.equal(3, testing.wait_for(function() n = n + 1; return n >= 3 and n end, 5))
         assert.is_nil(testing.wait_for(function() return false end, 0.1))
      end)
   end)

   describe(".assert_clean()", function()
      it("catches a leaked cgroup, with the exact message", function()
         local path = require("sockhost.testing.cgroup").new("leak")
         finally(function() lib.remove(path) end)
         local ok, err = pcall(testing.assert_clean)
         assert.same({ false, "left behind by this test:\n  cgroup " .. path .. " is still there" },
            { ok, err })
         assert.is_true(lib.remove(path))
         testing.assert_clean()
      end)

      it("catches a program still attached to a cgroup, a netns and a pin", function()
         local netns = require "sockhost.testing.netns"
         local obj <close> = sockhost.open("hello-sockops")
         local prog = obj:program("hello")
         local id = prog:info().id
         local cg = testing.cgroup("leak")
         local link = prog:attach(cg.path)
         local name = netns.create("leak")
         local pin = testing.pin_path("leak")
         prog:pin(pin)
         finally(function()
            link:detach()
            cg.close()
            netns.delete(name)
            os.remove(pin)
         end)
         assert.same({
            ("cgroup %s is still there"):format(cg.path),
            ("cgroup %s: program %d 'hello' (cgroup_sock_ops) attached"):format(cg.path, id),
            ("netns %s is still there"):format(name),
            ("pin %s is still there"):format(pin),
         }, testing.leftovers())
         local ok, err = pcall(testing.assert_clean)
         assert.same({ false, "left behind by this test:\n  " .. table.concat(testing.leftovers(),
            "\n  ") }, { ok, err })
         link:detach()
         assert.is_true(cg.within(function() return true end))
         cg.close()
         netns.delete(name)
         os.remove(pin)
         assert.same({}, testing.leftovers())
      end)
   end)

   describe(".sweep()", function()
      it("removes a dead pid's cgroup and netns, never a live one's", function()
         local dead = proc.spawn("exit 0")
         assert.is_true(proc.wait_gone(dead, 5))
         local cg_dead = lib.create(("sockhost-spec-sweep-%d-1"):format(dead))
         local ns_dead = ("sockhost-spec-sweep-%d-2"):format(dead)
         proc.must("ip netns add " .. ns_dead)
         local live = testing.cgroup("sweep")
         finally(function()
            lib.remove(cg_dead)
            sh("ip netns delete " .. ns_dead .. " 2>/dev/null")
            live.close()
         end)
         local removed = {}
         for _, what in ipairs(testing.sweep()) do removed[what] = true end
         assert.is_true(removed["cgroup " .. cg_dead])
         assert.is_true(removed["netns " .. ns_dead])
         assert.is_nil(removed["cgroup " .. live.path])
         assert.is_false(is_dir(cg_dead))
         assert.is_false(netns_exists(ns_dead))
         assert.is_true(is_dir(live.path))
      end)
   end)
end)
