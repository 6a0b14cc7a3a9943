-- SPDX-License-Identifier: GPL-2.0
-- sockex1, sockex2 and sockex3 with --metrics, scraped by a real Prometheus (1 s scrape) while
-- they count real traffic on a veth pair into the spec's own namespace: Prometheus' query
-- API must report exactly the packets and bytes the spec sent, family by family, and
-- `promtool check metrics` must pass on each tool's scrape. sockex2 under --metrics-limit:
-- the series exported are the first N of the map walk (bpftool's walk of the same map says
-- which), and each render counts the others in sockhost_metrics_series_dropped_total.
local socket = require "socket"
local cjson = require "cjson"
local proc = require "helpers.proc"
local testbed = require "helpers.testbed"
local prometheus = require "helpers.prometheus"
local check = require "helpers.promcheck"
local p = require "helpers.packets"
local wire = require "helpers.wire"

local q = proc.quote
local N, PING_SIZE = 5, 100 -- ICMP echoes and their payload
local M, UDP_SIZE = 7, 200  -- UDP datagrams and their payload

-- Hand-built frames into the host end, from the namespace end (build/spec/framesend): to a
-- MAC nobody has, so the host's stack drops them (PACKET_OTHERHOST) after the raw socket saw
-- them; the destinations they carry exist nowhere.
local DST_MAC, SRC_MAC = "02:00:00:00:00:99", "02:00:00:00:00:0b"
local function frame(type, payload)
   return p.eth { dst = DST_MAC, src = SRC_MAC, type = type, payload = payload }
end
local function udp4(dst, data)
   return frame(p.ETH_P_IP, p.ipv4 { src = "10.77.0.100", dst = dst, proto = p.IPPROTO_UDP,
      payload = p.udp { sport = 41000, dport = 41001, data = data } })
end
local function udp6(dst, data, ext)
   return frame(p.ETH_P_IPV6, p.ipv6 { src = "fd00:77::100", dst = dst, next = p.IPPROTO_UDP,
      ext = ext, payload = p.udp { sport = 41000, dport = 41002, data = data } })
end
local function tcp4(dst, data)
   return frame(p.ETH_P_IP, p.ipv4 { src = "10.77.0.100", dst = dst, proto = p.IPPROTO_TCP,
      payload = p.tcp { sport = 41003, dport = 80, data = data } })
end
local function icmp6(dst, data)
   return frame(p.ETH_P_IPV6, p.ipv6 { src = "fd00:77::100", dst = dst, next = p.IPPROTO_ICMPV6,
      payload = p.icmp6_echo { data = data } })
end
-- nine destination-options headers: past SOCKEX_IPV6_EXT_MAX (8), so `unparsed` counts it
local NINE = {}
for i = 1, 9 do NINE[i] = { type = p.IPPROTO_DSTOPTS } end
local function unparsed6(data) return udp6("fd00:77::9", data, NINE) end

-- {frame, times} pairs -> the frames in order
local function frames_of(list)
   local out = {}
   for _, e in ipairs(list) do
      for _ = 1, e[2] do out[#out + 1] = e[1] end
   end
   return out
end

-- the address text of sockex2's key fields (family, addr as bytes) as bpftool decodes them:
-- dotted quad, or IPv6 in the RFC 5952 form sockhost.net.ntop prints
local function key_text(key)
   local a = key.addr
   if key.family == 2 then return ("%d.%d.%d.%d"):format(a[1], a[2], a[3], a[4]) end
   local g = {}
   for i = 1, 8 do g[i] = a[2 * i - 1] * 256 + a[2 * i] end
   local best, blen, i = nil, 1, 1
   while i <= 8 do
      local j = i
      while j <= 8 and g[j] == 0 do j = j + 1 end
      if j - i > blen then best, blen = i, j - i end
      i = j + 1
   end
   local parts = {}
   for k = 1, 8 do parts[k] = ("%x"):format(g[k]) end
   if not best then return table.concat(parts, ":") end
   return table.concat(parts, ":", 1, best - 1) .. "::" .. table.concat(parts, ":", best + blen, 8)
end

-- bpftool's walk of the map named name among the maps process pid holds: its entries, in
-- the order the kernel's get_next_key gives them (the order sockhost's pairs(map) sees).
local function bpftool_walk(pid, name)
   local ids = {}
   for fd in proc.must("ls /proc/" .. pid .. "/fdinfo"):gmatch("%d+") do
      local info = proc.read_file(("/proc/%d/fdinfo/%s"):format(pid, fd)) or ""
      local id = info:match("map_id:%s*(%d+)")
      if id then ids[id] = true end
   end
   for id in pairs(ids) do
      local info = cjson.decode(proc.must("bpftool -j map show id " .. id))
      if info.name == name then
         local rows = {}
         for i, e in ipairs(cjson.decode(proc.must("bpftool -j map dump id " .. id))) do
            rows[i] = e.formatted
         end
         return rows
      end
   end
   error(("process %d holds no map '%s'"):format(pid, name))
end

-- scripts/<name>.lua --iface <host end> --metrics 127.0.0.1:0 <extra>, running until stopped;
-- returns { pid =, port =, err = stderr path, stop = function() -> stderr text }.
local function start_tool(dir, name, bed, extra)
   local err = ("%s/%s.err"):format(dir, name)
   local pid = proc.spawn(("exec %s %s --iface %s --metrics 127.0.0.1:0 %s >%s/%s.out 2>%s")
      :format(q(proc.env("SOCKHOST_BIN")),
         q(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name .. ".lua"), bed.host_if,
         extra or "", q(dir), name, q(err)))
   local t = { pid = pid, err = err }
   t.port = prometheus.tool_port(err)
   assert(proc.wait_for(function()
      return (proc.read_file(err) or ""):find("counting", 1, true)
   end, 10), "never attached: " .. tostring(proc.read_file(err)))
   function t.stop()
      proc.kill(pid, "INT")
      assert(proc.wait_gone(pid, 10), name .. " did not stop")
      return proc.read_file(err)
   end
   return t
end

local scrape = prometheus.scrape

-- the samples of family name in a scrape's text: { [labels text or ""] = value string }, count
local function samples(text, name)
   local out, n = {}, 0
   for labels, v in text:gmatch("\n" .. name .. "(%b{}) (%S+)") do out[labels], n = v, n + 1 end
   for v in text:gmatch("\n" .. name .. " (%S+)") do out[""], n = v, n + 1 end
   return out, n
end

describe("sockex metrics scraped by Prometheus #tools", function()
   -- cleanups: what each test made beyond the bed, undone after it (busted keeps one
   -- finally per test, the last one given)
   local bed, dir, pids, cleanups
   before_each(function()
      bed = testbed.create("sxmetrics")
      dir = proc.tmpdir()
      pids, cleanups = {}, {}
   end)
   after_each(function()
      for i = #cleanups, 1, -1 do pcall(cleanups[i]) end
      for _, pid in ipairs(pids) do proc.reap(pid) end
      testbed.remove(bed)
      proc.sh("rm -rf " .. q(dir))
   end)

   -- tool name with extra arguments, and a Prometheus scraping it (both ended after the test)
   local function scraped(name, extra)
      local tool = start_tool(dir, name, bed, extra)
      pids[#pids + 1] = tool.pid
      local prom = prometheus.start(dir, { "127.0.0.1:" .. tool.port })
      pids[#pids + 1] = prom.pid
      cleanups[#cleanups + 1] = function() prom:stop() end
      prom:wait_up()
      return tool, prom
   end

   -- N echoes from the namespace (and their replies) and M datagrams to the host end
   local function ping_and_udp()
      local sink, port = testbed.udp_sink(bed)
      cleanups[#cleanups + 1] = function() sink:close() end
      testbed.ping(bed, N, PING_SIZE)
      testbed.udp_from_ns(bed, port, M, UDP_SIZE)
      assert.equal(M, testbed.drain(sink, M))
   end

   it("sockex1: bytes and packets by protocol, exactly what was sent", function()
      local tool, prom = scraped("sockex1", "--direction both")
      ping_and_udp()
      prom:after_scrape()

      local icmp, udp = 2 * N * testbed.icmp_frame(PING_SIZE), M * testbed.udp_frame(UDP_SIZE)
      assert.same({ icmp = tostring(icmp), udp = tostring(udp) },
         prom:values("sockhost_sockex1_bytes_total", "protocol"))
      assert.same({ icmp = tostring(2 * N), udp = tostring(M) },
         prom:values("sockhost_sockex1_packets_total", "protocol"))
      assert.equal("0", prom:value("sockhost_sockex1_unparsed_packets_total"))
      assert.equal("0", prom:value("sockhost_sockex1_unparsed_bytes_total"))
      -- the filter ran once per frame it saw: at least the ones counted
      local runs = tonumber(prom:value('sum(sockhost_program_run_count_total{program="by_protocol"})'))
      assert.is_true(runs >= 2 * N + M, tostring(runs))

      local text = scrape(tool.port)
      assert.same({ 0, "" }, { check.promtool(text) })
      local stderr = tool.stop()
      assert.matches(("icmp %d bytes in %d packets, udp %d bytes in %d packets\n"):format(icmp,
         2 * N, udp, M), stderr, 1, true)
      socket.sleep(0)
   end)

   -- What the sockex2/sockex3 cases send besides ping and UDP: hand-built frames to
   -- destinations nobody has (IPv4 and IPv6, UDP, TCP, ICMPv6) and one IPv6 frame past the
   -- walks' bounds; each {frame, times}.
   local function extra_frames()
      return {
         { udp4("10.77.0.1", ("a"):rep(80)), 3 },
         { udp6("fd00:77::1", ("b"):rep(60)), 2 },
         { tcp4("10.77.0.2", ("c"):rep(40)), 4 },
         { icmp6("fd00:77::2", ("d"):rep(30)), 1 },
         { unparsed6(("e"):rep(20)), 1 },
      }
   end

   it("sockex2: bytes and packets by destination, exactly what was sent", function()
      local tool, prom = scraped("sockex2")
      ping_and_udp()
      local extra = extra_frames()
      wire.send(bed, bed.ns_if, frames_of(extra))
      prom:after_scrape()

      local icmp, udp = testbed.icmp_frame(PING_SIZE), testbed.udp_frame(UDP_SIZE)
      local bytes = {
         [bed.host_ip] = N * icmp + M * udp, -- the echo requests and the datagrams
         [bed.ns_ip] = N * icmp,             -- the echo replies
         ["10.77.0.1"] = 3 * #extra[1][1], ["fd00:77::1"] = 2 * #extra[2][1],
         ["10.77.0.2"] = 4 * #extra[3][1], ["fd00:77::2"] = #extra[4][1],
      }
      local packets = { [bed.host_ip] = N + M, [bed.ns_ip] = N, ["10.77.0.1"] = 3,
         ["fd00:77::1"] = 2, ["10.77.0.2"] = 4, ["fd00:77::2"] = 1 }
      local want_bytes, want_packets, total_bytes, total_packets = {}, {}, 0, 0
      for d, b in pairs(bytes) do
         want_bytes[d], want_packets[d] = tostring(b), tostring(packets[d])
         total_bytes, total_packets = total_bytes + b, total_packets + packets[d]
      end
      assert.same(want_bytes, prom:values("sockhost_sockex2_bytes_total", "destination"))
      assert.same(want_packets, prom:values("sockhost_sockex2_packets_total", "destination"))
      assert.equal("1", prom:value("sockhost_sockex2_unparsed_packets_total"))
      assert.equal(tostring(#extra[5][1]), prom:value("sockhost_sockex2_unparsed_bytes_total"))
      assert.equal("0", prom:value("sockhost_sockex2_missed_packets_total"))
      -- what a fleet query adds up: every destination's bytes but the unparsed frame's
      assert.equal(tostring(total_bytes), prom:value("sum(sockhost_sockex2_bytes_total)"))
      -- no limit given: nothing refused
      assert.same({}, prom:query("sockhost_metrics_series_dropped_total"))

      local text = scrape(tool.port)
      assert.same({ 0, "" }, { check.promtool(text) })
      local stderr = tool.stop()
      assert.matches(("6 destinations, %d packets, %d bytes, 0 missed, 1 unparsed (%d bytes)\n")
         :format(total_packets, total_bytes, #extra[5][1]), stderr, 1, true)
   end)

   it("sockex2 --metrics-limit: the first N destinations of the map walk, the rest counted "
      .. "as refused in every scrape", function()
      local LIMIT = 2
      local tool = start_tool(dir, "sockex2", bed, "--metrics-limit " .. LIMIT)
      pids[#pids + 1] = tool.pid
      -- all the traffic before anything scrapes, so every render sees the same six entries
      ping_and_udp()
      local extra = extra_frames()
      wire.send(bed, bed.ns_if, frames_of(extra))
      local D = 6
      local walk
      assert(proc.wait_for(function()
         walk = bpftool_walk(tool.pid, "destinations")
         local n = 0
         for _, e in ipairs(walk) do n = n + e.value.packets end
         return #walk == D and n == 2 * N + M + 10
      end, 10), "the map never held the traffic sent: " .. cjson.encode(walk or {}))
      local want_bytes, want_packets = {}, {}
      for i = 1, LIMIT do
         local d = key_text(walk[i].key)
         want_bytes[d], want_packets[d] = ("%d"):format(walk[i].value.bytes),
            ("%d"):format(walk[i].value.packets)
      end

      local prom = prometheus.start(dir, { "127.0.0.1:" .. tool.port })
      pids[#pids + 1] = prom.pid
      cleanups[#cleanups + 1] = function() prom:stop() end
      prom:wait_up()
      prom:after_scrape()
      -- exactly LIMIT series in each bound family: the first LIMIT entries of the walk
      assert.same(want_bytes, prom:values("sockhost_sockex2_bytes_total", "destination"))
      assert.same(want_packets, prom:values("sockhost_sockex2_packets_total", "destination"))
      assert.equal(tostring(LIMIT), prom:value("count(sockhost_sockex2_bytes_total)"))
      -- the globals are not limited (one series each, under the limit)
      assert.equal("1", prom:value("sockhost_sockex2_unparsed_packets_total"))
      -- each render refused D - LIMIT series per bound family, and only Prometheus rendered:
      -- the counter over the number of samples Prometheus stored, in one evaluation
      for _, fam in ipairs({ "sockhost_sockex2_bytes_total", "sockhost_sockex2_packets_total" }) do
         local sel = ('sockhost_metrics_series_dropped_total{family="%s"}'):format(fam)
         assert.equal(tostring(D - LIMIT),
            prom:value(("%s / count_over_time(%s[10m])"):format(sel, sel)), fam)
         -- and every scrape Prometheus made carried the counter
         assert.equal("0", prom:value(('sum(count_over_time(%s[10m])) - '
            .. 'sum(count_over_time(up{job="sockhost"}[10m]))'):format(sel)), fam)
      end
      assert.same({}, prom:query('sockhost_metrics_series_dropped_total{family!~'
         .. '"sockhost_sockex2_(bytes|packets)_total"}'))
      prom:stop()

      -- one scrape's own text: LIMIT series, and the counter up by D - LIMIT from the last
      local t1 = scrape(tool.port)
      local t2 = scrape(tool.port)
      local b2, nb = samples(t2, "sockhost_sockex2_bytes_total")
      local bytes2 = {}
      for labels, v in pairs(b2) do bytes2[labels:match('destination="([^"]*)"')] = v end
      assert.equal(LIMIT, nb)
      assert.same(want_bytes, bytes2)
      for _, fam in ipairs({ "sockhost_sockex2_bytes_total", "sockhost_sockex2_packets_total" }) do
         local key = ('{family="%s"}'):format(fam)
         local d1 = tonumber(samples(t1, "sockhost_metrics_series_dropped_total")[key])
         local d2 = tonumber(samples(t2, "sockhost_metrics_series_dropped_total")[key])
         assert.equal(D - LIMIT, d2 - d1, fam)
      end
      assert.same({ 0, "" }, { check.promtool(t2) })
      local stderr = tool.stop()
      -- the tool itself still counts every destination
      assert.matches(("%d destinations, %d packets, "):format(D, 2 * N + M + 10), stderr, 1, true)
   end)

   it("sockex3: flows, and bytes and packets by protocol summed over them", function()
      local tool, prom = scraped("sockex3")
      assert.equal("0", prom:value("sockhost_sockex3_flows"))

      ping_and_udp()
      local extra = extra_frames()
      wire.send(bed, bed.ns_if, frames_of(extra))
      prom:after_scrape()

      local icmp, udp = testbed.icmp_frame(PING_SIZE), testbed.udp_frame(UDP_SIZE)
      -- flows: the echo requests and the replies (two ICMP flows), the datagrams, and one
      -- each for the hand-built UDP, UDP over IPv6, TCP and ICMPv6 frames: 7
      assert.equal("7", prom:value("sockhost_sockex3_flows"))
      assert.same({ icmp = tostring(2 * N * icmp),
         udp = tostring(M * udp + 3 * #extra[1][1] + 2 * #extra[2][1]),
         tcp = tostring(4 * #extra[3][1]), icmpv6 = tostring(#extra[4][1]) },
         prom:values("sockhost_sockex3_bytes_total", "protocol"))
      assert.same({ icmp = tostring(2 * N), udp = tostring(M + 3 + 2), tcp = "4", icmpv6 = "1" },
         prom:values("sockhost_sockex3_packets_total", "protocol"))
      assert.equal("1", prom:value("sockhost_sockex3_unparsed_packets_total"))
      assert.equal(tostring(#extra[5][1]), prom:value("sockhost_sockex3_unparsed_bytes_total"))
      assert.equal("0", prom:value("sockhost_sockex3_missed_packets_total"))
      -- the attached program ran once per frame it saw: at least the ones sent (the kernel
      -- counts no runs for the tail-called parsers: a tail call skips the stats)
      local runs = tonumber(prom:value('sum(sockhost_program_run_count_total{program="dispatch"})'))
      assert.is_true(runs >= 2 * N + M + 11, tostring(runs))

      local text = scrape(tool.port)
      assert.same({ 0, "" }, { check.promtool(text) })
      local packets = 2 * N + M + 10
      local bytes = 2 * N * icmp + M * udp + 3 * #extra[1][1] + 2 * #extra[2][1]
         + 4 * #extra[3][1] + #extra[4][1]
      local stderr = tool.stop()
      assert.matches(("7 flows, %d packets, %d bytes, 0 missed, 1 unparsed (%d bytes)\n")
         :format(packets, bytes, #extra[5][1]), stderr, 1, true)
   end)
end)
