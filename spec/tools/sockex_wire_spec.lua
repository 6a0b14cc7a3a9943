-- SPDX-License-Identifier: GPL-2.0
-- sockex1/2/3 against tshark on the same interface: hand-built frames (untagged, 802.1Q,
-- QinQ, double 802.1Q, GRE with key/sequence, gretap with and without inner tags, IPIP, IPv6
-- in IPv4, IPv6 with hop-by-hop, routing, destination options and AH, IPv6 and IPv4
-- fragments, and bad ones) leave and arrive on one end of a veth pair in the spec's own
-- network namespace; the tools run there as a user runs them (--json, and sockex3's table),
-- tshark captures on the same end, and every tool's packets and bytes per key must equal what
-- tshark's dissection of the capture gives under that tool's documented rules (the model
-- functions below). VLAN-tagged frames go out with the tag in the frame and come in with the
-- tag taken out by the kernel: tshark shows the tag both ways, and so must the tools' bytes.
local cjson = require "cjson"
local p = require "helpers.packets"
local proc = require "helpers.proc"
local wire = require "helpers.wire"
local texttable = require "helpers.texttable"
local fmt = require "sockhost.fmt"

-- Source MACs say where a frame was sent from (the last byte: 0a out of a, 0b out of b, so
-- in on a) and, for the bad frames, which one it is (the fifth byte: its index).
local DST = "02:00:00:00:00:99" -- nobody's: the frames are not for the stack
local function mac(from, bad) return ("02:00:00:%s:%02x:%s"):format(bad and "ba" or "00", bad or 0, from) end

local function eth(from, type, payload, vlans)
   return p.eth { dst = DST, src = mac(from), type = type, vlans = vlans, payload = payload }
end

local function udp4(src, dst, sport, dport, data, opts)
   opts = opts or {}
   return p.ipv4 { src = src, dst = dst, proto = p.IPPROTO_UDP, mf = opts.mf, frag = opts.frag,
      payload = opts.raw or p.udp { sport = sport, dport = dport, data = data } }
end

local function udp6(src, dst, sport, dport, data, ext)
   return p.ipv6 { src = src, dst = dst, next = p.IPPROTO_UDP, ext = ext,
      payload = p.udp { sport = sport, dport = dport, data = data } }
end

local H, R, D, F, A = p.IPPROTO_HOPOPTS, p.IPPROTO_ROUTING, p.IPPROTO_DSTOPTS,
   p.IPPROTO_FRAGMENT, p.IPPROTO_AH

-- Every kind the tools follow, each sent a few times (count) from one end. Sizes differ so
-- that a byte count off by a tag shows.
local function good_frames(from)
   local inner = udp4("10.1.0.1", "10.1.0.2", 40001, 40002, ("i"):rep(30))
   local inner6 = udp6("fd00:1::1", "fd00:1::2", 40003, 40004, ("j"):rep(20))
   local ip = p.ETH_P_IP
   local kinds = {
      { 3, eth(from, ip, udp4("10.0.0.1", "10.0.0.2", 40000, 40010, ("u"):rep(100))) },
      { 2, eth(from, ip, p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_TCP,
         payload = p.tcp { sport = 40020, dport = 80, data = ("t"):rep(60) } }) },
      { 2, eth(from, ip, p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_ICMP,
         payload = p.icmp_echo { data = ("p"):rep(56) } }) },
      { 3, eth(from, ip, udp4("10.0.0.1", "10.0.0.3", 40000, 40011, ("q"):rep(200)), { { vid = 10 } }) },
      { 2, eth(from, ip, udp4("10.0.0.1", "10.0.0.4", 40000, 40012, ("Q"):rep(50)),
         { { tpid = p.ETH_P_8021AD, vid = 100 }, { vid = 20 } }) },
      { 2, eth(from, ip, udp4("10.0.0.1", "10.0.0.5", 40000, 40013, ("d"):rep(70)),
         { { vid = 30 }, { vid = 31 } }) },
      { 2, eth(from, p.ETH_P_IPV6, udp6("fd00::1", "fd00::2", 40000, 40014, ("6"):rep(90)), { { vid = 40 } }) },
      { 3, eth(from, ip, p.ipv4 { src = "192.168.7.1", dst = "192.168.7.2", proto = p.IPPROTO_GRE,
         payload = p.gre { proto = ip, key = 7, seq = 1, payload = inner } }) },
      { 3, eth(from, ip, p.ipv4 { src = "192.168.7.1", dst = "192.168.7.3", proto = p.IPPROTO_GRE,
         payload = p.gre { proto = p.ETH_P_TEB, payload = p.eth { dst = DST, src = mac(from),
            type = ip, payload = inner } } }) },
      { 2, eth(from, ip, p.ipv4 { src = "192.168.7.1", dst = "192.168.7.3", proto = p.IPPROTO_GRE,
         payload = p.gre { proto = p.ETH_P_TEB, csum = true, payload = p.eth { dst = DST,
            src = mac(from), type = p.ETH_P_IPV6, vlans = { { vid = 5 } }, payload = inner6 } } }) },
      { 2, eth(from, ip, p.ipv4 { src = "192.168.7.1", dst = "192.168.7.4", proto = p.IPPROTO_IPIP,
         payload = inner }) },
      { 2, eth(from, ip, p.ipv4 { src = "192.168.7.1", dst = "192.168.7.5", proto = p.IPPROTO_IPV6,
         payload = inner6 }) },
      { 3, eth(from, p.ETH_P_IPV6, udp6("fd00::1", "fd00::3", 40000, 40015, ("e"):rep(40),
         { { type = H }, { type = R, len = 2 }, { type = D, len = 1 }, { type = A } })) },
      { 2, eth(from, p.ETH_P_IPV6, p.ipv6 { src = "fd00::1", dst = "fd00::3", next = p.IPPROTO_TCP,
         ext = { { type = D } }, payload = p.tcp { sport = 40016, dport = 443 } }) },
      { 2, eth(from, p.ETH_P_IPV6, p.ipv6 { src = "fd00::1", dst = "fd00::3", next = p.IPPROTO_ICMPV6,
         ext = { { type = H } }, payload = p.icmp6_echo { data = "ping6" } }) },
      -- a datagram in three IPv6 fragments and one in two IPv4 fragments
      { 1, eth(from, p.ETH_P_IPV6, p.ipv6 { src = "fd00::1", dst = "fd00::4", next = p.IPPROTO_UDP,
         ext = { { type = F, more = true, id = 77 } }, payload = p.udp { sport = 40017, dport = 40018,
            data = ("f"):rep(8) } }) },
      { 1, eth(from, p.ETH_P_IPV6, p.ipv6 { src = "fd00::1", dst = "fd00::4", next = p.IPPROTO_UDP,
         ext = { { type = F, offset = 2, more = true, id = 77 } }, payload = ("g"):rep(16) }) },
      { 1, eth(from, p.ETH_P_IPV6, p.ipv6 { src = "fd00::1", dst = "fd00::4", next = p.IPPROTO_UDP,
         ext = { { type = H }, { type = F, offset = 4, id = 77 } }, payload = ("h"):rep(5) }) },
      { 1, eth(from, ip, udp4("10.0.0.1", "10.0.0.6", 40019, 40020, ("k"):rep(16), { mf = true })) },
      { 1, eth(from, ip, udp4("10.0.0.1", "10.0.0.6", 0, 0, nil, { frag = 3, raw = ("l"):rep(9) })) },
      -- zero-length payloads
      { 1, eth(from, ip, udp4("10.0.0.1", "10.0.0.7", 40021, 40022, "")) },
      { 1, eth(from, p.ETH_P_IPV6, udp6("fd00::1", "fd00::7", 40023, 40024, "")) },
   }
   local frames = {}
   for _, k in ipairs(kinds) do
      for _ = 1, k[1] do frames[#frames + 1] = k[2] end
   end
   return frames
end

local nine = {}
for i = 1, 9 do nine[i] = { type = D } end

-- Bad frames, each with what each tool makes of it: a key as the models below spell it,
-- "unparsed", or false (not counted). Frames from b arrive with an outer tag taken out.
local BAD = {
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IP,
      payload = udp4("10.9.0.1", "10.9.0.2", 1, 2, "x"):sub(1, 12) } end,
     s1 = false, s2 = false, s3 = false, what = "cut inside the IPv4 header" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IP,
      payload = udp4("10.9.0.1", "10.9.0.2", 1, 2, "x"):sub(1, 20) } end,
     s1 = 17, s2 = "10.9.0.2", s3 = false, what = "cut after the IPv4 header" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IP,
      payload = udp4("10.9.0.1", "10.9.0.2", 1, 2, "x"):sub(1, 24) } end,
     s1 = 17, s2 = "10.9.0.2", s3 = "udp 10.9.0.1.1 -> 10.9.0.2.2", what = "cut after the ports" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IPV6,
      payload = udp6("fd09::1", "fd09::2", 1, 2, "x"):sub(1, 30) } end,
     s1 = false, s2 = false, s3 = false, what = "cut inside the IPv6 header" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IPV6,
      payload = udp6("fd09::1", "fd09::3", 1, 2, "x", { { type = H, len = 1 } }):sub(1, 40 + 10) } end,
     s1 = false, s2 = false, s3 = false, what = "cut inside a hop-by-hop header" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IPV6,
      payload = udp6("fd09::1", "fd09::4", 1, 2, "x", nine) } end,
     s1 = "unparsed", s2 = "unparsed", s3 = "unparsed", what = "nine extension headers" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_8021Q, payload = "" } end,
     s1 = false, s2 = false, s3 = false, what = "a VLAN tag announced, nothing after it" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IP,
      payload = p.ipv4 { src = "10.9.0.1", dst = "10.9.0.5", proto = p.IPPROTO_GRE,
         payload = p.gre { proto = 0x1234, payload = "wrong" } } } end,
     s1 = 47, s2 = "10.9.0.5", s3 = false, what = "GRE of an unknown protocol" },
   { eth = function(m) return p.eth { dst = DST, src = m, type = p.ETH_P_IP,
      payload = p.ipv4 { src = "10.9.0.1", dst = "10.9.0.6", proto = p.IPPROTO_GRE,
         payload = p.gre { proto = p.ETH_P_TEB, payload = ("\0"):rep(10) } } } end,
     s1 = 47, s2 = false, s3 = false, what = "gretap cut inside its inner Ethernet header" },
}

--- sockex1's key for a frame (sockex1.h): the outer IP header's protocol, IPv6's after its
-- extension headers; nil when not counted.
local function model1(layers)
   local i, vlans = 2, 0
   while layers[i] and layers[i].name == "vlan" do i, vlans = i + 1, vlans + 1 end
   if vlans > 4 then return "unparsed" end
   local l3 = layers[i]
   if not l3 then return nil end
   if l3.name == "ip" then return l3.proto end
   if l3.name ~= "ipv6" then return nil end
   local nxt, n = l3.nxt, 0
   while layers[i + 1] and layers[i + 1].nxt and layers[i + 1].name ~= "ipv6" do
      i, n, nxt = i + 1, n + 1, layers[i + 1].nxt
   end
   return n > 8 and "unparsed" or nxt
end

-- The IPv6 extension headers after layers[i]: the index of the last, their count, whether a
-- fragment header is among them, whether it is a later fragment, the last next header.
local function ext_run(layers, i)
   local n, frag, later, nxt = 0, false, false, layers[i].nxt
   while layers[i + 1] and layers[i + 1].nxt and layers[i + 1].name ~= "ipv6" do
      i, n, nxt = i + 1, n + 1, layers[i + 1].nxt
      if layers[i].name == "ipv6.fraghdr" then
         frag, later = true, layers[i].offset ~= 0
      end
   end
   return i, n, frag, later, nxt
end

--- sockex2's key (sockex2.h): the destination of the innermost IP header it reached (one
-- tunnel level: GRE, gretap, IPIP, IPv6 in IPv4; fragments not followed).
local function model2(layers)
   local i = 2
   local function vlans()
      local n = 0
      while layers[i] and layers[i].name == "vlan" do i, n = i + 1, n + 1 end
      return n
   end
   if vlans() > 4 then return "unparsed" end
   local l3 = layers[i]
   if not l3 or (l3.name ~= "ip" and l3.name ~= "ipv6") then return nil end
   local dst = l3.dst
   local followed
   if l3.name == "ip" then
      followed = l3.mf == 0 and l3.offset == 0
   else
      local n, frag
      i, n, frag = ext_run(layers, i)
      if n > 8 then return "unparsed" end
      followed = not frag
   end
   local nextl = followed and layers[i + 1]
   if not nextl then return dst end
   i = i + 1
   if nextl.name == "gre" then
      i = i + 1
      if layers[i] and layers[i].name == "eth" then i = i + 1 end
      if vlans() > 4 then return "unparsed" end
   end
   local inner = layers[i]
   if inner and (inner.name == "ip" or inner.name == "ipv6") then
      if inner.name == "ipv6" and select(2, ext_run(layers, i)) > 8 then return "unparsed" end
      return inner.dst
   end
   return dst
end

local function flow(proto, src, sport, dst, dport)
   return ("%s %s.%d -> %s.%d"):format(proto, src, sport, dst, dport)
end

local FLOW_PROTOS = { [1] = "icmp", [6] = "tcp", [17] = "udp", [58] = "icmpv6" }

--- sockex3's key (sockex3.h): the flow of the innermost IP header, through every tunnel.
local function model3(layers)
   local i, vlans, depth = 2, 0, 0
   while true do
      while layers[i] and layers[i].name == "vlan" do
         i, vlans, depth = i + 1, vlans + 1, depth + 1
      end
      if vlans > 4 or depth > 16 then return "unparsed" end
      local l3 = layers[i]
      if not l3 or (l3.name ~= "ip" and l3.name ~= "ipv6") then return nil end
      depth = depth + 1
      local later, proto
      if l3.name == "ip" then
         later, proto = l3.offset ~= 0, l3.proto
      else
         local n, _
         i, n, _, later, proto = ext_run(layers, i)
         if n > 8 then return "unparsed" end
      end
      if later then
         return FLOW_PROTOS[proto] and flow(FLOW_PROTOS[proto], l3.src, 0, l3.dst, 0) or nil
      end
      local nextl = layers[i + 1]
      if not nextl then return nil end
      if nextl.name == "udp" or nextl.name == "tcp" then
         return flow(nextl.name, l3.src, nextl.sport, l3.dst, nextl.dport)
      elseif nextl.name == "icmp" or nextl.name == "icmpv6" then
         return flow(nextl.name, l3.src, 0, l3.dst, 0)
      elseif nextl.name == "gre" then
         i = i + 2
         if layers[i] and layers[i].name == "eth" then i = i + 1 end
      elseif nextl.name == "ip" or nextl.name == "ipv6" then
         i = i + 1
      else
         return nil
      end
   end
end

-- {key -> {packets=, bytes=}} plus unparsed = {packets=, bytes=} from frames, where keyof(f)
-- says each frame's key (nil: not counted).
local function tally(frames, keyof)
   local t, unparsed = {}, { packets = 0, bytes = 0 }
   for _, f in ipairs(frames) do
      local k = keyof(f)
      if k ~= nil and k ~= false then
         local slot = k == "unparsed" and unparsed or t[k]
         if not slot then
            slot = { packets = 0, bytes = 0 }
            t[k] = slot
         end
         slot.packets, slot.bytes = slot.packets + 1, slot.bytes + f.len
      end
   end
   return t, unparsed
end

-- The last JSON record a tool printed.
local function final_record(out)
   local last
   for line in out:gmatch("[^\n]+") do last = line end
   local r = cjson.decode((assert(last, "no record")))
   assert.is_true(r.final)
   return r
end

describe("sockex tools against tshark #tools", function()
   local bed
   setup(function() bed = wire.create("sockexwire") end)
   teardown(function() if bed then wire.remove(bed) end end)

   it("count every frame and byte tshark sees, per key, leaving and arriving", function()
      local cap = wire.capture(bed, bed.a)
      local tools = {}
      finally(function() -- busted keeps only the last finally of a test: one for all
         for _, t in pairs(tools) do proc.reap(t.pid) end
         proc.reap(cap.pid)
         os.remove(cap.file)
      end)
      tools.out1 = wire.tool(bed, "sockex1", bed.a, "--direction out --json")
      tools.in1 = wire.tool(bed, "sockex1", bed.a, "--direction in --json")
      tools.s2 = wire.tool(bed, "sockex2", bed.a, "--json")
      tools.s3 = wire.tool(bed, "sockex3", bed.a, "--json")
      tools.table3 = wire.tool(bed, "sockex3", bed.a, "")

      local sent = {}
      for _, from in ipairs({ "0a", "0b" }) do
         local frames = good_frames(from)
         for i, b in ipairs(BAD) do frames[#frames + 1] = b.eth(mac(from, i)) end
         wire.send(bed, from == "0a" and bed.a or bed.b, frames)
         sent[from] = frames
      end
      wire.settle()
      local outputs = {}
      for name, t in pairs(tools) do outputs[name] = { wire.finish(t) } end
      tools = {}
      local frames = wire.dissect(wire.stop(cap))

      -- tshark saw exactly what was sent, tags included both ways, but for the frame whose
      -- tag is announced and missing on the way in: the receive path drops it when it
      -- cannot take the tag out (skb_vlan_untag), before any packet socket sees it
      assert.equal(#sent["0a"] + #sent["0b"] - 1, #frames)
      local bytes_sent, bytes_seen, tagged_seen = -14, 0, 0
      for _, from in ipairs({ "0a", "0b" }) do
         for _, f in ipairs(sent[from]) do bytes_sent = bytes_sent + #f end
      end
      for _, f in ipairs(frames) do
         bytes_seen = bytes_seen + f.len
         if f.layers[2] and f.layers[2].name == "vlan" then tagged_seen = tagged_seen + 1 end
      end
      assert.equal(bytes_sent, bytes_seen)
      -- 802.1Q x3, QinQ x2, double 802.1Q x2, IPv6 in 802.1Q x2 each way; the empty tag
      assert.equal(2 * (3 + 2 + 2 + 2) + 1, tagged_seen)

      local function from_of(f) return f.layers[1].src:sub(-2) end
      local function bad_of(f)
         local idx = f.layers[1].src:match("^02:00:00:ba:(%x%x)")
         return idx and BAD[tonumber(idx, 16)]
      end
      local function key(model, field, dir)
         return function(f)
            if dir and from_of(f) ~= dir then return nil end
            local bad = bad_of(f)
            if bad then return bad[field] end
            return model(f.layers)
         end
      end
      local function to3(r) -- sockex3's JSON flow as model3 spells it
         return flow(r.proto, r.src, r.sport, r.dst, r.dport)
      end

      -- sockex1, each direction, keyed by protocol number
      for name, dir in pairs({ out1 = "0a", in1 = "0b" }) do
         local want, wunparsed = tally(frames, key(model1, "s1", dir))
         local rec = final_record(outputs[name][1])
         local got = {}
         for _, v in pairs(rec.protocols) do got[v.number] = { packets = v.packets, bytes = v.bytes } end
         assert.same(want, got, name)
         assert.same(wunparsed, rec.unparsed, name)
         assert.is_true(wunparsed.packets > 0 and want[17].packets > 10 and want[47] ~= nil, name)
      end

      -- sockex2: per destination, both directions
      local want2, wunparsed2 = tally(frames, key(model2, "s2"))
      local rec2 = final_record(outputs.s2[1])
      local got2 = {}
      for _, d in ipairs(rec2.destinations) do got2[d.addr] = { packets = d.packets, bytes = d.bytes } end
      assert.same(want2, got2)
      assert.same(wunparsed2, rec2.unparsed)
      -- gretap and its IPv6 inner frame, behind a tag inside the tunnel, are among them
      assert.equal(2 * (3 + 3 + 2), want2["10.1.0.2"].packets)
      assert.equal(2 * (2 + 2), want2["fd00:1::2"].packets)

      -- sockex3: per flow, both directions
      local want3, wunparsed3 = tally(frames, key(model3, "s3"))
      local rec3 = final_record(outputs.s3[1])
      local got3 = {}
      for _, r in ipairs(rec3.flows) do got3[to3(r)] = { packets = r.packets, bytes = r.bytes } end
      assert.same(want3, got3)
      assert.same(wunparsed3, rec3.unparsed)
      assert.same({ packets = 2, bytes = want3[flow("udp", "fd00::1", 40017, "fd00::4", 40018)].bytes },
         want3[flow("udp", "fd00::1", 40017, "fd00::4", 40018)])
      assert.equal(4, want3[flow("udp", "fd00::1", 0, "fd00::4", 0)].packets)

      -- sockex3's table: the same flows, IPv6 ones too, in aligned columns
      local rows = texttable.parse(outputs.table3[1], {
         header = "^PROTO +SOURCE +DESTINATION +PACKETS +BYTES +PKT/S +RATE$",
         left = { PROTO = true, SOURCE = true, DESTINATION = true } })
      local function endpoint(addr, port)
         if port == 0 then return addr end
         return (addr:find(":", 1, true) and "[%s]:%d" or "%s:%d"):format(addr, port)
      end
      local want_rows, got_rows = {}, {}
      for _, r in ipairs(rec3.flows) do
         local ports = r.sport ~= 0 or r.dport ~= 0
         want_rows[#want_rows + 1] = ("%s %s %s %d %s"):format(r.proto,
            ports and endpoint(r.src, r.sport) or r.src, ports and endpoint(r.dst, r.dport) or r.dst,
            r.packets, fmt.bytes(r.bytes))
      end
      for _, r in ipairs(rows) do
         got_rows[#got_rows + 1] = ("%s %s %s %s %s"):format(r.PROTO, r.SOURCE, r.DESTINATION,
            r.PACKETS, r.BYTES)
      end
      table.sort(want_rows)
      table.sort(got_rows)
      assert.same(want_rows, got_rows)
   end)
end)
