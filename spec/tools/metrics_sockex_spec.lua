-- SPDX-License-Identifier: GPL-2.0
-- sockex1, sockex2 and sockex3 with --metrics, scraped by a real Prometheus (1 s scrape) while
-- they count real traffic on a veth pair into the spec's own namespace: Prometheus' query
-- API must report exactly the packets and bytes the spec sent, family by family, and
-- `promtool check metrics` must pass on each tool's scrape.
local socket = require "socket"
local proc = require "helpers.proc"
local testbed = require "helpers.testbed"
local prometheus = require "helpers.prometheus"
local check = require "helpers.promcheck"

local q = proc.quote
local N, PING_SIZE = 5, 100 -- ICMP echoes and their payload
local M, UDP_SIZE = 7, 200  -- UDP datagrams and their payload

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

local function scrape(port)
   return proc.must(("curl -sf http://127.0.0.1:%d/metrics"):format(port))
end

describe("sockex metrics scraped by Prometheus #tools", function()
   local bed, dir, pids
   before_each(function()
      bed = testbed.create("sxmetrics")
      dir = proc.tmpdir()
      pids = {}
   end)
   after_each(function()
      for _, pid in ipairs(pids) do proc.reap(pid) end
      testbed.remove(bed)
      proc.sh("rm -rf " .. q(dir))
   end)

   it("sockex1: bytes and packets by protocol, exactly what was sent", function()
      local tool = start_tool(dir, "sockex1", bed, "--direction both")
      pids[#pids + 1] = tool.pid
      local prom = prometheus.start(dir, { "127.0.0.1:" .. tool.port })
      pids[#pids + 1] = prom.pid
      finally(function() prom:stop() end)
      prom:wait_up()

      local sink, port = testbed.udp_sink(bed)
      finally(function() sink:close() end)
      testbed.ping(bed, N, PING_SIZE)
      testbed.udp_from_ns(bed, port, M, UDP_SIZE)
      assert.equal(M, testbed.drain(sink, M))
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
end)
