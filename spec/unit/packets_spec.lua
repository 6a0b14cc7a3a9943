-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/packets.lua, the frame builder the socket filter specs craft their test_run
-- input with (pure Lua): checksums as receivers verify them, and layouts byte for byte.
local net = require "sockhost.net"
local p = require "helpers.packets"

describe("helpers.packets #unit", function()
   it("fills in checksums the way receivers verify them", function()
      -- RFC 1071 example header (Wikipedia's IPv4 checksum example): checksum 0xb861
      local ip = p.ipv4 { src = "192.168.0.1", dst = "192.168.0.199", proto = p.IPPROTO_UDP, id = 0,
         df = true, payload = string.rep("\0", 0x73 - 20) }
      local hex = ip:sub(1, 20):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
      assert.equal("45000073000040004011b861c0a80001c0a800c7", hex)
      assert.equal(0, p.checksum(ip:sub(1, 20)))
      -- a transport checksum over pseudo-header + segment verifies to 0
      local seg = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_UDP,
         payload = p.udp { sport = 1, dport = 2, data = "odd" } }:sub(21)
      assert.equal(0, p.checksum(net.pton("10.0.0.1") .. net.pton("10.0.0.2")
         .. string.pack(">BBI2", 0, 17, #seg) .. seg))
      local icmp6 = p.ipv6 { src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_ICMPV6,
         payload = p.icmp6_echo { data = "x" } }:sub(41)
      assert.equal(0, p.checksum(net.pton("fd00::1") .. net.pton("fd00::2")
         .. string.pack(">I4I3B", #icmp6, 0, 58) .. icmp6))
      assert.equal(0, p.checksum(p.icmp_echo { data = "abc" }))
      assert.equal(0, p.checksum(p.gre { proto = p.ETH_P_IP, csum = true, key = 1, payload = "12345" }))
   end)

   it("chains IPv6 extension headers byte for byte", function()
      local function hex(b) return (b:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
      local pkt = p.ipv6 { src = "fd00::1", dst = "fd00::2", next = p.IPPROTO_UDP, payload = "",
         ext = { { type = p.IPPROTO_HOPOPTS }, { type = p.IPPROTO_ROUTING, len = 2 },
            { type = p.IPPROTO_DSTOPTS, len = 1 }, { type = p.IPPROTO_AH },
            { type = p.IPPROTO_FRAGMENT, offset = 3, more = true, id = 7 } } }
      -- payload length covers the headers; the fixed header points at the first one
      assert.equal(8 + 24 + 16 + 24 + 8, string.unpack(">I2", pkt, 5))
      assert.equal(p.IPPROTO_HOPOPTS, pkt:byte(7))
      local ext = pkt:sub(41)
      assert.equal("2b00" .. "0104" .. "00000000", hex(ext:sub(1, 8)))             -- PadN 4
      assert.equal("3c02" .. "0000" .. ("00"):rep(20), hex(ext:sub(9, 32)))          -- type 0
      assert.equal("3301" .. "010c" .. ("00"):rep(12), hex(ext:sub(33, 48)))          -- PadN 12
      assert.equal("2c040000" .. "00000001" .. "00000001" .. ("00"):rep(12), hex(ext:sub(49, 72)))
      assert.equal("1100" .. "0019" .. "00000007", hex(ext:sub(73, 80)))              -- 3 << 3 | M
      -- gretap's payload is a whole frame
      assert.equal(0x6558, string.unpack(">I2", p.gre { proto = p.ETH_P_TEB, payload = p.eth { type = 1 } }, 3))
   end)
end)
