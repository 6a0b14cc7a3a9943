-- SPDX-License-Identifier: GPL-2.0
-- sockhost.metrics (pure Lua): exact exposition text in both formats, name and label
-- checks with their exact messages, the cardinality guard, histograms (direct and from SDK
-- bucket maps, here plain tables numbered as sockhost.hist numbers them), errors in bound
-- functions, content negotiation, and the verdicts of promtool (text) and prometheus_client's
-- OpenMetrics parser on the rendered text.
local metrics = require "sockhost.metrics"
local errors = require "helpers.errors"
local check = require "helpers.promcheck"

describe("sockhost.metrics #unit", function()
   local reg
   before_each(function() reg = metrics.registry() end)

   describe("counter, gauge, histogram", function()
      it("renders the text format 0.0.4 exactly", function()
         local c = reg:counter{ name = "http_requests_total", help = "Requests\nby \\code.",
            labels = { "code", "path" } }
         c:inc(nil, 200, '/a"b\\c\nd')
         c:inc(2.5, "500", "/")
         c:inc(3, 200, '/a"b\\c\nd')
         reg:gauge{ name = "temp_celsius", help = "T." }:set(-1.5)
         local h = reg:histogram{ name = "lat_seconds", help = "L.", buckets = { 0.1, 1, 5 } }
         h:observe(0.05)
         h:observe(1)
         h:observe(7)
         assert.equal([[
# HELP http_requests_total Requests\nby \\code.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a\"b\\c\nd"} 4
http_requests_total{code="500",path="/"} 2.5
# HELP temp_celsius T.
# TYPE temp_celsius gauge
temp_celsius -1.5
# HELP lat_seconds L.
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 2
lat_seconds_bucket{le="5"} 2
lat_seconds_bucket{le="+Inf"} 3
lat_seconds_sum 8.05
lat_seconds_count 3
]], reg:render("text"))
      end)

      it("renders OpenMetrics 1.0 exactly: _total off the family name, le canonical, # EOF",
         function()
         reg:counter{ name = "jobs_total", help = 'Jobs "done".', labels = { "q" } }:inc(1, "a")
         reg:gauge{ name = "up", help = "Up." }:set(1)
         reg:histogram{ name = "size_bytes", help = "S.", buckets = { 10, 100.5 } }:observe(50)
         assert.equal([[
# HELP jobs Jobs \"done\".
# TYPE jobs counter
jobs_total{q="a"} 1
# HELP up Up.
# TYPE up gauge
up 1
# HELP size_bytes S.
# TYPE size_bytes histogram
size_bytes_bucket{le="10.0"} 0
size_bytes_bucket{le="100.5"} 1
size_bytes_bucket{le="+Inf"} 1
size_bytes_sum 50
size_bytes_count 1
# EOF
]], reg:render("openmetrics"))
      end)

      it("starts an unlabelled family at 0 and prints u64 counters unsigned", function()
         reg:gauge{ name = "g", help = "G." }
         reg:counter{ name = "wrapped_total", help = "W." }:inc(-1 & math.maxinteger)
         local c = reg:counter{ name = "big_total", help = "B." }
         c:inc(math.maxinteger)
         c:inc(math.maxinteger) -- wraps like the kernel's u64: 2^64 - 2
         assert.equal("# HELP g G.\n# TYPE g gauge\ng 0\n"
            .. "# HELP wrapped_total W.\n# TYPE wrapped_total counter\nwrapped_total "
            .. "9223372036854775807\n# HELP big_total B.\n# TYPE big_total counter\n"
            .. "big_total 18446744073709551614\n", reg:render("text"))
      end)

      it("gauges go up, down and to a value; special floats are spelled as the format does",
         function()
         local g = reg:gauge{ name = "level", help = "L.", labels = { "k" } }
         g:inc(nil, "a")
         g:inc(4, "a")
         g:dec(2, "a")
         g:set(1 / 0, "b")
         g:set(-1 / 0, "c")
         g:set(0 / 0, "d")
         g:set(0.1 + 0.2, "e")
         assert.equal('# HELP level L.\n# TYPE level gauge\nlevel{k="a"} 3\nlevel{k="b"} +Inf\n'
            .. 'level{k="c"} -Inf\nlevel{k="d"} NaN\nlevel{k="e"} 0.30000000000000004\n',
            reg:render("text"))
      end)
   end)

   describe("names and labels", function()
      it("refuses bad names, labels and uses with exact messages", function()
         errors.raises(function() reg:counter{ name = "9x_total", help = "" } end,
            "metrics.counter: invalid metric name '9x_total' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)")
         errors.raises(function() reg:counter{ name = "requests", help = "" } end,
            "metrics.counter: counter name 'requests' must end in _total")
         errors.raises(function() reg:gauge{ name = "a_total", help = "" } end,
            "metrics.gauge: gauge name 'a_total' must not end in _total (counters only)")
         errors.raises(function() reg:gauge{ name = "a", help = "", labels = { "a-b" } } end,
            "metrics.gauge: metric 'a': invalid label name 'a-b' (must match "
            .. "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
         errors.raises(function() reg:gauge{ name = "a", help = "", labels = { "__x" } } end,
            "metrics.gauge: metric 'a': invalid label name '__x' (must match "
            .. "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
         errors.raises(function() reg:histogram{ name = "h", help = "", labels = { "le" } } end,
            "metrics.histogram: metric 'h': label name 'le' is reserved for histogram buckets")
         errors.raises(function() reg:gauge{ name = "a", help = "", lables = {} } end,
            "metrics.gauge: unknown option 'lables' (valid: name, help, labels, limit)")
         errors.raises(function() reg:gauge{ name = "a" } end,
            "metrics.gauge: metric 'a': option 'help' must be a string")
         errors.raises(function() reg:histogram{ name = "h", help = "", buckets = { 1, 1 } } end,
            "metrics.histogram: metric 'h': buckets must increase (1 after 1)")
         reg:gauge{ name = "a", help = "" }
         errors.raises(function() reg:gauge{ name = "a", help = "" } end,
            "metrics.gauge: metric 'a' is already registered")
         local c = reg:counter{ name = "c_total", help = "", labels = { "x", "y" } }
         errors.raises(function() c:inc(1, "only") end,
            "metrics: inc 'c_total': 2 label values expected (x, y), got 1")
         errors.raises(function() c:inc(-1, "a", "b") end,
            "metrics: inc 'c_total': counters only go up (got -1)")
         errors.raises(function() c:set(1, "a", "b") end,
            "metrics: set 'c_total': only a gauge is set")
         errors.raises(function() c:inc(1, {}, "b") end,
            "metrics: inc 'c_total': label 'x': label value must be a string, number or "
            .. "boolean, got table")
      end)
   end)

   describe("errors", function()
      it("are raised at the caller's line, also from nested checks and updates", function()
         local here = debug.getinfo(1, "S").short_src
         local function where(fn)
            local ok, err = pcall(fn)
            assert.is_false(ok)
            return (err:match("^(.-:%d+): "))
         end
         local line = debug.getinfo(1, "l").currentline
         assert.equal(here .. ":" .. (line + 1), where(function() reg:counter{ name = "x", help = "" } end))
         assert.equal(here .. ":" .. (line + 3), where(function()
            reg:bind({}, { name = "x", help = "", type = "gauge", labels = { "a-" } })
         end))
         local c = reg:counter{ name = "c_total", help = "" }
         assert.equal(here .. ":" .. (line + 6), where(function() c:inc(1, "x") end))
         errors.raises(function() c:inc(1, "x") end,
            "metrics: inc 'c_total': 0 label values expected (no labels), got 1")
         errors.raises(function()
            reg:bind({}, { name = "h", help = "", type = "histogram", buckets = "log2",
               labels = { "a" } })
         end, "metrics.bind: metric 'h': a bound histogram has no labels (one map, one histogram)")
      end)

      it("metrics.counter and the others use metrics.default", function()
         local saved = metrics.default
         metrics.default = metrics.registry()
         local ok, err = pcall(function()
            metrics.counter{ name = "d_total", help = "D." }:inc(2)
            metrics.bind({ 5 }, { name = "b", help = "B.", type = "gauge", labels = { "k" } })
            assert.equal('# HELP d_total D.\n# TYPE d_total counter\nd_total 2\n'
               .. '# HELP b B.\n# TYPE b gauge\nb{k="1"} 5\n', metrics.render("text"))
         end)
         metrics.default = saved
         assert(ok, err)
      end)
   end)

   describe("cardinality guard", function()
      it("exports no series past the limit and counts each one it refused", function()
         local c = reg:counter{ name = "x_total", help = "X.", labels = { "k" }, limit = 2 }
         c:inc(1, "a")
         c:inc(1, "b")
         c:inc(1, "c")
         c:inc(1, "d")
         c:inc(5, "a")
         reg:bind({ { n = 1 }, { n = 2 }, { n = 3 } }, { name = "m", help = "M.", type = "gauge",
            labels = function(k) return "s" .. k end, label_names = { "slot" }, value = "n",
            limit = 1 })
         local want = '# HELP x_total X.\n# TYPE x_total counter\nx_total{k="a"} 6\n'
            .. 'x_total{k="b"} 1\n# HELP m M.\n# TYPE m gauge\nm{slot="s1"} 1\n'
            .. "# HELP sockhost_metrics_series_dropped_total Series a family did not export "
            .. "because it was past its series limit.\n"
            .. "# TYPE sockhost_metrics_series_dropped_total counter\n"
            .. 'sockhost_metrics_series_dropped_total{family="m"} %d\n'
            .. 'sockhost_metrics_series_dropped_total{family="x_total"} 2\n'
         assert.equal(want:format(2), reg:render("text"))
         assert.equal(want:format(4), reg:render())
      end)

      it("keeps the series it exported past the limit whatever the walk order", function()
         -- a map whose walk order the spec sets: a hash map's changes as entries come
         local order = {}
         local map = setmetatable({}, { __pairs = function()
            local i = 0
            return function()
               i = i + 1
               if order[i] then return order[i], 10 * order[i] end
            end, nil, nil
         end })
         reg:bind(map, { name = "d_total", help = "D.", type = "counter", labels = { "k" },
            limit = 2 })
         local function series()
            local out = {}
            for k, v in reg:render():gmatch('\nd_total{k="(%d+)"} (%d+)') do
               out[#out + 1] = k .. "=" .. v
            end
            return table.concat(out, " ")
         end
         order = { 3, 1 }
         assert.equal("1=10 3=30", series())
         -- new entries walked first: 3 and 1 stay, 2 and 4 are refused
         order = { 4, 2, 1, 3 }
         assert.equal("1=10 3=30", series())
         -- 3 went away: its room goes to the first new one walked
         order = { 4, 2, 1 }
         assert.equal("1=10 4=40", series())
         -- refused: 2 in the second render, 1 in the third, 1 in this one
         assert.truthy(reg:render():find('sockhost_metrics_series_dropped_total{family="d_total"} 4\n',
            1, true))
      end)

      it("defaults to 10000 series", function()
         local g = reg:gauge{ name = "g", help = "G.", labels = { "i" } }
         for i = 1, 10001 do g:set(i, i) end
         local text = reg:render("text")
         local _, n = text:gsub("\ng{", "")
         assert.equal(10000, n)
         assert.truthy(text:find('sockhost_metrics_series_dropped_total{family="g"} 1\n', 1, true))
      end)
   end)

   describe("bind", function()
      it("labels from key fields, values from a field, equal labels summed, per-CPU summed",
         function()
         local map = {
            [{ port = 80, proto = "tcp" }] = { bytes = 10, pkts = 1 },
            [{ port = 443, proto = "tcp" }] = { bytes = { 5, 7 }, pkts = 2 }, -- per-CPU
            [{ port = 80, proto = "udp" }] = { bytes = 3, pkts = 3 },
         }
         reg:bind(map, { name = "bytes_total", help = "B.", type = "counter",
            labels = { "proto" }, value = "bytes" })
         reg:bind(map, { name = "pkts_total", help = "P.", type = "counter",
            labels = function(k, v) return k.proto, k.port, v.pkts end,
            label_names = { "proto", "port", "n" }, value = function(v) return v.pkts * 10 end })
         reg:bind({ [7] = 70, [8] = 80 }, { name = "scalar", help = "S.", type = "gauge",
            labels = { "key" } })
         assert.equal('# HELP bytes_total B.\n# TYPE bytes_total counter\n'
            .. 'bytes_total{proto="tcp"} 22\nbytes_total{proto="udp"} 3\n'
            .. '# HELP pkts_total P.\n# TYPE pkts_total counter\n'
            .. 'pkts_total{proto="tcp",port="443",n="2"} 20\n'
            .. 'pkts_total{proto="tcp",port="80",n="1"} 10\n'
            .. 'pkts_total{proto="udp",port="80",n="3"} 30\n'
            .. '# HELP scalar S.\n# TYPE scalar gauge\nscalar{key="7"} 70\nscalar{key="8"} 80\n',
            reg:render("text"))
      end)

      it("reads the map at each scrape, never before", function()
         local map = { [1] = 5 }
         reg:bind(map, { name = "v", help = "V.", type = "gauge", labels = { "k" } })
         map[1] = 6
         assert.equal('# HELP v V.\n# TYPE v gauge\nv{k="1"} 6\n', reg:render("text"))
         map[2] = 1
         assert.equal('# HELP v V.\n# TYPE v gauge\nv{k="1"} 6\nv{k="2"} 1\n', reg:render("text"))
      end)

      it("skips a family whose function raises, counts it, and renders the rest", function()
         reg:gauge{ name = "ok", help = "O." }:set(1)
         reg:bind({ 1 }, { name = "bad", help = "X.", type = "gauge",
            value = function() error("boom", 0) end })
         reg:bind({ 1 }, { name = "badlabel", help = "X.", type = "gauge",
            labels = { "f" } }) -- a scalar key gives the label: fine
         reg:bind({ 1 }, { name = "badfield", help = "X.", type = "gauge", value = "x" })
         local want = "# HELP ok O.\n# TYPE ok gauge\nok 1\n"
            .. '# HELP badlabel X.\n# TYPE badlabel gauge\nbadlabel{f="1"} 1\n'
            .. "# HELP sockhost_metrics_errors_total Scrapes in which a family's function "
            .. "raised an error (family skipped).\n"
            .. "# TYPE sockhost_metrics_errors_total counter\n"
            .. 'sockhost_metrics_errors_total{family="bad"} %d\n'
            .. 'sockhost_metrics_errors_total{family="badfield"} %d\n'
         assert.equal(want:format(1, 1), reg:render("text"))
         assert.equal(want:format(2, 2), reg:render("text"))
         assert.equal("boom", reg.last_error.bad)
         assert.equal("value is a number, not a struct with field 'x'", reg.last_error.badfield)
      end)

      it("refuses bad bind specs with exact messages", function()
         errors.raises(function() reg:bind({}, { name = "a", help = "", type = "summary" }) end,
            "metrics.bind: metric 'a': type must be \"counter\", \"gauge\" or \"histogram\"")
         errors.raises(function()
            reg:bind({}, { name = "a", help = "", type = "gauge", labels = function() end })
         end, "metrics.bind: metric 'a': a labels function needs label_names")
         errors.raises(function()
            reg:bind({}, { name = "h", help = "", type = "histogram", buckets = "log10" })
         end, "metrics.bind: metric 'h': a bound histogram takes buckets = \"log2\" or "
            .. "{min=, max=, step=}")
         errors.raises(function()
            reg:bind({}, { name = "h", help = "", type = "histogram",
               buckets = { min = 0, max = 5, step = 10 } })
         end, "metrics.bind: metric 'h': linear buckets need integers min, max, step > 0 and "
            .. "max >= min + step")
         for _, bad in ipairs({ 0, -1, math.huge, 0 / 0, "1e6" }) do
            errors.raises(function()
               reg:bind({}, { name = "d", help = "", type = "gauge", div = bad })
            end, "metrics.bind: metric 'd': option 'div' must be a positive number")
         end
      end)

      it("divides samples by div, after summing equal labels", function()
         reg:bind({ a = 1500, b = 250, c = 750 }, { name = "t_seconds_total", help = "T.",
            type = "counter", labels = function(k) return k == "a" and "x" or "y" end,
            label_names = { "k" }, div = 1000 })
         assert.equal([[
# HELP t_seconds_total T.
# TYPE t_seconds_total counter
t_seconds_total{k="x"} 1.5
t_seconds_total{k="y"} 1
]], reg:render("text"))
      end)
   end)

   describe("histograms from SDK bucket maps", function()
      it("turns log2 buckets into cumulative le buckets, +Inf, an estimated _sum, _count",
         function()
         -- sockhost.hist numbering: 0 negatives, 1 zero, k >= 2 [2^(k-2), 2^(k-1))
         local map = { [0] = 1, [1] = 2, [2] = 3, [3] = 0, [4] = 5 }
         reg:bind(map, { name = "sizes", help = "S.", type = "histogram", buckets = "log2" })
         assert.equal([[
# HELP sizes S.
# TYPE sizes histogram
sizes_bucket{le="-1"} 1
sizes_bucket{le="0"} 3
sizes_bucket{le="1"} 6
sizes_bucket{le="3"} 6
sizes_bucket{le="7"} 11
sizes_bucket{le="+Inf"} 11
sizes_sum 22
sizes_count 11
]], reg:render("text"))
      end)

      it("divides a histogram's bounds and _sum by div, never its counts", function()
         -- microseconds as seconds: [2^(k-2), 2^(k-1)) us, le (2^(k-1) - 1) / 1e6
         local map = { [1] = 1, [2] = 2, [11] = 4 }
         reg:bind(map, { name = "d_seconds", help = "D.", type = "histogram", buckets = "log2",
            div = 1e6 })
         local text = reg:render("text")
         assert.matches('\nd_seconds_bucket{le="0"} 1\nd_seconds_bucket{le="1e-06"} 3\n', text,
            1, true)
         assert.matches('\nd_seconds_bucket{le="0.000511"} 3\nd_seconds_bucket{le="0.001023"} 7'
            .. '\nd_seconds_bucket{le="+Inf"} 7\n', text, 1, true)
         -- sum estimate 2 * 1 + 4 * 512 = 2050 us
         assert.matches("\nd_seconds_sum 0.00205\nd_seconds_count 7\n", text, 1, true)
      end)

      it("turns linear buckets into le buckets, the last open; sum from a function is exact",
         function()
         -- lhist(v, 0, 30, 10): 0 (..., 0), 1 [0, 10), 2 [10, 20), 3 [20, 30), 4 [30, ...)
         local map = { [0] = 1, [1] = 2, [2] = 0, [3] = 4, [4] = 8 }
         reg:bind(map, { name = "lin", help = "L.", type = "histogram",
            buckets = { min = 0, max = 30, step = 10 } })
         reg:bind(map, { name = "lin_exact", help = "L.", type = "histogram",
            buckets = { min = 0, max = 30, step = 10 }, sum = function() return 1234 end })
         assert.equal([[
# HELP lin L.
# TYPE lin histogram
lin_bucket{le="-1"} 1
lin_bucket{le="9"} 3
lin_bucket{le="19"} 3
lin_bucket{le="29"} 7
lin_bucket{le="+Inf"} 15
lin_sum 319
lin_count 15
# HELP lin_exact L.
# TYPE lin_exact histogram
lin_exact_bucket{le="-1"} 1
lin_exact_bucket{le="9"} 3
lin_exact_bucket{le="19"} 3
lin_exact_bucket{le="29"} 7
lin_exact_bucket{le="+Inf"} 15
lin_exact_sum 1234
lin_exact_count 15
]], reg:render("text"))
      end)

      it("leaves out an empty negative bucket; OpenMetrics has no _sum, _count beside a negative one",
         function()
         local map = { [1] = 2, [2] = 0, [3] = 1 }
         reg:bind(map, { name = "h", help = "H.", type = "histogram", buckets = "log2" })
         local text = '# HELP h H.\n# TYPE h histogram\nh_bucket{le="0"} 2\nh_bucket{le="1"} 2\n'
            .. 'h_bucket{le="3"} 3\nh_bucket{le="+Inf"} 3\nh_sum 2\nh_count 3\n'
         assert.equal(text, reg:render("text"))
         assert.equal(text:gsub('le="(%d)"', 'le="%1.0"') .. "# EOF\n", reg:render("openmetrics"))
         map[0] = 4
         assert.equal('# HELP h H.\n# TYPE h histogram\nh_bucket{le="-1.0"} 4\n'
            .. 'h_bucket{le="0.0"} 6\nh_bucket{le="1.0"} 6\nh_bucket{le="3.0"} 7\n'
            .. 'h_bucket{le="+Inf"} 7\n# EOF\n', reg:render("openmetrics"))
         assert.truthy(reg:render("text"):find("\nh_sum -2\n", 1, true))
      end)

      it("puts the top log2 bucket at 2^63 - 1; a _sum past 2^63 is a float", function()
         reg:bind({ [64] = 1 }, { name = "top", help = "T.", type = "histogram",
            buckets = "log2" })
         local text = reg:render("text")
         assert.truthy(text:find('top_bucket{le="9223372036854775807"} 1\n', 1, true))
         assert.truthy(text:find('top_bucket{le="4611686018427387903"} 0\n', 1, true))
         assert.truthy(text:find('\ntop_sum 4611686018427387904\n', 1, true))
         reg = metrics.registry()
         reg:bind({ [64] = 4, [3] = 1 }, { name = "top", help = "T.", type = "histogram",
            buckets = "log2" })
         -- 4 * 2^62 + 2 does not fit in an integer: the estimate goes to floats
         assert.truthy(reg:render("text"):find('\ntop_sum 1.8446744073709552e+19\n', 1, true))
      end)
   end)

   describe("content_type", function()
      it("negotiates from the Accept header", function()
         local om = { "openmetrics", metrics.OPENMETRICS }
         local text = { "text", metrics.TEXT }
         assert.same(om, { metrics.content_type("application/openmetrics-text;version=1.0.0,"
            .. "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
            .. "q=0.5,*/*;q=0.1") })
         assert.same(om, { metrics.content_type("application/openmetrics-text") })
         assert.same(text, { metrics.content_type(nil) })
         assert.same(text, { metrics.content_type("") })
         assert.same(text, { metrics.content_type("text/plain;version=0.0.4;q=0.9,"
            .. "application/openmetrics-text;q=0.5") })
         assert.same(text, { metrics.content_type("application/openmetrics-text;version=2.0.0") })
         assert.same(text, { metrics.content_type("application/openmetrics-text;q=0") })
         assert.equal("text/plain; version=0.0.4; charset=utf-8", metrics.TEXT)
         assert.equal("application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.OPENMETRICS)
      end)
   end)

   describe("the OpenMetrics parser of prometheus_client", function()
      it("parses the rendered OpenMetrics", function()
         -- scripts/install-deps.sh installs it: missing is a failure, not a skip
         assert(check.have_openmetrics(), "python3-prometheus-client is not installed")
         reg:counter{ name = "req_total", help = "Requests.", labels = { "code" } }:inc(1, "200")
         reg:gauge{ name = "temp_celsius", help = 'Temperature "now".' }:set(20.5)
         reg:histogram{ name = "lat_seconds", help = "Latency.", buckets = { 0.1, 1 } }:observe(0.5)
         reg:bind({ [0] = 1, [1] = 3, [2] = 4 }, { name = "neg", help = "N.",
            type = "histogram", buckets = "log2" })
         reg:bind({ [1] = 3, [2] = 4 }, { name = "pos", help = "P.", type = "histogram",
            buckets = { min = 0, max = 10, step = 5 } })
         reg:bind({ [1] = 1, [2] = 2 }, { name = "x_total", help = "X.", type = "counter",
            labels = { "k" }, limit = 1 })
         assert.equal("req:counter temp_celsius:gauge lat_seconds:histogram neg:histogram "
            .. "pos:histogram x:counter sockhost_metrics_series_dropped:counter\n",
            check.openmetrics(reg:render("openmetrics")))
         -- and the parser refuses what it should: the text format is not OpenMetrics
         assert.truthy(check.openmetrics(reg:render("text")):find("ValueError", 1, true))
      end)
   end)

   describe("promtool check metrics", function()
      it("passes the rendered text", function()
         assert(check.have_promtool(), "promtool (prometheus) is not installed")
         local c = reg:counter{ name = "req_total", help = "Requests.", labels = { "code" } }
         c:inc(1, "200")
         reg:gauge{ name = "temp_celsius", help = "Temperature." }:set(20.5)
         reg:histogram{ name = "lat_seconds", help = "Latency.", buckets = { 0.1, 1 } }:observe(0.5)
         reg:bind({ [1] = 3, [2] = 4 }, { name = "sizes_bytes", help = "Sizes.",
            type = "histogram", buckets = "log2" })
         reg:bind({ [1] = 1, [2] = 2 }, { name = "x_total", help = "X.", type = "counter",
            labels = { "k" }, limit = 1 })
         local code, out = check.promtool(reg:render("text"))
         assert.equal("", out)
         assert.equal(0, code)
         -- and promtool does fail on what it should: a counter without _total
         code, out = check.promtool("# HELP bad B.\n# TYPE bad counter\nbad 1\n")
         assert.equal(3, code)
         assert.equal('bad counter metrics should have "_total" suffix\n', out)
      end)
   end)
end)
