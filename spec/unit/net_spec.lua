-- SPDX-License-Identifier: GPL-2.0
-- sockhost.net: pure Lua, no kernel; runs anywhere busted runs.

local net = require "sockhost.net"

local function bytes(...)
   return string.char(...)
end

local little_endian = string.pack("=I2", 1):byte(1) == 1

describe("sockhost.net #unit", function()
   it("loads without sockhost.core", function()
      assert.is_nil(package.loaded["sockhost.core"])
      assert.is_nil(package.loaded["sockhost"])
   end)

   describe("byte order", function()
      it("swaps 16 and 32 bits on this little-endian host", function()
         if not little_endian then
            pending("big-endian host: the swaps are the identity")
            return
         end
         assert.equal(0x5000, net.htons(80))
         assert.equal(80, net.ntohs(0x5000))
         assert.equal(0x0100007f, net.htonl(0x7f000001))
         assert.equal(0x7f000001, net.ntohl(0x0100007f))
         assert.equal(0x78563412, net.ntohl(0x12345678))
      end)

      it("round-trips edge values", function()
         for _, n in ipairs({ 0, 1, 0xff, 0x100, 0x8000, 0xffff }) do
            assert.equal(n, net.ntohs(net.htons(n)))
         end
         for _, n in ipairs({ 0, 1, 0x80000000, 0xffffffff, 0x00ff00ff }) do
            assert.equal(n, net.ntohl(net.htonl(n)))
         end
      end)

      it("agrees with string.pack", function()
         assert.equal(string.pack(">I2", 443), string.pack("=I2", net.htons(443)))
         assert.equal(string.pack(">I4", 0xc0000201), string.pack("=I4", net.htonl(0xc0000201)))
      end)

      it("accepts integral floats", function()
         assert.equal(little_endian and 0x5000 or 80, net.htons(80.0))
      end)

      it("rejects values that do not fit", function()
         assert.has_error(function() net.htons(0x10000) end,
            "bad argument #1 to 'htons' (65536 does not fit in 16 bits)")
         assert.has_error(function() net.ntohl(-1) end,
            "bad argument #1 to 'ntohl' (-1 does not fit in 32 bits)")
         assert.has_error(function() net.ntohs("80") end,
            "bad argument #1 to 'ntohs' (integer expected, got string)")
         assert.has_error(function() net.ntohs(1.5) end,
            "bad argument #1 to 'ntohs' (integer expected, got non-integer number)")
      end)
   end)

   describe("ntop()", function()
      it("formats IPv4 from 4 bytes", function()
         assert.equal("127.0.0.1", net.ntop(bytes(127, 0, 0, 1)))
         assert.equal("255.255.255.255", net.ntop(bytes(255, 255, 255, 255), 2))
         assert.equal("0.0.0.0", net.ntop(bytes(0, 0, 0, 0), "inet"))
      end)

      it("takes the first 4 of 16 bytes for family 2 (the struct convention)", function()
         local s = bytes(10, 1, 2, 3) .. ("\0"):rep(12)
         assert.equal("10.1.2.3", net.ntop(s, 2))
         assert.equal("10.1.2.3", net.ntop(s, "inet"))
      end)

      it("accepts sequences of byte integers", function()
         assert.equal("192.168.0.1", net.ntop({ 192, 168, 0, 1 }))
         assert.equal("::1", net.ntop({ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }))
      end)

      it("formats IPv6 per RFC 5952", function()
         local cases = {
            { "::", "::" },
            { "::1", "::1" },
            { "1::", "1::" },
            { "2001:db8::1", "2001:db8::1" },
            -- lowercase, no leading zeros
            { "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
            -- a single zero group is not compressed
            { "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
            -- the longest run wins
            { "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
            -- the first of equal runs wins
            { "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
            { "fe80::1:2:3:4", "fe80::1:2:3:4" },
            { "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8" },
            { "0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7" },
            { "1:0:0:0:0:0:0:0", "1::" },
            -- IPv4-mapped in mixed notation
            { "::ffff:127.0.0.1", "::ffff:127.0.0.1" },
            { "0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1" },
            -- not mapped: plain hex
            { "::fffe:c000:201", "::fffe:c000:201" },
            { "64:ff9b::c000:201", "64:ff9b::c000:201" },
         }
         for _, c in ipairs(cases) do
            local s, fam = net.pton(c[1])
            assert.equal(10, fam, c[1])
            assert.equal(c[2], net.ntop(s), c[1])
            assert.equal(c[2], net.ntop(s, 10), c[1])
            assert.equal(c[2], net.ntop(s, "inet6"), c[1])
         end
      end)

      it("raises on bad input", function()
         assert.has_error(function() net.ntop(("\0"):rep(5)) end,
            "bad argument #1 to 'ntop' (5 bytes is not an IPv4 or IPv6 address)")
         assert.has_error(function() net.ntop(("\0"):rep(4), 10) end,
            "bad argument #1 to 'ntop' (4 bytes is not an IPv6 address)")
         assert.has_error(function() net.ntop(("\0"):rep(4), 7) end,
            "bad argument #2 to 'ntop' (address family 2/\"inet\" or 10/\"inet6\" expected, got 7)")
         assert.has_error(function() net.ntop({ 1, 2, 300, 4 }) end,
            "bad argument #1 to 'ntop' (element 3 is not a byte: 300)")
         assert.has_error(function() net.ntop(42) end,
            "bad argument #1 to 'ntop' (string or sequence of bytes expected, got number)")
      end)
   end)

   describe("pton()", function()
      it("parses IPv4", function()
         assert.same({ bytes(1, 2, 3, 4), 2 }, { net.pton("1.2.3.4") })
         assert.same({ bytes(0, 0, 0, 0), 2 }, { net.pton("0.0.0.0") })
         assert.same({ bytes(255, 255, 255, 255), 2 }, { net.pton("255.255.255.255") })
      end)

      it("parses IPv6 forms", function()
         local loop = ("\0"):rep(15) .. "\1"
         assert.same({ loop, 10 }, { net.pton("::1") })
         assert.same({ loop, 10 }, { net.pton("0:0:0:0:0:0:0:1") })
         assert.same({ ("\0"):rep(16), 10 }, { net.pton("::") })
         assert.same({ ("\0"):rep(10) .. "\255\255" .. bytes(10, 0, 0, 1), 10 },
            { net.pton("::ffff:10.0.0.1") })
         assert.same({ ("\0"):rep(10) .. "\255\255" .. bytes(10, 0, 0, 1), 10 },
            { net.pton("::FFFF:a00:1") })
         assert.same({ bytes(0x20, 0x01, 0x0d, 0xb8) .. ("\0"):rep(11) .. "\1", 10 },
            { net.pton("2001:db8::1") })
         assert.same({ bytes(0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0), 10 },
            { net.pton("1:2:3:4:5:6:7::") })
         assert.same({ bytes(0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4), 10 },
            { net.pton("1:2:3:4:5:6:1.2.3.4") })
      end)

      it("returns nil and a message for invalid text", function()
         local bad = {
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "01.2.3.4", "1..2.3", "a.b.c.d",
            " 1.2.3.4", "1.2.3.4 ", ":", ":::", "1:::2", "1::2::3", "12345::", "g::",
            "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", ":1::", "1::2:",
            "::1.2.3", "::1.2.3.256", "1.2.3.4::", "::1.2.3.4:5", "fe80::1%eth0",
         }
         for _, text in ipairs(bad) do
            assert.same({ nil, "invalid IP address '" .. text .. "'" }, { net.pton(text) })
         end
      end)

      it("raises for a non-string", function()
         assert.has_error(function() net.pton(nil) end,
            "bad argument #1 to 'pton' (string expected, got nil)")
      end)

      it("round-trips through ntop", function()
         for _, text in ipairs({ "10.20.30.40", "::1", "fe80::1", "2001:db8:1:2:3:4:5:6",
            "::ffff:1.2.3.4", "1::", "2001:db8::8:0:0:1" }) do
            assert.equal(text, net.ntop(net.pton(text)))
         end
      end)
   end)

   describe("bytes()", function()
      it("turns a string into a sequence of byte integers", function()
         assert.same({ 127, 0, 0, 1 }, net.bytes((net.pton("127.0.0.1"))))
         assert.same({}, net.bytes(""))
      end)

      it("zero-pads to a field's length", function()
         assert.same({ 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
            net.bytes(net.pton("10.0.0.1"), 16))
      end)

      it("round-trips through ntop as a decoded __u8[16] field would", function()
         local field = net.bytes(net.pton("10.0.0.1"), 16)
         assert.equal("10.0.0.1", net.ntop(field, 2))
         assert.equal("fe80::1", net.ntop(net.bytes(net.pton("fe80::1"), 16), 10))
      end)

      it("raises on misuse", function()
         assert.has_error(function() net.bytes(1) end,
            "bad argument #1 to 'bytes' (string expected, got number)")
         assert.has_error(function() net.bytes("abcd", 2) end,
            "bad argument #2 to 'bytes' (length of at least 4 expected, got 2)")
      end)
   end)

   describe("ipv4()", function()
      it("formats a __u32 holding network-order bytes", function()
         -- 127.0.0.1 as struct bpf_sock_ops.local_ip4 reads on this host
         local n = string.unpack("=I4", bytes(127, 0, 0, 1))
         assert.equal("127.0.0.1", net.ipv4(n))
         assert.equal("127.0.0.1", net.ipv4(net.htonl(0x7f000001)))
         assert.equal("0.0.0.0", net.ipv4(0))
         assert.equal("255.255.255.255", net.ipv4(0xffffffff))
      end)

      it("rejects values that do not fit", function()
         assert.has_error(function() net.ipv4(1 << 32) end,
            "bad argument #1 to 'ipv4' (4294967296 does not fit in 32 bits)")
      end)
   end)

   describe("endpoint()", function()
      it("joins address and port, bracketing IPv6", function()
         assert.equal("127.0.0.1:8080", net.endpoint(bytes(127, 0, 0, 1), 2, 8080))
         assert.equal("[::1]:22", net.endpoint(net.pton("::1"), 10, 22))
         assert.equal("[::ffff:10.0.0.1]:443", net.endpoint(net.pton("::ffff:10.0.0.1"), 10, 443))
      end)
   end)

   describe("names", function()
      it("family_name()", function()
         assert.equal("inet", net.family_name(2))
         assert.equal("inet6", net.family_name(10))
         assert.equal("unix", net.family_name(1))
         assert.equal("packet", net.family_name(17))
         assert.is_nil(net.family_name(99))
         assert.is_nil(net.family_name("x"))
      end)

      it("sockops_op_name() covers every BPF_SOCK_OPS_* op", function()
         local expected = {
            [0] = "void", "timeout_init", "rwnd_init", "tcp_connect_cb", "active_established_cb",
            "passive_established_cb", "needs_ecn", "base_rtt", "rto_cb", "retrans_cb",
            "state_cb", "tcp_listen_cb", "rtt_cb", "parse_hdr_opt_cb", "hdr_opt_len_cb",
            "write_hdr_opt_cb", "tstamp_sched_cb", "tstamp_snd_sw_cb", "tstamp_snd_hw_cb",
            "tstamp_ack_cb", "tstamp_sendmsg_cb",
         }
         for n = 0, #expected do
            assert.equal(expected[n], net.sockops_op_name(n), n)
         end
         assert.is_nil(net.sockops_op_name(#expected + 1))
         assert.is_nil(net.sockops_op_name(-1))
      end)

      it("sockops_op_name() normalises enumerator names", function()
         assert.equal("state_cb", net.sockops_op_name("BPF_SOCK_OPS_STATE_CB"))
         assert.equal("rtt_cb", net.sockops_op_name("rtt_cb"))
      end)

      it("tcp_state_name()", function()
         assert.equal("established", net.tcp_state_name(1))
         assert.equal("syn_sent", net.tcp_state_name(2))
         assert.equal("time_wait", net.tcp_state_name(6))
         assert.equal("close", net.tcp_state_name(7))
         assert.equal("listen", net.tcp_state_name(10))
         assert.equal("new_syn_recv", net.tcp_state_name(12))
         assert.equal("bound_inactive", net.tcp_state_name(13))
         assert.is_nil(net.tcp_state_name(0))
         assert.is_nil(net.tcp_state_name(14))
         assert.equal("listen", net.tcp_state_name("BPF_TCP_LISTEN"))
         assert.equal("close_wait", net.tcp_state_name("TCP_CLOSE_WAIT"))
      end)

      it("proto_name()", function()
         assert.equal("ip", net.proto_name(0))
         assert.equal("icmp", net.proto_name(1))
         assert.equal("tcp", net.proto_name(6))
         assert.equal("udp", net.proto_name(17))
         assert.equal("icmpv6", net.proto_name(58))
         assert.equal("sctp", net.proto_name(132))
         assert.equal("mptcp", net.proto_name(262))
         assert.is_nil(net.proto_name(200))
         assert.equal("udp", net.proto_name("IPPROTO_UDP"))
      end)
   end)
end)
