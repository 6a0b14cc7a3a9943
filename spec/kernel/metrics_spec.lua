-- SPDX-License-Identifier: GPL-2.0
-- sockhost.metrics on real maps: families bound to the maps fixture's hash and per-CPU hash
-- (values the spec writes), the hist fixture's SDK histograms (SH_HIST, filled by its
-- program through BPF_PROG_TEST_RUN) as Prometheus histograms, and the built-in families
-- (loss ledger of a live ring, BPF run statistics, build info, process collector), rendered
-- to exact series and checked by promtool.
local sockhost = require "sockhost"
local metrics = require "sockhost.metrics"
local builtin = require "sockhost.metrics.builtin"
local fixtures = require "helpers.fixtures"
local proc = require "helpers.proc"
local traffic = require "helpers.traffic"
local check = require "helpers.promcheck"

local NCPU = proc.possible_cpus()

-- an IPv4/UDP frame: a socket filter's test_run needs at least an ethernet header
local PKT = string.rep("\0", 12) .. "\8\0" .. "\69\0\0\28" .. "\0\0\0\0" .. "\64\17\0\0"
   .. "\127\0\0\1\127\0\0\1" .. "\0\1\0\2\0\8\0\0"

-- the hist fixture with each value of {{value, times}} recorded that many times
local function recorded(values)
   local obj = fixtures.open("hist")
   local prog = obj:program("record")
   for _, vt in ipairs(values) do
      obj.globals.value = vt[1]
      assert.equal(0, prog:test_run({ data = PKT, ["repeat"] = vt[2] }).retval)
   end
   return obj
end

local function lines_of(text, prefix)
   local out = {}
   for l in text:gmatch("[^\n]+") do
      if l:sub(1, #prefix) == prefix then out[#out + 1] = l end
   end
   return out
end

describe("sockhost.metrics on maps #kernel", function()
   it("exports a hash and a per-CPU hash the spec filled, summed over CPUs", function()
      local obj <close> = fixtures.open("maps")
      local hash, pcpu = obj:map("hash"), obj:map("pcpu_hash")
      hash[1] = { packets = 3, bytes = 300 }
      hash[2] = { packets = 5, bytes = 500 }
      local per = {}
      for c = 1, NCPU do per[c] = { count = 10 * c, tag = "t" } end
      pcpu:update(7, per, "any", { percpu = true })
      pcpu[8] = { count = 4, tag = "u" }
      local reg = metrics.registry()
      reg:bind(hash, { name = "flow_bytes_total", help = "Bytes per flow.", type = "counter",
         labels = { "flow" }, value = "bytes" })
      reg:bind(hash, { name = "flow_packets_total", help = "Packets per flow.", type = "counter",
         labels = function(k) return k % 2 == 0 and "even" or "odd" end,
         label_names = { "parity" }, value = function(v) return v.packets end })
      reg:bind(pcpu, { name = "tagged", help = "Counts by tag.", type = "gauge",
         labels = function(_, v) return v.tag end, label_names = { "tag" }, value = "count" })
      local want = ([[
# HELP flow_bytes_total Bytes per flow.
# TYPE flow_bytes_total counter
flow_bytes_total{flow="1"} 300
flow_bytes_total{flow="2"} 500
# HELP flow_packets_total Packets per flow.
# TYPE flow_packets_total counter
flow_packets_total{parity="even"} 5
flow_packets_total{parity="odd"} 3
# HELP tagged Counts by tag.
# TYPE tagged gauge
tagged{tag="t"} %d
tagged{tag="u"} 4
]]):format(10 * NCPU * (NCPU + 1) // 2)
      assert.equal(want, reg:render("text"))
      -- computed at each scrape: a change in the map shows at the next one
      hash[2] = { packets = 6, bytes = 600 }
      assert.same({ 'flow_bytes_total{flow="1"} 300', 'flow_bytes_total{flow="2"} 600' },
         lines_of(reg:render("text"), "flow_bytes_total{"))
      local code, out = check.promtool(reg:render("text"))
      assert.equal("", out)
      assert.equal(0, code)
   end)

   it("turns the SDK's log2 and linear histogram maps into Prometheus histograms", function()
      -- -7: log2 0, lin 0; 0: log2 1, lin 1; 1: log2 2, lin 1; 5: log2 4, lin 1;
      -- 1000: log2 11 ([512, 1024)), lin 11 ([100, ...))
      local obj <close> = recorded({ { -7, 1 }, { 0, 2 }, { 1, 1 }, { 5, 3 }, { 1000, 4 } })
      local reg = metrics.registry()
      reg:bind(obj:map("pow2"), { name = "value_log2", help = "Values, log2.",
         type = "histogram", buckets = "log2" })
      reg:bind(obj:map("lin"), { name = "value_lin", help = "Values, linear.",
         type = "histogram", buckets = { min = 0, max = 100, step = 10 } })
      local text = reg:render("text")
      -- 65 finite buckets (le -1, 0, 1, 3, ..., 2^63 - 1): the first 13, the rest all 11
      local log2 = lines_of(text, "value_log2")
      assert.equal(65 + 3, #log2)
      assert.same({
         'value_log2_bucket{le="-1"} 1',
         'value_log2_bucket{le="0"} 3',
         'value_log2_bucket{le="1"} 4',
         'value_log2_bucket{le="3"} 4',
         'value_log2_bucket{le="7"} 7',
         'value_log2_bucket{le="15"} 7',
         'value_log2_bucket{le="31"} 7',
         'value_log2_bucket{le="63"} 7',
         'value_log2_bucket{le="127"} 7',
         'value_log2_bucket{le="255"} 7',
         'value_log2_bucket{le="511"} 7',
         'value_log2_bucket{le="1023"} 11',
         'value_log2_bucket{le="2047"} 11',
      }, table.move(log2, 1, 13, 1, {}))
      for i = 14, 65 do -- line i is bucket i - 1: [2^(i-3), 2^(i-2))
         assert.equal(('value_log2_bucket{le="%d"} 11'):format((1 << (i - 2)) - 1), log2[i])
      end
      -- _sum estimate: -1 + 0 * 2 + 1 + 4 * 3 + 512 * 4
      assert.same({ 'value_log2_bucket{le="+Inf"} 11', "value_log2_sum 2060",
         "value_log2_count 11" }, table.move(log2, 66, 68, 1, {}))
      assert.equal([[
# HELP value_lin Values, linear.
# TYPE value_lin histogram
value_lin_bucket{le="-1"} 1
value_lin_bucket{le="9"} 7
value_lin_bucket{le="19"} 7
value_lin_bucket{le="29"} 7
value_lin_bucket{le="39"} 7
value_lin_bucket{le="49"} 7
value_lin_bucket{le="59"} 7
value_lin_bucket{le="69"} 7
value_lin_bucket{le="79"} 7
value_lin_bucket{le="89"} 7
value_lin_bucket{le="99"} 7
value_lin_bucket{le="+Inf"} 11
value_lin_sum 399
value_lin_count 11
]], text:match("# HELP value_lin .*$"))
      local code, out = check.promtool(text)
      assert.equal("", out)
      assert.equal(0, code)
      -- OpenMetrics: negatives were seen, so no _sum or _count; the parser accepts it
      local om = reg:render("openmetrics")
      assert.is_nil(om:find("_sum", 1, true))
      assert.truthy(om:find('\nvalue_lin_bucket{le="-1.0"} 1\n', 1, true))
      assert.equal("value_log2:histogram value_lin:histogram\n", check.openmetrics(om))
   end)
end)

describe("a bound map that closed #kernel", function()
   it("skips its family and counts the error; render does not raise", function()
      local obj = fixtures.open("maps")
      obj:map("hash")[1] = { packets = 1, bytes = 2 }
      local reg = metrics.registry()
      reg:bind(obj:map("hash"), { name = "b_total", help = "B.", type = "counter",
         labels = { "k" }, value = "bytes" })
      assert.equal('# HELP b_total B.\n# TYPE b_total counter\nb_total{k="1"} 2\n',
         reg:render("text"))
      obj:close()
      assert.equal("# HELP sockhost_metrics_errors_total Scrapes in which a family's function "
         .. "raised an error (family skipped).\n# TYPE sockhost_metrics_errors_total counter\n"
         .. 'sockhost_metrics_errors_total{family="b_total"} 1\n', reg:render("text"))
      assert.truthy(reg.last_error.b_total:find("closed sockhost.map", 1, true),
         reg.last_error.b_total)
   end)
end)

describe("sockhost.metrics.builtin #kernel", function()
   it("exports the loss ledger, BPF run stats, build info and process metrics", function()
      local hobj <close> = fixtures.open("hist")
      local prog = hobj:program("record")
      local obj <close> = fixtures.evgen({ burst = 2 })
      local n = 0
      local rb <close> = sockhost.ringbuf(obj:map("events"), "struct ev_record",
         function() n = n + 1 end)
      local link <close> = fixtures.evgen_attach(obj)
      traffic.open_files(3)
      proc.poll_until(sockhost, function() return n >= 6 end)
      link:detach()
      assert.equal(6, n)
      assert.equal(6, rb.received)

      local reg = builtin.register(metrics.registry(), { programs = { prog } })
      assert.equal(0, prog:info().run_cnt)
      prog:test_run({ data = PKT, ["repeat"] = 5 })
      local text = reg:render("text")
      local id = prog:info().id
      assert.same({ ('sockhost_build_info{version="%s"} 1'):format(sockhost.version) },
         lines_of(text, "sockhost_build_info{"))
      for field, v in pairs({ received = 6, dropped = 0, errors = 0, discarded = 0 }) do
         local name = "sockhost_events_" .. field .. "_total"
         assert.same({ ('%s{kind="ringbuf",name="events"} %d'):format(name, v) },
            lines_of(text, name .. '{kind="ringbuf",name="events"}'))
      end
      assert.same({ ('sockhost_program_run_count_total{program="record",id="%d"} 5'):format(id) },
         lines_of(text, "sockhost_program_run_count_total{"))
      local rt = lines_of(text, "sockhost_program_run_time_seconds_total{")
      assert.equal(1, #rt)
      local secs = tonumber(rt[1]:match(" (%S+)$"))
      assert.is_true(secs > 0 and secs < 1, rt[1])
      -- the stats stay on while the registry holds the handle; closed, they stop counting
      reg.stats_handle:close()
      prog:test_run({ data = PKT, ["repeat"] = 3 })
      assert.same({ ('sockhost_program_run_count_total{program="record",id="%d"} 5'):format(id) },
         lines_of(reg:render("text"), "sockhost_program_run_count_total{"))

      local function value(name)
         local l = lines_of(text, name .. " ")
         assert.equal(1, #l, name)
         return tonumber(l[1]:match(" (%S+)$"))
      end
      local status = proc.read_file("/proc/self/status")
      local rss_kb = tonumber(status:match("VmRSS:%s+(%d+) kB"))
      assert.is_true(math.abs(value("process_resident_memory_bytes") - rss_kb * 1024) < 16 << 20)
      local start = value("process_start_time_seconds")
      assert.is_true(start <= os.time() and start > os.time() - 3600, tostring(start))
      assert.is_true(value("process_cpu_seconds_total") > 0)
      -- the count follows a file opened and closed (the collector runs first: a handle
      -- collected between two scrapes would close an fd of its own)
      local function scrape_fds()
         collectgarbage()
         collectgarbage()
         return tonumber(reg:render("text"):match("\nprocess_open_fds (%d+)"))
      end
      -- two scrapes in a row that agree: an fd the runtime opens and closes on its own (a
      -- sanitizer build's, say) is not this spec's file
      local function open_fds()
         local a, b = scrape_fds(), scrape_fds()
         for _ = 1, 20 do
            if a == b then return a end
            a, b = b, scrape_fds()
         end
         return b
      end
      local fds = open_fds()
      local devnull = assert(io.open("/dev/null"))
      assert.equal(fds + 1, open_fds())
      devnull:close()
      assert.equal(fds, open_fds())
      assert.is_true(value("process_max_fds") >= fds)
      local code, out = check.promtool(text)
      assert.equal("", out)
      assert.equal(0, code)
      assert.truthy(check.openmetrics(reg:render("openmetrics")):find(
         "^sockhost_build_info:gauge sockhost_events_received:counter "))
   end)
end)
