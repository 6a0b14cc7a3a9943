-- SPDX-License-Identifier: GPL-2.0
-- sockhost.metrics served over HTTP (sockhost.metrics.http) and scraped by a real Prometheus
-- (Debian's prometheus, on loopback, a 1 s scrape): a sockhost process makes 25 ring records
-- of its own (spec/fixtures/evgen.bpf.c on its own openat() calls) and counts them in a family
-- of its own; Prometheus' query API must report exactly 25 for both, `promtool check metrics`
-- must pass on the text scrape and prometheus_client's parser read the OpenMetrics one.
local proc = require "helpers.proc"
local fixtures = require "helpers.fixtures"
local check = require "helpers.promcheck"
local prometheus = require "helpers.prometheus"

local bin = proc.env("SOCKHOST_BIN")
local q = proc.quote

local SERVER = [[
local sockhost = require "sockhost"
local metrics = require "sockhost.metrics"
local mhttp = require "sockhost.metrics.http"
local reg = metrics.registry()
local opens = reg:counter { name = "spec_opens_total", help = "Opens the spec made." }
local obj <close> = sockhost.open(arg[1], { globals = { target_pid = sockhost.pid() } })
local sub <close> = obj:subscribe("events", "struct ev_record", function() end)
local link = obj:program("sys_enter_openat"):attach()
for _ = 1, 25 do
   io.open("/dev/null"):close()
   opens:inc(1)
end
link:detach()
sub:drain()
local srv <close> = mhttp.serve("127.0.0.1:0", { registry = reg, builtin = true })
io.stdout:write(srv.port, "\n")
io.stdout:flush()
sockhost.run { duration = tonumber(arg[2]) }
]]

describe("metrics scraped by Prometheus #tools", function()
   local dir, pids
   before_each(function()
      dir = proc.tmpdir()
      pids = {}
   end)
   after_each(function()
      for _, pid in ipairs(pids) do proc.reap(pid) end
      proc.sh("rm -rf " .. q(dir))
   end)

   local function start_server()
      local f = assert(io.open(dir .. "/server.lua", "w"))
      f:write(SERVER)
      f:close()
      local out = dir .. "/server.out"
      pids[#pids + 1] = proc.spawn(("exec %s %s %s 60 >%s 2>%s.err"):format(q(bin),
         q(dir .. "/server.lua"), q(fixtures.path("evgen")), q(out), q(out)))
      local port
      assert(proc.wait_for(function()
         port = tonumber((proc.read_file(out) or ""):match("^(%d+)\n"))
         return port
      end, 10), "server did not start: " .. tostring(proc.read_file(out .. ".err")))
      return port
   end

   it("serves both formats: promtool passes the text one, the OpenMetrics parser reads the other", function()
      local port = start_server()
      local url = ("http://127.0.0.1:%d/metrics"):format(port)
      local text = proc.must(("curl -sf %s"):format(q(url)))
      assert.matches("\nspec_opens_total 25\n", text, 1, true)
      assert.matches('\nsockhost_events_received_total{kind="ringbuf",name="events"} 25\n',
         text, 1, true)
      local om = proc.must(("curl -sf -H %s %s"):format(
         q("Accept: application/openmetrics-text; version=1.0.0"), q(url)))
      assert.matches("\n# EOF\n$", om)
      -- the text format to promtool, OpenMetrics to prometheus_client's strict parser
      assert.same({ 0, "" }, { check.promtool(text) })
      local families = check.openmetrics(om)
      assert.matches("^spec_opens:counter sockhost_build_info:gauge "
         .. "sockhost_events_received:counter sockhost_events_dropped:counter ", families)
      local code = proc.must(("curl -s -o /dev/null -w '%%{http_code}' %s"):format(
         q(("http://127.0.0.1:%d/nope"):format(port))))
      assert.equal("404", code)
   end)

   it("reports the exact counts through Prometheus' query API", function()
      local port = start_server()
      local prom = prometheus.start(dir, { "127.0.0.1:" .. port })
      pids[#pids + 1] = prom.pid
      prom:wait_up(30)
      assert.equal("25", prom:wait("spec_opens_total", "25"))
      assert.equal("25", prom:wait('sockhost_events_received_total{name="events"}', "25"))
      assert.equal("1", prom:value('up{job="sockhost"}'))
   end)
end)
