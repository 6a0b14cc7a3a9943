-- SPDX-License-Identifier: GPL-2.0
-- sockex1 and sockex2 (the kernel's samples/bpf socket filters on a raw AF_PACKET socket):
-- crafted frames through test_run, and real traffic on a veth pair into the spec's own
-- network namespace, counted exactly: ping and UDP from the namespace to the host end, on
-- raw sockets bound to the host end. Also the scripts, run as a user runs them.
local sockhost = require "sockhost"
local net = require "sockhost.net"
local errors = require "helpers.errors"
local p = require "helpers.packets"
local proc = require "helpers.proc"
local testbed = require "helpers.testbed"

local N, PING_SIZE = 5, 100 -- ICMP echoes and their payload
local M, UDP_SIZE = 7, 200  -- UDP datagrams and their payload

-- Non-empty slots of sockex1's `protocols`: {[proto] = {packets=, bytes=}}.
local function protocols(obj)
   local t = {}
   for proto, v in pairs(obj:map("protocols")) do
      if v.packets > 0 then t[proto] = v end
   end
   return t
end

-- sockex2's `destinations` as {["addr"] = {packets=, bytes=}}.
local function destinations(obj)
   local t = {}
   for k, v in pairs(obj:map("destinations")) do
      t[net.ntop(k.addr, k.family)] = v
   end
   return t
end

local function frame_v4(dst, payload, opts)
   opts = opts or {}
   return p.eth { type = p.ETH_P_IP, vlans = opts.vlans,
      payload = p.ipv4 { src = opts.src or "10.0.0.1", dst = dst, proto = opts.proto or p.IPPROTO_UDP,
         mf = opts.mf, frag = opts.frag, options = opts.options,
         payload = payload or p.udp { sport = 1000, dport = 2000, data = "x" } } }
end

describe("sockex1 #tools", function()
   describe("test_run", function()
      -- test_run frames arrive as PACKET_HOST (all-zero destination MAC on loopback)
      it("counts frames per IP protocol, skb->len being the frame minus its Ethernet header",
         function()
            local obj <close> = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_INCOMING" } })
            local prog = obj:program("by_protocol")
            local udp = frame_v4("10.0.0.2")
            local icmp6 = p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
               dst = "fd00::2", next = p.IPPROTO_ICMPV6, payload = p.icmp6_echo { data = "ping" } } }
            local arp = p.eth { type = p.ETH_P_ARP, payload = p.arp { spa = "10.0.0.1", tpa = "10.0.0.2" } }
            assert.equal(0, prog:test_run({ data = udp, ["repeat"] = 3 }).retval)
            prog:test_run({ data = icmp6, ["repeat"] = 2 })
            prog:test_run({ data = arp })
            assert.same({
               [17] = { packets = 3, bytes = 3 * (#udp - 14) },
               [58] = { packets = 2, bytes = 2 * (#icmp6 - 14) },
            }, protocols(obj))
         end)

      it("counts nothing incoming when told to count outgoing packets (the default)", function()
         local obj <close> = sockhost.open("sockex1")
         obj:program("by_protocol"):test_run({ data = frame_v4("10.0.0.2"), ["repeat"] = 4 })
         assert.same({}, protocols(obj))
      end)

      -- test_run hands a tagged frame over as the wire has it (no tag taken out into
      -- skb->vlan_tci): skb->protocol is the TPID, and the tags are walked in the frame
      it("walks VLAN tags in the frame: 802.1Q, QinQ, double 802.1Q; four at most", function()
         local obj <close> = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_BOTH" } })
         local prog = obj:program("by_protocol")
         local function tagged(tpids, proto)
            local vlans = {}
            for i, tpid in ipairs(tpids) do vlans[i] = { tpid = tpid, vid = i } end
            return frame_v4("10.0.0.2", nil, { vlans = vlans, proto = proto })
         end
         local q, qinq = tagged({ p.ETH_P_8021Q }), tagged({ p.ETH_P_8021AD, p.ETH_P_8021Q })
         local qq = tagged({ p.ETH_P_8021Q, p.ETH_P_8021Q }, p.IPPROTO_TCP)
         local four = tagged({ p.ETH_P_8021AD, p.ETH_P_8021Q, p.ETH_P_8021Q, p.ETH_P_8021Q })
         local five = tagged({ p.ETH_P_8021AD, p.ETH_P_8021Q, p.ETH_P_8021Q, p.ETH_P_8021Q,
            p.ETH_P_8021Q })
         for _, f in ipairs({ q, qinq, qq, four, five }) do prog:test_run({ data = f }) end
         -- a tag followed by nothing, and a tag whose frame stops inside the IP header
         prog:test_run({ data = p.eth { type = p.ETH_P_8021Q, payload = "\0\5" } })
         prog:test_run({ data = p.eth { type = p.ETH_P_8021Q, payload = p.vlan { vid = 5,
            type = p.ETH_P_IP, payload = frame_v4("10.0.0.2"):sub(15, 15 + 8) } } })
         assert.same({
            [17] = { packets = 3, bytes = #q + #qinq + #four - 3 * 14 },
            [6] = { packets = 1, bytes = #qq - 14 },
         }, protocols(obj))
         assert.same({ packets = 1, bytes = #five - 14 }, obj.globals.unparsed)
      end)

      it("counts IPv6 under the protocol after its extension headers; a longer chain as unparsed",
         function()
            local obj <close> = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_BOTH" } })
            local prog = obj:program("by_protocol")
            local function v6(ext, next, payload)
               return p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1", dst = "fd00::2",
                  next = next or p.IPPROTO_UDP, ext = ext,
                  payload = payload or p.udp { sport = 1, dport = 2, data = "x" } } }
            end
            local H, R, D, F, A = p.IPPROTO_HOPOPTS, p.IPPROTO_ROUTING, p.IPPROTO_DSTOPTS,
               p.IPPROTO_FRAGMENT, p.IPPROTO_AH
            local all = v6({ { type = H }, { type = R, len = 2 }, { type = D, len = 1 }, { type = A } })
            local first = v6({ { type = F, more = true } })
            local later = v6({ { type = H }, { type = F, offset = 3 } }, p.IPPROTO_UDP, "middle..")
            local tcp = v6({ { type = D } }, p.IPPROTO_TCP, p.tcp { sport = 1, dport = 2 })
            local eight, nine = {}, {}
            for i = 1, 8 do eight[i] = { type = D } end
            for i = 1, 9 do nine[i] = { type = D } end
            local at_bound, past = v6(eight), v6(nine)
            for _, f in ipairs({ all, first, later, tcp, at_bound, past }) do
               prog:test_run({ data = f })
            end
            -- cut inside the hop-by-hop header (4 of its 8 bytes), and inside a longer one
            prog:test_run({ data = v6({ { type = H } }):sub(1, 14 + 40 + 4) })
            prog:test_run({ data = v6({ { type = H, len = 3 } }):sub(1, 14 + 40 + 24) })
            assert.same({
               [17] = { packets = 4, bytes = #all + #first + #later + #at_bound - 4 * 14 },
               [6] = { packets = 1, bytes = #tcp - 14 },
            }, protocols(obj))
            assert.same({ packets = 1, bytes = #past - 14 }, obj.globals.unparsed)
         end)

      it("counts IP headers without a payload",
         function()
            local obj <close> = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_BOTH" } })
            local prog = obj:program("by_protocol")
            local empty = frame_v4("10.0.0.2", "") -- protocol UDP, no UDP header
            local v6empty = p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
               dst = "fd00::2", next = p.IPPROTO_TCP } }
            prog:test_run({ data = empty })
            prog:test_run({ data = v6empty })
            -- (test_run refuses a frame whose IPv4 or IPv6 header is cut: the wire spec
            -- sends those, spec/tools/sockex_wire_spec.lua)
            assert.same({
               [17] = { packets = 1, bytes = #empty - 14 },
               [6] = { packets = 1, bytes = #v6empty - 14 },
            }, protocols(obj))
            assert.same({ packets = 0, bytes = 0 }, obj.globals.unparsed)
         end)
   end)

   describe("on a veth pair", function()
      local bed
      before_each(function() bed = testbed.create("sockex1") end)
      after_each(function() testbed.remove(bed) end)

      it("counts exactly the echoes, replies and datagrams in each direction", function()
         local objs, socks = {}, {}
         for _, dir in ipairs({ "OUTGOING", "INCOMING", "BOTH" }) do
            local obj = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_" .. dir } })
            local sock = sockhost.socket(bed.host_if)
            obj:program("by_protocol"):attach(sock)
            objs[dir], socks[#socks + 1] = obj, sock
         end
         local sink, port = testbed.udp_sink(bed)
         finally(function() -- busted keeps only the last finally of a test: one for all
            sink:close()
            for _, s in ipairs(socks) do s:close() end
            for _, o in pairs(objs) do o:close() end
         end)

         testbed.ping(bed, N, PING_SIZE)
         testbed.udp_from_ns(bed, port, M, UDP_SIZE)
         assert.equal(M, testbed.drain(sink, M))

         local icmp = N * testbed.icmp_frame(PING_SIZE)
         local udp = M * testbed.udp_frame(UDP_SIZE)
         -- leaving the host end: the echo replies only (the sink answers no datagram)
         assert.same({ [1] = { packets = N, bytes = icmp } }, protocols(objs.OUTGOING))
         assert.same({ [1] = { packets = N, bytes = icmp }, [17] = { packets = M, bytes = udp } },
            protocols(objs.INCOMING))
         assert.same({ [1] = { packets = 2 * N, bytes = 2 * icmp },
            [17] = { packets = M, bytes = udp } }, protocols(objs.BOTH))
      end)

      it("runs as scripts/sockex1.lua --json", function()
         local sink, port = testbed.udp_sink(bed)
         finally(function() sink:close() end)
         local records, stderr = testbed.run_script("sockex1", bed, "--direction both --duration 3",
            function()
               testbed.ping(bed, N, PING_SIZE)
               testbed.udp_from_ns(bed, port, M, UDP_SIZE)
               assert.equal(M, testbed.drain(sink, M))
            end)
         local final = records[#records]
         assert.is_true(final.final)
         for i = 1, #records - 1 do assert.is_false(records[i].final) end
         assert.equal(bed.host_if, final.iface)
         assert.equal("both", final.direction)
         assert.same({
            icmp = { number = 1, packets = 2 * N, bytes = 2 * N * testbed.icmp_frame(PING_SIZE) },
            udp = { number = 17, packets = M, bytes = M * testbed.udp_frame(UDP_SIZE) },
         }, final.protocols)
         assert.matches(("sockex1: %s %%(both%%) after [%%d.]+ s %%(duration%%): icmp %d bytes in %d "
            .. "packets, udp %d bytes in %d packets\n"):format(bed.host_if,
            2 * N * testbed.icmp_frame(PING_SIZE), 2 * N, M * testbed.udp_frame(UDP_SIZE), M), stderr)
      end)
   end)

   it("refuses an interface that does not exist", function()
      errors.raises(function() sockhost.socket("nosuch0") end, "interface 'nosuch0' does not exist")
   end)
end)

describe("sockex2 #tools", function()
   describe("test_run: the sample's flow dissector", function()
      local obj
      before_each(function() obj = sockhost.open("sockex2") end)
      after_each(function() obj:close() end)

      local function run(frame, n)
         assert.equal(0, obj:program("by_destination"):test_run({ data = frame, ["repeat"] = n or 1 }).retval)
         return (n or 1) * (#frame - 14)
      end

      it("counts per destination through VLAN tags, IPv4 options and IPv6", function()
         local plain = run(frame_v4("10.0.0.2"), 2)
         local q = run(frame_v4("10.0.0.2", nil, { vlans = { { vid = 7 } } }))
         local qinq = run(frame_v4("10.0.0.3", nil,
            { vlans = { { tpid = p.ETH_P_8021AD, vid = 1 }, { tpid = p.ETH_P_8021Q, vid = 2 } } }))
         local opts = run(frame_v4("10.0.0.4", nil, { options = "\148\4\0\0\1\1\1" })) -- RA, NOPs
         local v6 = run(p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
            dst = "fd00::2", next = p.IPPROTO_UDP, payload = p.udp { sport = 1, dport = 2 } } }, 3)
         assert.same({
            ["10.0.0.2"] = { packets = 3, bytes = plain + q },
            ["10.0.0.3"] = { packets = 1, bytes = qinq },
            ["10.0.0.4"] = { packets = 1, bytes = opts },
            ["fd00::2"] = { packets = 3, bytes = v6 },
         }, destinations(obj))
      end)

      it("counts tunnels under the inner destination, fragments under their own", function()
         local inner = p.ipv4 { src = "10.1.0.1", dst = "10.1.0.2", proto = p.IPPROTO_UDP,
            payload = p.udp { sport = 5, dport = 6, data = "in" } }
         local function gre(g)
            g.proto = g.proto or p.ETH_P_IP
            g.payload = g.payload or inner
            return frame_v4("192.168.0.2", p.gre(g), { proto = p.IPPROTO_GRE })
         end
         local b = 0
         b = b + run(gre {})
         b = b + run(gre { csum = true })
         b = b + run(gre { key = 42 })
         b = b + run(gre { seq = 7 })
         b = b + run(gre { csum = true, key = 42, seq = 7 })
         b = b + run(gre { proto = p.ETH_P_8021Q, payload = p.vlan { vid = 3, type = p.ETH_P_IP,
            payload = inner } })
         local ipip = run(frame_v4("192.168.0.2", inner, { proto = p.IPPROTO_IPIP }))
         local six4 = run(frame_v4("192.168.0.2", p.ipv6 { src = "fd00::1", dst = "fd00::9",
            next = p.IPPROTO_UDP, payload = p.udp { sport = 1, dport = 2 } }, { proto = p.IPPROTO_IPV6 }))
         -- GRE with the routing bit is not followed: counted under the outer destination
         local routed = run(gre { routing = true })
         local frag = run(frame_v4("10.9.9.9", inner, { proto = p.IPPROTO_IPIP, mf = true }))
         local later = run(frame_v4("10.9.9.9", "tail", { proto = p.IPPROTO_UDP, frag = 3 }))
         assert.same({
            ["10.1.0.2"] = { packets = 7, bytes = b + ipip },
            ["fd00::9"] = { packets = 1, bytes = six4 },
            ["192.168.0.2"] = { packets = 1, bytes = routed },
            ["10.9.9.9"] = { packets = 2, bytes = frag + later },
         }, destinations(obj))
      end)

      it("follows gretap into its inner frame (tagged or not), and IPv6 extension headers",
         function()
            local inner = p.ipv4 { src = "10.1.0.1", dst = "10.1.0.2", proto = p.IPPROTO_UDP,
               payload = p.udp { sport = 5, dport = 6, data = "in" } }
            local inner6 = p.ipv6 { src = "fd00::1", dst = "fd00::7", next = p.IPPROTO_UDP,
               payload = p.udp { sport = 5, dport = 6 } }
            local function teb(frame, g)
               g = g or {}
               g.proto, g.payload = p.ETH_P_TEB, frame
               return frame_v4("192.168.0.2", p.gre(g), { proto = p.IPPROTO_GRE })
            end
            local b = run(teb(p.eth { type = p.ETH_P_IP, payload = inner }))
            b = b + run(teb(p.eth { type = p.ETH_P_IP, payload = inner }, { key = 9, seq = 1 }))
            b = b + run(teb(p.eth { type = p.ETH_P_IP, vlans = { { vid = 4 } }, payload = inner }))
            b = b + run(teb(p.eth { type = p.ETH_P_IP, payload = inner,
               vlans = { { tpid = p.ETH_P_8021AD, vid = 1 }, { vid = 2 } } }))
            local six = run(teb(p.eth { type = p.ETH_P_IPV6, payload = inner6 }))
            -- GRE behind IPv6 extension headers; IPv4 in IPv6 behind a destination option
            local function over6(ext, next, payload)
               return p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
                  dst = "fd00::8", next = next, ext = ext, payload = payload } }
            end
            b = b + run(over6({ { type = p.IPPROTO_HOPOPTS }, { type = p.IPPROTO_ROUTING, len = 2 } },
               p.IPPROTO_GRE, p.gre { proto = p.ETH_P_IP, payload = inner }))
            b = b + run(over6({ { type = p.IPPROTO_DSTOPTS } }, p.IPPROTO_IPIP, inner))
            -- a fragment is not followed, first or later: its own destination
            local frag = run(over6({ { type = p.IPPROTO_FRAGMENT, more = true } }, p.IPPROTO_IPIP, inner))
            frag = frag + run(over6({ { type = p.IPPROTO_FRAGMENT, offset = 1 } }, p.IPPROTO_IPIP, "tail"))
            -- GRE of an EtherType that is not IP: the outer destination
            local other = run(frame_v4("192.168.0.9", p.gre { proto = 0x1234, payload = "zz" },
               { proto = p.IPPROTO_GRE }))
            other = other + run(teb(p.eth { type = p.ETH_P_ARP, payload = p.arp { spa = "10.0.0.1",
               tpa = "10.0.0.2" } }):gsub("\192\168\0\2", "\192\168\0\9", 1))
            assert.same({
               ["10.1.0.2"] = { packets = 6, bytes = b },
               ["fd00::7"] = { packets = 1, bytes = six },
               ["fd00::8"] = { packets = 2, bytes = frag },
               ["192.168.0.9"] = { packets = 2, bytes = other },
            }, destinations(obj))
            assert.same({ packets = 0, bytes = 0 }, obj.globals.unparsed)
         end)

      it("counts chains past the walks' bounds as unparsed, and never a cut header", function()
         local inner = p.ipv4 { src = "10.1.0.1", dst = "10.1.0.2", proto = p.IPPROTO_UDP,
            payload = p.udp { sport = 5, dport = 6 } }
         local nine = {}
         for i = 1, 9 do nine[i] = { type = p.IPPROTO_DSTOPTS } end
         local u = run(p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
            dst = "fd00::2", next = p.IPPROTO_UDP, ext = nine, payload = p.udp { sport = 1, dport = 2 } } })
         u = u + run(frame_v4("10.0.0.2", nil, { vlans = { { tpid = p.ETH_P_8021AD }, {}, {}, {}, {} } }))
         -- the same chain one header shorter is walked to its end
         local eight = { table.unpack(nine, 1, 8) }
         local ok = run(p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1",
            dst = "fd00::2", next = p.IPPROTO_UDP, ext = eight, payload = p.udp { sport = 1, dport = 2 } } })
         -- cut: inside gretap's inner Ethernet header, after it, inside the GRE key, inside an
         -- IPv6 extension header; a VLAN tag in the GRE payload followed by nothing
         local gretap = frame_v4("192.168.0.2", p.gre { proto = p.ETH_P_TEB, payload = p.eth {
            type = p.ETH_P_IP, payload = inner } }, { proto = p.IPPROTO_GRE })
         run(gretap:sub(1, 14 + 20 + 4 + 10))
         run(gretap:sub(1, 14 + 20 + 4 + 14))
         run(frame_v4("192.168.0.2", p.gre { proto = p.ETH_P_IP, key = 1, payload = inner },
            { proto = p.IPPROTO_GRE }):sub(1, 14 + 20 + 4 + 2))
         run(p.eth { type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1", dst = "fd00::3",
            next = p.IPPROTO_UDP, ext = { { type = p.IPPROTO_HOPOPTS, len = 1 } } } }:sub(1, 14 + 40 + 12))
         run(frame_v4("192.168.0.2", p.gre { proto = p.ETH_P_8021Q, payload = "" }, { proto = p.IPPROTO_GRE }))
         assert.same({ ["fd00::2"] = { packets = 1, bytes = ok } }, destinations(obj))
         assert.same({ packets = 2, bytes = u }, obj.globals.unparsed)
      end)

      it("does not count non-IP or truncated frames", function()
         run(p.eth { type = p.ETH_P_ARP, payload = p.arp { spa = "10.0.0.1", tpa = "10.0.0.2" } })
         -- (test_run itself refuses a frame of type IPv4 shorter than an IPv4 header)
         run(frame_v4("10.0.0.2", p.ipv4 { src = "10.1.0.1", dst = "10.1.0.2", proto = 17 }:sub(1, 19),
            { proto = p.IPPROTO_IPIP })) -- the inner header is one byte short
         run(p.eth { type = p.ETH_P_8021Q, payload = "\0" }) -- tag cut short
         assert.same({}, destinations(obj))
         assert.equal(0, obj.globals.missed)
      end)
   end)

   describe("on a veth pair", function()
      local bed
      before_each(function() bed = testbed.create("sockex2") end)
      after_each(function() testbed.remove(bed) end)

      local function traffic(sink, port)
         testbed.ping(bed, N, PING_SIZE)
         testbed.udp_from_ns(bed, port, M, UDP_SIZE)
         assert.equal(M, testbed.drain(sink, M))
      end

      local function expected()
         local icmp, udp = testbed.icmp_frame(PING_SIZE), testbed.udp_frame(UDP_SIZE)
         return {
            [bed.host_ip] = { packets = N + M, bytes = N * icmp + M * udp },
            [bed.ns_ip] = { packets = N, bytes = N * icmp },
         }
      end

      it("counts exactly the packets and bytes to each address, both directions", function()
         local obj <close> = sockhost.open("sockex2")
         local sock <close> = sockhost.socket(bed.host_if)
         obj:program("by_destination"):attach(sock)
         local sink, port = testbed.udp_sink(bed)
         finally(function() sink:close() end)
         traffic(sink, port)
         assert.same(expected(), destinations(obj))
         assert.equal(0, obj.globals.missed)
      end)

      it("runs as scripts/sockex2.lua --json", function()
         local sink, port = testbed.udp_sink(bed)
         finally(function() sink:close() end)
         local records, stderr = testbed.run_script("sockex2", bed, "--duration 3",
            function() traffic(sink, port) end)
         local final = records[#records]
         assert.is_true(final.final)
         assert.equal(0, final.missed)
         local got = {}
         for _, d in ipairs(final.destinations) do
            assert.equal("inet", d.family)
            got[d.addr] = { packets = d.packets, bytes = d.bytes }
         end
         assert.same(expected(), got)
         -- most bytes first
         assert.equal(bed.host_ip, final.destinations[1].addr)
         local e = expected()
         assert.matches(("sockex2: %s after [%%d.]+ s %%(duration%%): 2 destinations, %d packets, "
            .. "%d bytes, 0 missed\n"):format(bed.host_if, 2 * N + M,
            e[bed.host_ip].bytes + e[bed.ns_ip].bytes), stderr)
      end)
   end)
end)

describe("sockex1, sockex2, sockex3 #tools", function()
   -- One frame with every kind of header the parsers walk, cut after each of its bytes: each
   -- tool counts the prefix only once the headers it needs are all there, and nothing else
   -- (no wrong key, no unparsed). test_run checks no more than the Ethernet header of a frame
   -- whose type is a VLAN TPID, so every cut reaches the programs.
   it("survive a frame cut at every byte, counting it only once their headers are whole", function()
      local udp = p.udp { sport = 7000, dport = 8000, data = "payload" }
      local inner6 = p.ipv6 { src = "fd00::1", dst = "fd00::9", next = p.IPPROTO_UDP,
         ext = { { type = p.IPPROTO_HOPOPTS }, { type = p.IPPROTO_DSTOPTS, len = 1 } }, payload = udp }
      local frame = p.eth { type = p.ETH_P_IP, vlans = { { tpid = p.ETH_P_8021AD, vid = 1 }, { vid = 2 } },
         payload = p.ipv4 { src = "192.168.0.1", dst = "192.168.0.2", proto = p.IPPROTO_GRE,
            payload = p.gre { proto = p.ETH_P_TEB, key = 5, payload = p.eth { type = p.ETH_P_IPV6,
               vlans = { { vid = 3 } }, payload = inner6 } } } }
      local outer_ip = 14 + 8 + 20                       -- sockex1: the outer IPv4 header
      local inner_exts = #frame - #udp                    -- sockex2: the inner chain walked
      local ports = inner_exts + 4                        -- sockex3: the ports
      local s1 <close> = sockhost.open("sockex1", { globals = { direction = "SOCKEX1_BOTH" } })
      local s2 <close> = sockhost.open("sockex2")
      local s3 <close> = sockhost.open("sockex3")
      local jmp = s3:map("jmp_table")
      for name, slot in pairs({ parse_vlan = 1, parse_mpls = 2, parse_ip = 3, parse_ipv6 = 4 }) do
         jmp[slot] = s3:program(name)
      end
      local want1, want2, want3 = { packets = 0, bytes = 0 }, { packets = 0, bytes = 0 },
         { packets = 0, bytes = 0 }
      local function add(w, len) w.packets, w.bytes = w.packets + 1, w.bytes + len - 14 end
      for len = 14, #frame do
         local cut = frame:sub(1, len)
         assert.equal(0, s1:program("by_protocol"):test_run({ data = cut }).retval)
         assert.equal(0, s2:program("by_destination"):test_run({ data = cut }).retval)
         assert.equal(0, s3:program("dispatch"):test_run({ data = cut }).retval)
         if len >= outer_ip then add(want1, len) end
         if len >= inner_exts then add(want2, len) end
         if len >= ports then add(want3, len) end
      end
      assert.same({ [47] = want1 }, protocols(s1))
      assert.same({ ["fd00::9"] = want2 }, destinations(s2))
      local got3 = {}
      for k, v in pairs(s3:map("flows")) do
         got3[("%s.%d -> %s.%d"):format(net.ntop(k.src, k.family), k.sport, net.ntop(k.dst, k.family),
            k.dport)] = v
      end
      assert.same({ ["fd00::1.7000 -> fd00::9.8000"] = want3 }, got3)
      for _, o in ipairs({ s1, s2, s3 }) do
         assert.same({ packets = 0, bytes = 0 }, o.globals.unparsed)
      end
   end)
end)

describe("sockex1, sockex2, sockex3 without privilege #tools", function()
   -- Each error names what its own call needs: the object's load (socket filters) CAP_BPF, the
   -- raw AF_PACKET socket CAP_NET_RAW; and those two are all the tools need.
   local bed
   setup(function() bed = testbed.create("sxpriv") end)
   teardown(function() testbed.remove(bed) end)

   -- scripts/<name>.lua --iface <host end> --duration 0.2 as nobody with only caps (ambient
   -- capabilities, "+bpf,+net_raw"; "" none) -> exit code, stderr
   local function as_nobody(name, caps)
      local keep = caps ~= "" and ("--inh-caps=%s --ambient-caps=%s "):format(caps, caps) or ""
      local err = os.tmpname()
      local _, _, code = proc.sh(("setpriv --reuid=65534 --regid=65534 --clear-groups %s%s %s "
         .. "--iface %s --duration 0.2 >/dev/null 2>%s"):format(keep,
         proc.quote(proc.env("SOCKHOST_BIN")),
         proc.quote(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name .. ".lua"),
         bed.host_if, err))
      local text = proc.read_file(err)
      os.remove(err)
      return code, text
   end

   for _, name in ipairs({ "sockex1", "sockex2", "sockex3" }) do
      it(name .. " says CAP_BPF for the load and CAP_NET_RAW for the raw socket", function()
         local load = ("%s: object '%s/bpf/%s.bpf.o': load failed: Operation not permitted "
            .. "(loading it needs root or CAP_BPF)\n"):format(name,
            proc.env("SOCKHOST_BUILD_DIR"), name)
         assert.same({ 1, load }, { as_nobody(name, "") })
         assert.same({ 1, load }, { as_nobody(name, "+net_raw") })
         assert.same({ 1, ("%s: raw socket on interface '%s': Operation not permitted (a raw "
            .. "AF_PACKET socket needs root or CAP_NET_RAW)\n"):format(name, bed.host_if) },
            { as_nobody(name, "+bpf") })
         -- and the two named are enough
         local code, err = as_nobody(name, "+bpf,+net_raw")
         assert.equal(0, code, err)
         assert.matches("^" .. name .. ": counting .* after [%d.]+ s %(duration%): ", err)
      end)
   end
end)
