-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.packets: crafted frames for prog:test_run (socket filters, cgroup_skb, ...),
-- built layer by layer from the inside out: each builder takes its payload and returns the bytes
-- of its header plus that payload, with lengths and checksums filled in. Pure Lua 5.4 (plus
-- the pure-Lua sockhost.net for address text).
--
--   local p = require "sockhost.testing.packets"
--   local frame = p.eth { type = p.ETH_P_IP, vlans = { { tpid = p.ETH_P_8021Q, vid = 5 } },
--      payload = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_UDP,
--         payload = p.udp { sport = 1000, dport = 2000, data = "hello" } } }
--
-- Checksums: IPv4 header, ICMP, and GRE (with csum = true) are computed over their own
-- bytes. A UDP, TCP or ICMPv6 payload is built with a zero checksum and the
-- enclosing ipv4/ipv6 builder fills it in from the pseudo-header (not for IPv4 fragments,
-- whose checksum would cover the reassembled datagram).
local net = require "sockhost.net"

local packets = {
   ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86DD, ETH_P_8021Q = 0x8100,
   ETH_P_8021AD = 0x88A8, ETH_P_MPLS_UC = 0x8847, ETH_P_MPLS_MC = 0x8848, ETH_P_TEB = 0x6558,
   IPPROTO_HOPOPTS = 0, IPPROTO_ICMP = 1, IPPROTO_IPIP = 4, IPPROTO_TCP = 6, IPPROTO_UDP = 17,
   IPPROTO_IPV6 = 41, IPPROTO_ROUTING = 43, IPPROTO_FRAGMENT = 44, IPPROTO_GRE = 47,
   IPPROTO_AH = 51, IPPROTO_ICMPV6 = 58, IPPROTO_DSTOPTS = 60,
   ETH_HLEN = 14, IPV4_HLEN = 20, IPV6_HLEN = 40, UDP_HLEN = 8, ICMP_HLEN = 8,
}

local function addr(text, len)
   local b = net.pton(text)
   if not b or #b ~= len then
      error(("not an IPv%d address: %s"):format(len == 4 and 4 or 6, tostring(text)), 3)
   end
   return b
end

local function mac(text)
   text = text or "00:00:00:00:00:00"
   local b = {}
   for h in text:gmatch("%x%x") do b[#b + 1] = tonumber(h, 16) end
   assert(#b == 6, "bad MAC address: " .. text)
   return string.char(table.unpack(b))
end

--- The Internet checksum (RFC 1071) of s: ones' complement of the ones' complement sum of
-- its 16-bit big-endian words (an odd last byte is padded with zero).
function packets.checksum(s)
   if #s % 2 == 1 then s = s .. "\0" end
   local sum = 0
   for i = 1, #s, 2 do
      sum = sum + (s:byte(i) << 8 | s:byte(i + 1))
   end
   while sum > 0xffff do sum = (sum & 0xffff) + (sum >> 16) end
   return ~sum & 0xffff
end

local function put16(s, off, v) -- off is 0-based
   return s:sub(1, off) .. string.pack(">I2", v) .. s:sub(off + 3)
end

-- Where the transport checksum sits in a payload of protocol proto, nil for none we fill.
local l4_csum_off = { [packets.IPPROTO_UDP] = 6, [packets.IPPROTO_TCP] = 16,
   [packets.IPPROTO_ICMPV6] = 2 }

local function fill_l4(payload, proto, pseudo)
   local off = l4_csum_off[proto]
   if not off or #payload < off + 2 or payload:sub(off + 1, off + 2) ~= "\0\0" then
      return payload
   end
   local c = packets.checksum(pseudo .. payload)
   if proto == packets.IPPROTO_UDP and c == 0 then c = 0xffff end -- 0 means "none" in UDP
   return put16(payload, off, c)
end

--- Ethernet frame: {dst=, src= (MAC text, default zeros), type= (EtherType of the payload),
-- vlans = {{tpid=, vid=, pcp=}, ...} (outermost first), payload=}. Under test_run an
-- all-zero destination makes the frame PACKET_HOST for the loopback device.
function packets.eth(o)
   local tags = {}
   for _, v in ipairs(o.vlans or {}) do
      tags[#tags + 1] = string.pack(">I2I2", v.tpid or packets.ETH_P_8021Q,
         (v.pcp or 0) << 13 | (v.vid or 0))
   end
   return mac(o.dst) .. mac(o.src) .. table.concat(tags) .. string.pack(">I2", o.type)
      .. (o.payload or "")
end

--- A VLAN tag's last 4 bytes (TCI, encapsulated type), for places where the TPID is the
-- previous header's type field (GRE protocol 0x8100): {vid=, type=, payload=}.
function packets.vlan(o)
   return string.pack(">I2I2", o.vid or 0, o.type) .. (o.payload or "")
end

--- MPLS label stack: {labels = {l1, l2, ...} (outermost first), ttl=, payload=}; the
-- bottom-of-stack bit is set on the last label.
function packets.mpls(o)
   local out = {}
   for i, l in ipairs(o.labels) do
      out[i] = string.pack(">I4", l << 12 | (i == #o.labels and 0x100 or 0) | (o.ttl or 64))
   end
   return table.concat(out) .. (o.payload or "")
end

--- IPv4: {src=, dst=, proto=, payload=, options= (raw bytes, padded with EOL to 4n),
-- ttl=, id=, df=, mf=, frag= (offset in 8-byte units), tos=}. The header checksum is
-- computed; a UDP/TCP payload with a zero checksum gets one (first and only fragments).
function packets.ipv4(o)
   local opts = o.options or ""
   opts = opts .. string.rep("\0", (4 - #opts % 4) % 4)
   local ihl = (20 + #opts) // 4
   assert(ihl <= 15, "IPv4 options longer than 40 bytes")
   local src, dst = addr(o.src, 4), addr(o.dst, 4)
   local payload = o.payload or ""
   local frag = (o.df and 0x4000 or 0) | (o.mf and 0x2000 or 0) | (o.frag or 0)
   if not o.mf and (o.frag or 0) == 0 then
      payload = fill_l4(payload, o.proto, src .. dst .. string.pack(">BBI2", 0, o.proto,
         #payload))
   end
   local hdr = string.pack(">BBI2I2I2BBI2", 0x40 | ihl, o.tos or 0, ihl * 4 + #payload,
      o.id or 1, frag, o.ttl or 64, o.proto, 0) .. src .. dst .. opts
   return put16(hdr, 10, packets.checksum(hdr)) .. payload
end

-- One IPv6 extension header (RFC 8200) of kind e.type, its next header being next:
--   HOPOPTS, DSTOPTS  {len= (8-byte units after the first 8, default 0)}: PadN filled
--   ROUTING           {len=}: type 0, segments left 0, len/2 addresses of zeros
--   FRAGMENT          {offset= (8-byte units), more=true, id=}
--   AH                {len= (32-bit words after the first 2, default 4: a 12-byte ICV), spi=}
local function ipv6_ext(e, next)
   local t = e.type
   if t == packets.IPPROTO_FRAGMENT then
      return string.pack(">BBI2I4", next, 0, (e.offset or 0) << 3 | (e.more and 1 or 0),
         e.id or 1)
   end
   if t == packets.IPPROTO_AH then
      local len = e.len or 4
      return string.pack(">BBI2I4I4", next, len, 0, e.spi or 1, e.seq or 1)
         .. string.rep("\0", (len + 2) * 4 - 12)
   end
   local len = e.len or 0
   local body = (len + 1) * 8 - 2
   if t == packets.IPPROTO_ROUTING then
      return string.pack(">BBBB", next, len, 0, 0) .. string.rep("\0", body - 2)
   end
   assert(t == packets.IPPROTO_HOPOPTS or t == packets.IPPROTO_DSTOPTS,
      "not an IPv6 extension header: " .. tostring(t))
   -- PadN over the options area (type 1, length, zeros)
   return string.pack(">BBBB", next, len, 1, body - 2) .. string.rep("\0", body - 2)
end

--- IPv6: {src=, dst=, next= (the upper-layer protocol), ext = {{type=, ...}, ...} (extension
-- headers in order, see ipv6_ext), payload=, hop_limit=, flow=}. A UDP/TCP/ICMPv6 payload
-- with a zero checksum gets one (not behind a fragment header: it would cover the
-- reassembled datagram).
function packets.ipv6(o)
   local src, dst = addr(o.src, 16), addr(o.dst, 16)
   local payload = o.payload or ""
   local ext = o.ext or {}
   local fragment = false
   for _, e in ipairs(ext) do fragment = fragment or e.type == packets.IPPROTO_FRAGMENT end
   if not fragment then
      payload = fill_l4(payload, o.next, src .. dst .. string.pack(">I4I3B", #payload, 0, o.next))
   end
   local hdrs = {}
   for i, e in ipairs(ext) do
      hdrs[i] = ipv6_ext(e, ext[i + 1] and ext[i + 1].type or o.next)
   end
   payload = table.concat(hdrs) .. payload
   return string.pack(">I4I2BB", 0x60000000 | (o.flow or 0), #payload,
      ext[1] and ext[1].type or o.next, o.hop_limit or 64) .. src .. dst .. payload
end

--- UDP: {sport=, dport=, data=}; checksum left zero for the IP builder to fill.
function packets.udp(o)
   local data = o.data or ""
   return string.pack(">I2I2I2I2", o.sport, o.dport, 8 + #data, 0) .. data
end

--- TCP: {sport=, dport=, seq=, ack=, flags= (default ACK), window=, data=}; 20-byte header,
-- checksum left zero for the IP builder to fill.
function packets.tcp(o)
   return string.pack(">I2I2I4I4BBI2I2I2", o.sport, o.dport, o.seq or 1, o.ack or 0, 5 << 4,
      o.flags or 0x10, o.window or 65535, 0, 0) .. (o.data or "")
end

--- ICMP echo: {type= (8 request, 0 reply), id=, seq=, data=}; checksum computed (ICMP for
-- IPv4 has no pseudo-header).
function packets.icmp_echo(o)
   local msg = string.pack(">BBI2I2I2", o.type or 8, 0, 0, o.id or 1, o.seq or 1)
      .. (o.data or "")
   return put16(msg, 2, packets.checksum(msg))
end

--- ICMPv6 echo: {type= (128 request, 129 reply), id=, seq=, data=}; checksum filled by
-- packets.ipv6 from the pseudo-header.
function packets.icmp6_echo(o)
   return string.pack(">BBI2I2I2", o.type or 128, 0, 0, o.id or 1, o.seq or 1) .. (o.data or "")
end

--- GRE (RFC 2784/2890): {proto= (EtherType of the payload; ETH_P_TEB for gretap, whose
-- payload is a whole Ethernet frame, packets.eth), csum=true, key=n, seq=n,
-- routing=true (sets the R bit, which parsers must refuse), version=, payload=}. With csum,
-- the checksum covers the GRE header and payload.
function packets.gre(o)
   local flags = (o.csum and 0x8000 or 0) | (o.routing and 0x4000 or 0)
      | (o.key and 0x2000 or 0) | (o.seq and 0x1000 or 0) | (o.version or 0)
   local hdr = string.pack(">I2I2", flags, o.proto)
   if o.csum then hdr = hdr .. "\0\0\0\0" end
   if o.key then hdr = hdr .. string.pack(">I4", o.key) end
   if o.seq then hdr = hdr .. string.pack(">I4", o.seq) end
   local msg = hdr .. (o.payload or "")
   if o.csum then msg = put16(msg, 4, packets.checksum(msg)) end
   return msg
end

--- ARP request (a non-IP frame's payload): {sha=, spa=, tpa=}.
function packets.arp(o)
   return string.pack(">I2I2BBI2", 1, 0x0800, 6, 4, 1) .. mac(o.sha) .. addr(o.spa, 4)
      .. mac(nil) .. addr(o.tpa, 4)
end

return packets
