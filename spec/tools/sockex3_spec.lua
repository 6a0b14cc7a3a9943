-- SPDX-License-Identifier: GPL-2.0
-- sockex3 (the kernel's samples/bpf sockex3: flow parsing through bpf_tail_call on a prog
-- array that the host fills from Lua): crafted frames through test_run for every header kind
-- with exact flow counts, empty slots, the prog array's errors, real traffic on a veth pair
-- into the spec's own network namespace, and the script as a user runs it.
local sockhost = require "sockhost"
local net = require "sockhost.net"
local errors = require "helpers.errors"
local p = require "helpers.packets"
local testbed = require "helpers.testbed"
local proc = require "helpers.proc"
local texttable = require "helpers.texttable"
local fmt = require "sockhost.fmt"

-- enum sockex3_slot in bpf/sockex3.h
local SLOTS = { parse_vlan = 1, parse_mpls = 2, parse_ip = 3, parse_ipv6 = 4 }

local function open_filled()
   local obj = sockhost.open("sockex3")
   local jmp = obj:map("jmp_table")
   for name, slot in pairs(SLOTS) do jmp[slot] = obj:program(name) end
   return obj
end

-- `flows` as {["src.sport -> dst.dport proto"] = {packets=, bytes=}}.
local function flows(obj)
   local t = {}
   for k, v in pairs(obj:map("flows")) do
      t[("%s.%d -> %s.%d %s"):format(net.ntop(k.src, k.family), k.sport, net.ntop(k.dst, k.family),
         k.dport, net.proto_name(k.ip_proto))] = v
   end
   return t
end

local inner_udp = p.ipv4 { src = "10.1.0.1", dst = "10.1.0.2", proto = p.IPPROTO_UDP,
   payload = p.udp { sport = 1111, dport = 2222, data = "inner" } }
local INNER = "10.1.0.1.1111 -> 10.1.0.2.2222 udp"

local function v4(payload, opts)
   opts = opts or {}
   return p.ipv4 { src = opts.src or "192.168.0.1", dst = opts.dst or "192.168.0.2",
      proto = opts.proto or p.IPPROTO_UDP, options = opts.options, mf = opts.mf,
      frag = opts.frag, df = opts.df, payload = payload }
end

local function eth(l3, type, vlans)
   return p.eth { type = type or p.ETH_P_IP, vlans = vlans, payload = l3 }
end

describe("sockex3 #tools", function()
   describe("test_run", function()
      local obj
      before_each(function() obj = open_filled() end)
      after_each(function() obj:close() end)

      --- Run frame n times through dispatch; the bytes that adds to its flow.
      local function run(frame, n)
         assert.equal(0, obj:program("dispatch"):test_run({ data = frame, ["repeat"] = n or 1 }).retval)
         return (n or 1) * (#frame - 14)
      end

      it("counts IPv4 UDP, TCP and ICMP flows, also behind IPv4 options", function()
         local udp = run(eth(v4(p.udp { sport = 1000, dport = 2000, data = "abc" })), 3)
         local tcp = run(eth(v4(p.tcp { sport = 40000, dport = 80 }, { proto = p.IPPROTO_TCP })), 2)
         local icmp = run(eth(v4(p.icmp_echo { data = "ping" }, { proto = p.IPPROTO_ICMP })))
         -- router alert + 3 NOPs: the ports follow the 24-byte header, not byte 20
         local opts = run(eth(v4(p.udp { sport = 1000, dport = 2000 }, { options = "\148\4\0\0\1\1\1" })))
         assert.same({
            ["192.168.0.1.1000 -> 192.168.0.2.2000 udp"] = { packets = 4, bytes = udp + opts },
            ["192.168.0.1.40000 -> 192.168.0.2.80 tcp"] = { packets = 2, bytes = tcp },
            ["192.168.0.1.0 -> 192.168.0.2.0 icmp"] = { packets = 1, bytes = icmp },
         }, flows(obj))
      end)

      it("follows 802.1Q, 802.1AD + 802.1Q and MPLS stacks", function()
         local b = run(eth(inner_udp, nil, { { tpid = p.ETH_P_8021Q, vid = 10 } }), 2)
         b = b + run(eth(inner_udp, nil, { { tpid = p.ETH_P_8021AD, vid = 100 },
            { tpid = p.ETH_P_8021Q, vid = 10 } }))
         b = b + run(eth(p.mpls { labels = { 16 }, payload = inner_udp }, p.ETH_P_MPLS_UC))
         b = b + run(eth(p.mpls { labels = { 16, 17, 18 }, payload = inner_udp }, p.ETH_P_MPLS_MC))
         local v6 = run(eth(p.mpls { labels = { 20 }, payload = p.ipv6 { src = "fd00::1", dst = "fd00::2",
            next = p.IPPROTO_UDP, payload = p.udp { sport = 7, dport = 8 } } }, p.ETH_P_MPLS_UC))
         assert.same({
            [INNER] = { packets = 5, bytes = b },
            ["fd00::1.7 -> fd00::2.8 udp"] = { packets = 1, bytes = v6 },
         }, flows(obj))
      end)

      it("follows GRE with and without checksum, key and sequence number, and IPIP", function()
         local b = 0
         for _, g in ipairs({ {}, { csum = true }, { key = 0xdeadbeef }, { seq = 1 },
            { csum = true, key = 5 }, { csum = true, key = 5, seq = 9 } }) do
            g.proto, g.payload = p.ETH_P_IP, inner_udp
            b = b + run(eth(v4(p.gre(g), { proto = p.IPPROTO_GRE })))
         end
         local v6 = run(eth(v4(p.gre { proto = p.ETH_P_IPV6, key = 1, payload = p.ipv6 {
            src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_TCP,
            payload = p.tcp { sport = 5, dport = 6 } } }, { proto = p.IPPROTO_GRE })))
         local ipip = run(eth(v4(inner_udp, { proto = p.IPPROTO_IPIP })), 2)
         -- neither GRE version 1 nor source routing is followed
         run(eth(v4(p.gre { proto = p.ETH_P_IP, routing = true, payload = inner_udp }, { proto = p.IPPROTO_GRE })))
         run(eth(v4(p.gre { proto = p.ETH_P_IP, version = 1, payload = inner_udp }, { proto = p.IPPROTO_GRE })))
         assert.same({
            [INNER] = { packets = 8, bytes = b + ipip },
            ["fd00::1.5 -> fd00::2.6 tcp"] = { packets = 1, bytes = v6 },
         }, flows(obj))
      end)

      it("counts IPv6 (ICMPv6 too) and IPv6 in IPv4", function()
         local udp = run(eth(p.ipv6 { src = "2001:db8::1", dst = "2001:db8::2", next = p.IPPROTO_UDP,
            payload = p.udp { sport = 53, dport = 5353, data = "q" } }, p.ETH_P_IPV6), 4)
         local icmp6 = run(eth(p.ipv6 { src = "2001:db8::1", dst = "2001:db8::2",
            next = p.IPPROTO_ICMPV6, payload = p.icmp6_echo { data = "x" } }, p.ETH_P_IPV6))
         local six4 = run(eth(v4(p.ipv6 { src = "fd00::a", dst = "fd00::b", next = p.IPPROTO_UDP,
            payload = p.udp { sport = 1, dport = 2 } }, { proto = p.IPPROTO_IPV6 })))
         assert.same({
            ["2001:db8::1.53 -> 2001:db8::2.5353 udp"] = { packets = 4, bytes = udp },
            ["2001:db8::1.0 -> 2001:db8::2.0 icmpv6"] = { packets = 1, bytes = icmp6 },
            ["fd00::a.1 -> fd00::b.2 udp"] = { packets = 1, bytes = six4 },
         }, flows(obj))
      end)

      it("does not count other protocols, non-IP or truncated frames", function()
         run(eth(v4("igmp", { proto = 2 })))
         run(p.eth { type = p.ETH_P_ARP, payload = p.arp { spa = "10.0.0.1", tpa = "10.0.0.2" } })
         run(eth(v4(inner_udp:sub(1, 19), { proto = p.IPPROTO_IPIP }))) -- inner header cut
         run(eth(v4(p.udp { sport = 1, dport = 2 }):sub(1, 22))) -- ports cut
         run(eth(v4(""))) -- protocol UDP, no UDP header at all
         run(eth("\0", p.ETH_P_8021Q)) -- tag cut
         run(eth("", p.ETH_P_8021Q)) -- a tag announced, nothing after it
         -- GRE of an EtherType no parser takes; gretap cut inside its inner Ethernet header
         run(eth(v4(p.gre { proto = 0x1234, payload = inner_udp }, { proto = p.IPPROTO_GRE })))
         run(eth(v4(p.gre { proto = p.ETH_P_TEB, payload = eth(inner_udp) }, { proto = p.IPPROTO_GRE }))
            :sub(1, 14 + 20 + 4 + 13))
         -- an IPv6 extension header cut short (its 8 bytes announced, 6 there)
         run(eth(p.ipv6 { src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_UDP,
            ext = { { type = p.IPPROTO_HOPOPTS } } }:sub(1, 46), p.ETH_P_IPV6))
         assert.same({}, flows(obj))
         -- don't-fragment is not a fragment; a datagram without payload is one
         local df = run(eth(v4(p.udp { sport = 1, dport = 2 }, { df = true })))
         assert.same({ ["192.168.0.1.1 -> 192.168.0.2.2 udp"] = { packets = 1, bytes = df } },
            flows(obj))
         assert.equal(0, obj.globals.missed)
         assert.same({ packets = 0, bytes = 0 }, obj.globals.unparsed)
      end)

      -- The sample drops IPv4 fragments. On the wire a fragment is a frame like any other: the
      -- first one carries the transport header and counts under its ports, a later one has
      -- none and counts under its protocol with ports 0; IPv6 fragments the same.
      it("counts fragments: the first under its ports, later ones with ports 0", function()
         local b4 = run(eth(v4(p.udp { sport = 1, dport = 2, data = "first" }, { mf = true })))
         local later4 = run(eth(v4("middle..", { mf = true, frag = 2 })))
         later4 = later4 + run(eth(v4("last", { frag = 3 })))
         local function v6(ext, payload)
            return eth(p.ipv6 { src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_UDP, ext = ext,
               payload = payload }, p.ETH_P_IPV6)
         end
         local F = p.IPPROTO_FRAGMENT
         local b6 = run(v6({ { type = F, more = true, id = 9 } }, p.udp { sport = 3, dport = 4, data = "x" }))
         -- fragmentable part behind the fragment header: a destination option, then UDP
         b6 = b6 + run(v6({ { type = p.IPPROTO_HOPOPTS }, { type = F, more = true, id = 10 },
            { type = p.IPPROTO_DSTOPTS } }, p.udp { sport = 3, dport = 4 }))
         local later6 = run(v6({ { type = F, offset = 1, id = 9 } }, "tail of it"))
         later6 = later6 + run(v6({ { type = p.IPPROTO_HOPOPTS }, { type = F, offset = 7, more = true } },
            "\0\0\0\0\0\0\0\0"))
         assert.same({
            ["192.168.0.1.1 -> 192.168.0.2.2 udp"] = { packets = 1, bytes = b4 },
            ["192.168.0.1.0 -> 192.168.0.2.0 udp"] = { packets = 2, bytes = later4 },
            ["fd00::1.3 -> fd00::2.4 udp"] = { packets = 2, bytes = b6 },
            ["fd00::1.0 -> fd00::2.0 udp"] = { packets = 2, bytes = later6 },
         }, flows(obj))
      end)

      it("walks IPv6 extension headers to the ports; a chain past the bound is unparsed", function()
         local function v6(ext, next, payload)
            return eth(p.ipv6 { src = "2001:db8::1", dst = "2001:db8::2", next = next, ext = ext,
               payload = payload }, p.ETH_P_IPV6)
         end
         local H, R, D, A = p.IPPROTO_HOPOPTS, p.IPPROTO_ROUTING, p.IPPROTO_DSTOPTS, p.IPPROTO_AH
         local udp = run(v6({ { type = H, len = 2 }, { type = R, len = 2 }, { type = D }, { type = A } },
            p.IPPROTO_UDP, p.udp { sport = 53, dport = 5353 }))
         local tcp = run(v6({ { type = D, len = 5 } }, p.IPPROTO_TCP, p.tcp { sport = 80, dport = 8080 }))
         local icmp6 = run(v6({ { type = H } }, p.IPPROTO_ICMPV6, p.icmp6_echo {}))
         local eight, nine = {}, {}
         for i = 1, 9 do
            nine[i] = { type = D }
            eight[i] = i <= 8 and { type = D } or nil
         end
         udp = udp + run(v6(eight, p.IPPROTO_UDP, p.udp { sport = 53, dport = 5353 }))
         local past = run(v6(nine, p.IPPROTO_UDP, p.udp { sport = 53, dport = 5353 }), 2)
         -- GRE and gretap behind extension headers
         local gre = run(v6({ { type = D } }, p.IPPROTO_GRE, p.gre { proto = p.ETH_P_IP, payload = inner_udp }))
         gre = gre + run(v6({ { type = H } }, p.IPPROTO_GRE, p.gre { proto = p.ETH_P_TEB,
            payload = eth(inner_udp, nil, { { vid = 3 } }) }))
         assert.same({
            ["2001:db8::1.53 -> 2001:db8::2.5353 udp"] = { packets = 2, bytes = udp },
            ["2001:db8::1.80 -> 2001:db8::2.8080 tcp"] = { packets = 1, bytes = tcp },
            ["2001:db8::1.0 -> 2001:db8::2.0 icmpv6"] = { packets = 1, bytes = icmp6 },
            [INNER] = { packets = 2, bytes = gre },
         }, flows(obj))
         assert.same({ packets = 2, bytes = past }, obj.globals.unparsed)
      end)

      it("follows gretap into its inner frame, tagged or not", function()
         local b = 0
         for _, vlans in ipairs({ {}, { { vid = 7 } }, { { tpid = p.ETH_P_8021AD, vid = 1 }, { vid = 2 } } }) do
            b = b + run(eth(v4(p.gre { proto = p.ETH_P_TEB, key = 3, payload = eth(inner_udp, nil, vlans) },
               { proto = p.IPPROTO_GRE })))
         end
         assert.same({ [INNER] = { packets = 3, bytes = b } }, flows(obj))
      end)

      it("counts as unparsed a frame deeper than the bounds: five VLAN tags, IPIP 16 deep", function()
         local five = {}
         for i = 1, 5 do five[i] = { vid = i } end
         local u = run(eth(inner_udp, nil, five))
         local four = run(eth(inner_udp, nil, { table.unpack(five, 1, 4) }))
         local function nest(n)
            local pkt = inner_udp
            for _ = 1, n do pkt = v4(pkt, { proto = p.IPPROTO_IPIP }) end
            return eth(pkt)
         end
         -- dispatch, then one parse_ip per header: 15 IPIP + the inner one is 16 parsers
         local deep = run(nest(15))
         u = u + run(nest(16))
         assert.same({ [INNER] = { packets = 2, bytes = four + deep } }, flows(obj))
         assert.same({ packets = 2, bytes = u }, obj.globals.unparsed)
      end)

      it("resets the flow for every packet (no ports left over from the one before)", function()
         run(eth(v4(p.udp { sport = 9, dport = 9 })))
         local icmp = run(eth(v4(p.icmp_echo {}, { proto = p.IPPROTO_ICMP })))
         assert.same({ packets = 1, bytes = icmp }, flows(obj)["192.168.0.1.0 -> 192.168.0.2.0 icmp"])
      end)
   end)

   describe("jmp_table", function()
      it("holds the ids of the programs stored in it (as the sample checks)", function()
         local obj <close> = open_filled()
         local jmp = obj:map("jmp_table")
         for name, slot in pairs(SLOTS) do
            assert.equal(obj:program(name):info().id, jmp[slot])
         end
         assert.is_nil(jmp[0])
         assert.is_nil(jmp[7])
      end)

      it("leaves a packet uncounted when its slot is empty", function()
         local obj <close> = open_filled()
         local jmp = obj:map("jmp_table")
         local dispatch = obj:program("dispatch")
         local plain = eth(v4(p.udp { sport = 1, dport = 2 }))
         local tagged = eth(v4(p.udp { sport = 3, dport = 4 }), nil, { { vid = 5 } })
         local v6 = eth(p.ipv6 { src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_UDP,
            payload = p.udp { sport = 5, dport = 6 } }, p.ETH_P_IPV6)

         jmp[SLOTS.parse_vlan] = nil
         for _, f in ipairs({ plain, tagged, v6 }) do dispatch:test_run({ data = f }) end
         assert.same({
            ["192.168.0.1.1 -> 192.168.0.2.2 udp"] = { packets = 1, bytes = #plain - 14 },
            ["fd00::1.5 -> fd00::2.6 udp"] = { packets = 1, bytes = #v6 - 14 },
         }, flows(obj))

         assert.is_true(jmp:delete(SLOTS.parse_ip))
         assert.is_false(jmp:delete(SLOTS.parse_ip))
         jmp[SLOTS.parse_vlan] = obj:program("parse_vlan")
         for _, f in ipairs({ plain, tagged, v6 }) do dispatch:test_run({ data = f }) end
         -- the tag is parsed now, but the IPv4 behind it, like the plain one, goes nowhere
         assert.same({
            ["192.168.0.1.1 -> 192.168.0.2.2 udp"] = { packets = 1, bytes = #plain - 14 },
            ["fd00::1.5 -> fd00::2.6 udp"] = { packets = 2, bytes = 2 * (#v6 - 14) },
         }, flows(obj))
      end)

      it("counts nothing before the host fills it", function()
         local obj <close> = sockhost.open("sockex3")
         obj:program("dispatch"):test_run({ data = eth(inner_udp), ["repeat"] = 5 })
         assert.same({}, flows(obj))
      end)

      it("refuses a program of another type, an index out of range and a non-program", function()
         local obj <close> = open_filled()
         local other <close> = sockhost.open("hello-sockops")
         local jmp = obj:map("jmp_table")
         errors.raises(function() jmp[1] = other:program("hello") end,
            "program 'hello' (sock_ops) cannot go into prog array 'jmp_table' of socket_filter programs")
         errors.raises(function() jmp[8] = obj:program("parse_ip") end,
            "index 8 out of range for prog array 'jmp_table' (8 slots)")
         errors.raises(function() jmp[-1] = obj:program("parse_ip") end,
            "map 'jmp_table' key: integer -1 out of range for u32")
         errors.raises(function() jmp[1] = 3 end,
            "map 'jmp_table' (prog_array) value: expected a program handle, got number")
         -- nothing changed
         assert.equal(obj:program("parse_vlan"):info().id, jmp[1])
      end)
   end)

   describe("on a veth pair", function()
      local N, PING_SIZE, M, UDP_SIZE = 4, 56, 6, 300
      local bed
      before_each(function() bed = testbed.create("sockex3") end)
      after_each(function() testbed.remove(bed) end)

      local function traffic(sink, port)
         testbed.ping(bed, N, PING_SIZE)
         local sport = testbed.udp_from_ns(bed, port, M, UDP_SIZE)
         assert.equal(M, testbed.drain(sink, M))
         return sport
      end

      local function expected(sport, port)
         local icmp = { packets = N, bytes = N * testbed.icmp_frame(PING_SIZE) }
         return {
            [("%s.0 -> %s.0 icmp"):format(bed.ns_ip, bed.host_ip)] = icmp,
            [("%s.0 -> %s.0 icmp"):format(bed.host_ip, bed.ns_ip)] = icmp,
            [("%s.%d -> %s.%d udp"):format(bed.ns_ip, sport, bed.host_ip, port)] =
               { packets = M, bytes = M * testbed.udp_frame(UDP_SIZE) },
         }
      end

      it("counts exactly the flows of the spec's ping and datagrams", function()
         local obj <close> = open_filled()
         local sock <close> = sockhost.socket(bed.host_if)
         obj:program("dispatch"):attach(sock)
         local sink, port = testbed.udp_sink(bed)
         finally(function() sink:close() end)
         local sport = traffic(sink, port)
         assert.same(expected(sport, port), flows(obj))
         assert.equal(0, obj.globals.missed)
      end)

      it("runs as scripts/sockex3.lua --json", function()
         local sink, port = testbed.udp_sink(bed)
         finally(function() sink:close() end)
         local sport
         local records, stderr = testbed.run_script("sockex3", bed, "--duration 3",
            function() sport = traffic(sink, port) end)
         local final = records[#records]
         assert.is_true(final.final)
         assert.equal(bed.host_if, final.iface)
         assert.equal(0, final.missed)
         local got = {}
         for _, f in ipairs(final.flows) do
            assert.equal("inet", f.family)
            got[("%s.%d -> %s.%d %s"):format(f.src, f.sport, f.dst, f.dport, f.proto)] =
               { packets = f.packets, bytes = f.bytes }
         end
         assert.same(expected(sport, port), got)
         assert.equal("udp", final.flows[1].proto) -- most bytes first
         assert.matches(("sockex3: %s after [%%d.]+ s %%(duration%%): 3 flows, %d packets"):format(
            bed.host_if, 2 * N + M), stderr)
      end)

      it("prints a table: flows most bytes first, columns aligned, units and rates", function()
         local sink, port = testbed.udp_sink(bed)
         local bin = proc.env("SOCKHOST_BIN")
         local src = proc.env("SOCKHOST_SOURCE_DIR")
         local out = os.tmpname()
         local pid = proc.spawn(("exec %s %s/scripts/sockex3.lua --iface %s --duration 2 >%s")
            :format(proc.quote(bin), proc.quote(src), bed.host_if, out))
         finally(function() -- busted keeps only the last finally of a test: one for all
            if proc.alive(pid) then proc.kill(pid, "KILL") end
            os.remove(out)
            sink:close()
         end)
         -- the table's header appears on the first tick, a second after attaching
         assert(proc.wait_for(function()
            return (proc.read_file(out) or ""):find("PROTO ", 1, true)
         end), "no table header from sockex3.lua: " .. tostring(proc.read_file(out)))
         local sport = traffic(sink, port)
         assert.is_true(proc.wait_gone(pid, 10))
         local text = assert(proc.read_file(out))
         local rows = texttable.parse(text, {
            header = "^PROTO +SOURCE +DESTINATION +PACKETS +BYTES +PKT/S +RATE$",
            left = { PROTO = true, SOURCE = true, DESTINATION = true } })
         local icmp = N * testbed.icmp_frame(PING_SIZE)
         assert.equal(3, #rows)
         -- most bytes first; the two ICMP flows are equal in bytes
         assert.same({ PROTO = "udp", SOURCE = ("%s:%d"):format(bed.ns_ip, sport),
            DESTINATION = ("%s:%d"):format(bed.host_ip, port), PACKETS = tostring(M),
            BYTES = fmt.bytes(M * testbed.udp_frame(UDP_SIZE)) },
            { PROTO = rows[1].PROTO, SOURCE = rows[1].SOURCE, DESTINATION = rows[1].DESTINATION,
               PACKETS = rows[1].PACKETS, BYTES = rows[1].BYTES })
         local got = {}
         for i = 2, 3 do
            local r = rows[i]
            got[#got + 1] = ("%s %s -> %s %s %s"):format(r.PROTO, r.SOURCE, r.DESTINATION,
               r.PACKETS, r.BYTES)
         end
         table.sort(got)
         local want = {
            ("icmp %s -> %s %d %s"):format(bed.host_ip, bed.ns_ip, N, fmt.bytes(icmp)),
            ("icmp %s -> %s %d %s"):format(bed.ns_ip, bed.host_ip, N, fmt.bytes(icmp)),
         }
         table.sort(want)
         assert.same(want, got)
         -- rates over the last second: the traffic was over before the final tick or not
         for _, r in ipairs(rows) do
            assert.matches("/s$", r["PKT/S"])
            assert.matches("B/s$", r.RATE)
         end
      end)
   end)

   it("refuses an interface that does not exist", function()
      local bin = proc.env("SOCKHOST_BIN")
      local src = proc.env("SOCKHOST_SOURCE_DIR")
      local ok, out, code = proc.sh(("%s %s/scripts/sockex3.lua --iface nosuch0 2>&1")
         :format(proc.quote(bin), proc.quote(src)))
      assert.is_false(ok)
      assert.equal(1, code)
      -- a tool's input error is one line and exit 1; the traceback only when asked for
      assert.equal("sockex3: interface 'nosuch0' does not exist\n", out)
      ok, out, code = proc.sh(("SOCKHOST_TRACEBACK=1 %s %s/scripts/sockex3.lua --iface nosuch0 2>&1")
         :format(proc.quote(bin), proc.quote(src)))
      assert.is_false(ok)
      assert.equal(1, code)
      assert.matches("^sockex3: interface 'nosuch0' does not exist\nstack traceback:\n", out)
   end)
end)
