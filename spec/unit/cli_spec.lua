-- SPDX-License-Identifier: GPL-2.0
-- sockhost.cli (pure Lua on lua-argparse): the shipped scripts' shared options and helpers.
local cjson = require "cjson"
local errors = require "helpers.errors"

describe("sockhost.cli #unit", function()
   local cli = require "sockhost.cli"
   local argparse = require "argparse"

   it("converts positive seconds, with the scripts' two message forms", function()
      local plain, strict = cli.seconds("--duration"), cli.seconds("--interval", true)
      assert.equal(2.5, plain("2.5"))
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("0") })
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("x") })
      -- infinity and more than sockhost.run takes are refused before anything attaches
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("1e999") })
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("2e9") })
      assert.same({ nil, "--duration wants a positive number of seconds" }, { plain("nan") })
      assert.equal(0.5, strict("0.5"))
      assert.same({ nil, "--interval wants a positive number of seconds, got '1e999'" },
         { strict("1e999") })
      assert.same({ nil, "--interval wants a positive number of seconds, got '-1'" },
         { strict("-1") })
   end)

   it("adds the standard options in their order, with the standard help", function()
      local columns = cli.columns
      cli.columns = function() return 80 end
      local parser = argparse("x", "X.")
      cli.common(parser, { json = true, iface = true, duration = { demo = 2 },
         cgroup = { demo = "its own" } })
      cli.columns = columns
      assert.equal("Usage: x [-h] --iface <name> [--cgroup <path>] [--duration <sec>] [--json]"
         .. "\n       [--output <file>]\n\nX.\n\nOptions:\n"
         .. "   -h, --help            Show this help message and exit.\n"
         .. "   --iface <name>        Interface to watch (raw AF_PACKET socket bound to it).\n"
         .. "   --cgroup <path>       cgroup v2 directory to attach to (default: the cgroup2\n"
         .. "                         root, i.e. the whole machine; with --demo: its own).\n"
         .. "   --duration <sec>      Stop after this many seconds (default: until Ctrl-C;\n"
         .. "                         with --demo: 2).\n"
         .. "   --json                NDJSON output (fields above).\n"
         .. "   --output <file>       With --json: append the NDJSON to this file (created\n"
         .. "                         0640) instead of stdout; SIGHUP reopens it (logrotate).",
         parser:get_help())
      local args = parser:parse({ "--iface", "lo", "--duration", "3" })
      assert.same({ iface = "lo", duration = 3 }, args)
      local ok, err = parser:pparse({ "--iface", "lo", "--duration", "0" })
      assert.is_false(ok)
      assert.equal("--duration wants a positive number of seconds", err)
   end)

   it("--metrics lists the families in the epilog; --metrics-limit is a count", function()
      local columns = cli.columns
      cli.columns = function() return 200 end
      local parser = argparse("x", "X.", "Epilog.")
      cli.common(parser, { metrics = {
         { name = "sockhost_x_bytes_total", type = "counter", labels = { "protocol" },
           help = "Bytes by protocol." },
         { name = "sockhost_x_flows", type = "gauge", help = "Flows now." },
         { name = "sockhost_x_seconds", type = "histogram", labels = function() end,
           label_names = { "a", "b" }, help = "Durations." },
      } })
      cli.columns = columns
      local help = parser:get_help()
      assert.matches("\n\nEpilog.\n\nMetrics (with --metrics; Prometheus text 0.0.4, or "
         .. "OpenMetrics 1.0 when Accept asks for it):\n"
         .. "  sockhost_x_bytes_total{protocol}  counter: Bytes by protocol.\n"
         .. "  sockhost_x_flows                  gauge: Flows now.\n"
         .. "  sockhost_x_seconds{a,b}           histogram: Durations.\n"
         .. "and the ones every sockhost exporter has: sockhost_events_", help, 1, true)
      assert.same({ metrics = ":9100", metrics_limit = 5 },
         parser:parse({ "--metrics", ":9100", "--metrics-limit", "5" }))
      for _, bad in ipairs({ "-1", "x", "1.5", "2000000000" }) do
         assert.same({ false, ("--metrics-limit wants a number of series (0 to 1000000000), "
            .. "got '%s'"):format(bad) }, { parser:pparse({ "--metrics-limit=" .. bad }) })
      end
      -- without --metrics nothing is served, and a limit alone is a mistake
      assert.is_nil(cli.serve_metrics("x", {}, nil, {}))
      assert.same({ false, "--metrics-limit needs --metrics" },
         { pcall(cli.serve_metrics, "x", { metrics_limit = 3 }, nil, {}) })
   end)

   it("cli.count_keys: the standard keys around a counting script's own", function()
      local keys = cli.count_keys("sx", { { "rows", "array", "R" } }, { { "dir", "string", "D" } })
      local names = {}
      for i, k in ipairs(keys) do names[i] = k[1] end
      assert.same({ "type", "ts", "iface", "dir", "elapsed", "final", "rows" }, names)
      assert.same({ "type", "string", 'always "sx"' }, keys[1])
      assert.equal(6, #cli.count_keys("sx", { { "rows", "array", "R" } }))
   end)

   it("cli.count_families: the unparsed (and missed) globals of a counting script", function()
      local fams = cli.count_families("sx", { unparsed = "past the walks' bounds",
         not_by = "by protocol", missed = "the table (8 entries)" })
      local got = {}
      local obj = { globals = { unparsed = { bytes = 120, packets = 2 }, missed = 5 } }
      for i, f in ipairs(fams) do
         f.collect(function(v) got[i] = { f.name, f.type, f.help, v } end, obj)
      end
      assert.same({
         { "sockhost_sx_unparsed_bytes_total", "counter",
           "Bytes of IP frames past the walks' bounds (not counted by protocol).", 120 },
         { "sockhost_sx_unparsed_packets_total", "counter", "IP frames past the walks' bounds.", 2 },
         { "sockhost_sx_missed_packets_total", "counter",
           "Frames not counted because the table (8 entries) was full.", 5 },
      }, got)
      assert.equal(2, #cli.count_families("sx", { unparsed = "x", not_by = "y" }))
      -- and the map's bytes and packets by one label, first
      local by = cli.count_families("sx", { unparsed = "x", not_by = "y", by = { map = "m",
         label = "proto", labels = tostring, bytes = "B.", packets = "P.",
         value = function(field) return function(v) return v[field] * 2 end end } })
      assert.equal(4, #by)
      for i, field in ipairs({ "bytes", "packets" }) do
         local f = by[i]
         assert.same({ "sockhost_sx_" .. field .. "_total", "counter", "m", { "proto" },
            field == "bytes" and "B." or "P.", tostring },
            { f.name, f.type, f.map, f.label_names, f.help, f.labels })
         assert.equal(field == "bytes" and 20 or 6, f.value({ bytes = 10, packets = 3 }))
      end
      assert.equal("packets", cli.count_families("sx", { unparsed = "x", not_by = "y",
         by = { map = "m", label = "l", labels = tostring } })[2].value)
   end)

   it("cli.output: stdout without --output; --output needs --json", function()
      local out = cli.output("x", { json = true })
      assert.same({ io.stdout, nil }, { out.file, out.on_hup })
      assert.same({ false, "--output needs --json" },
         { pcall(cli.output, "x", { output = "/nonexistent/x" }) })
   end)

   it("wraps --help to COLUMNS, else 80 when stdout is no terminal", function()
      -- the sockhost executable: stock lua5.4 cannot load an ASan build's core.so
      local bin = os.getenv("SOCKHOST_BIN") or "lua5.4"
      local function columns(env)
         local p = io.popen(env .. " " .. bin .. " -e 'print(require(\"sockhost.cli\").columns())'")
         local out = p:read("a")
         p:close()
         return out
      end
      assert.equal("100\n", columns("COLUMNS=100"))
      assert.equal("80\n", columns("COLUMNS=wide"))
      assert.equal("80\n", columns("COLUMNS=5"))
      assert.equal("80\n", columns("env -u COLUMNS"))
   end)

   it("names the missing module and its package", function()
      assert.equal(cjson, cli.need("cjson", "lua-cjson", "--json"))
      errors.raises(function() cli.need("sockhost_no_such_module", "lua-nope", "--demo") end,
         "--demo needs the Lua module 'sockhost_no_such_module' (apt-get install lua-nope)")
   end)

   it("documents --json keys, sums rows, says why the loop stopped", function()
      local keys = { { "type", "string", "always \"x\"" }, { "elapsed", "number", "seconds" } }
      assert.equal('  type     string: always "x"\n  elapsed  number: seconds', cli.json_help(keys))
      assert.same({ "type", "elapsed" }, cli.json_order(keys))
      local function ctx(up, ub)
         return { obj = { globals = { missed = 2, unparsed = { packets = up, bytes = ub } } } }
      end
      local rows = { { packets = 1, bytes = 100 }, { packets = 2, bytes = 200 } }
      assert.equal("2 flows, 3 packets, 300 bytes, 2 missed", cli.count_summary(ctx(0, 0), rows,
         "flows"))
      assert.equal("2 flows, 3 packets, 300 bytes, 2 missed, 4 unparsed (256 bytes)",
         cli.count_summary(ctx(4, 256), rows, "flows"))
      assert.same({ 3, 300 }, { cli.totals({ { packets = 1, bytes = 100 },
         { packets = 2, bytes = 200 } }) })
      assert.same({ 0, 0 }, { cli.totals({}) })
      assert.equal("duration", cli.stopped("duration", nil))
      assert.equal("signal SIGINT", cli.stopped("signal", "SIGINT"))
   end)
end)
