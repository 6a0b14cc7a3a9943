-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.cli: the command-line conventions the shipped scripts (scripts/*.lua) share, so
-- each states only what is its own: the standard options (--iface, --cgroup, --duration,
-- --json) with their standard help texts, the seconds converter, the "this option needs a
-- Lua module" check, a clock, and for the counting scripts (sockex1/2/3) their whole run
-- (cli.count: open, attach a socket filter to --iface, a report every second and a final one
-- at exit, the summary on stderr) and the splice of a JSON array into a record.
--
--   local cli = require "sockhost.cli"
--   local parser = argparse("sockhost scripts/x.lua", "What x does.")
--   cli.common(parser, { iface = true, duration = true, json = true })
--   local args = parser:parse(arg)
--   local json = args.json and cli.need("cjson", "lua-cjson", "--json")
--
-- Pure Lua on top of lua-argparse's parser objects; only cli.report_every and cli.count run
-- sockhost (required when called, so the rest works without sockhost.core).

local cli = {}

-- The longest duration sockhost.run takes (about 31 years): refused here, before anything
-- is attached, rather than by sockhost.run after.
cli.SECONDS_MAX = 1e9

--- cli.seconds(opt [, strict]) -> a converter for argparse's :convert(): a positive number
-- of seconds up to cli.SECONDS_MAX (so not infinity, 1e999, nor NaN), or nil and "<opt>
-- wants a positive number of seconds". strict (conntrace's form) ends the message with
-- ", got '<text>'".
function cli.seconds(opt, strict)
   return function(s)
      local n = tonumber(s)
      if not n or n ~= n or n <= 0 or n > cli.SECONDS_MAX then
         if strict then
            return nil, ("%s wants a positive number of seconds, got '%s'"):format(opt, s)
         end
         return nil, opt .. " wants a positive number of seconds"
      end
      return n
   end
end

--- cli.need(module, package_name, what) -> require(module), or raises (without a position)
-- "<what> needs the Lua module '<module>' (apt-get install <package_name>)".
function cli.need(module, package_name, what)
   local ok, m = pcall(require, module)
   if not ok then
      error(("%s needs the Lua module '%s' (apt-get install %s)"):format(what, module,
         package_name), 0)
   end
   return m
end

-- The standard options, in the order cli.common adds them. Each takes the option's value
-- from cli.common's spec: true for the standard form, or a table of the knobs it names.
local COMMON = {
   -- --iface <name>, required: the socket filter scripts' raw AF_PACKET socket.
   { "iface", function(parser)
      return parser:option("--iface", "Interface to watch (raw AF_PACKET socket bound to it).")
         :argname("<name>"):count(1)
   end },
   -- --cgroup <path>, the cgroup to attach to; { demo = "text" }: what it is with --demo.
   { "cgroup", function(parser, o)
      local default = "i.e. the whole machine" .. (o.demo and "; with --demo: " .. o.demo or "")
      return parser:option("--cgroup", "cgroup v2 directory to attach to (default: the "
         .. "cgroup2 root, " .. default .. ").")
         :argname("<path>")
   end },
   -- --duration <sec>; { demo = n }: the duration with --demo; strict: see cli.seconds.
   { "duration", function(parser, o)
      return parser:option("--duration", "Stop after this many seconds (default: until Ctrl-C"
         .. (o.demo and "; with --demo: " .. o.demo or "") .. ").")
         :argname("<sec>"):convert(cli.seconds("--duration", o.strict))
   end },
   -- --json; { help = "text" }: what the output is, where the description has no field list.
   -- --output <file> comes with it (cli.output): where the NDJSON goes instead of stdout.
   { "json", function(parser, o)
      parser:flag("--json", o.help or "NDJSON output (fields above).")
      return parser:option("--output", "With --json: append the NDJSON to this file (created "
         .. "0640) instead of stdout; SIGHUP reopens it (logrotate).")
         :argname("<file>")
   end },
   -- --metrics <addr:port>; the value is the tool's families (cli.serve_metrics), listed
   -- in the epilog by cli.metrics_help.
   { "metrics", function(parser, families)
      parser:epilog((parser._epilog and parser._epilog .. "\n\n" or "")
         .. cli.metrics_help(families))
      parser:option("--metrics", "Serve Prometheus metrics (listed below) on "
         .. "http://<addr:port>/metrics from the tool's own loop: IPv4:PORT, [IPv6]:PORT, or "
         .. ":PORT for 127.0.0.1; any other address must be given on purpose.")
         :argname("<addr:port>")
      -- no word here or in cli.metrics_help longer than --help's narrowest layout fits (the
      -- family names are the long ones: argparse cannot break them)
      return parser:option("--metrics-limit", "With --metrics: the most series a family "
         .. "exports (default 10000); past it the rest are left out, and counted in the "
         .. "series_dropped family below.")
         :argname("<n>"):convert(function(v)
            local n = v:match("^%d+$") and math.tointeger(tonumber(v))
            if not n or n > 1e9 then
               return nil, ("--metrics-limit wants a number of series (0 to 1000000000), got "
                  .. "'%s'"):format(v)
            end
            return n
         end)
   end },
}

--- cli.columns() -> the width --help wraps to: COLUMNS when it holds a number of at least
-- 20, else the width of the terminal on stdout, else (not a terminal) 80.
function cli.columns()
   local n = tonumber(os.getenv("COLUMNS") or "")
   if n and n >= 20 then return math.floor(n) end
   local ok, core = pcall(require, "sockhost.core")
   return ok and core.term_columns() or 80
end

--- cli.common(parser, spec) -> parser, with the standard options spec names added in the
-- order --iface, --cgroup, --duration, --json, --metrics (true: the standard form; a table:
-- its knobs):
--   iface     --iface <name>, required ("Interface to watch (raw AF_PACKET socket bound to it).")
--   cgroup    --cgroup <path> to attach to, default the cgroup2 root; { demo = "what" }
--   duration  --duration <sec> (cli.seconds); { demo = seconds, strict = true }
--   json      --json flag, "NDJSON output (fields above)."; { help = "other text" }, and
--             --output <file> (see cli.output)
--   metrics   --metrics <addr:port> and --metrics-limit <n>; the value is the tool's
--             sequence of families (see cli.serve_metrics), listed at the end of the epilog
--             (cli.metrics_help)
-- A script whose own options go between them calls cli.common once per group. The help and
-- usage wrap to cli.columns().
function cli.common(parser, spec)
   local width = cli.columns()
   parser:help_max_width(width):usage_max_width(width)
   for _, entry in ipairs(COMMON) do
      local o = spec[entry[1]]
      if o then entry[2](parser, o == true and {} or o) end
   end
   return parser
end

-- ---- metrics -------------------------------------------------------------------------------

-- A tool's metric families: a sequence of sockhost.metrics specs (name, help, type, labels or
-- label_names with a labels function, value, div, buckets, sum, limit) with one of
--   map = "name"                  bound to the object's map of that name (reg:bind)
--   collect = function(emit, obj) a collector (reg:collector)
-- A bound histogram's sum is called as sum(obj) (the tool's maps and globals are known only
-- once the object is open).
-- and, for the --help list only, unit = "what a sample counts" when the name alone does not
-- say it.

local function family_labels(f)
   local names = f.label_names or (type(f.labels) == "table" and f.labels) or {}
   return #names > 0 and "{" .. table.concat(names, ",") .. "}" or ""
end

--- cli.metrics_help(families) -> the epilog paragraph of --metrics: one line per family,
-- "  name{labels}  type: help", then the families every tool adds (metrics.builtin).
function cli.metrics_help(families)
   local lines = { "Metrics (with --metrics; Prometheus text 0.0.4, or OpenMetrics 1.0 when "
      .. "Accept asks for it):" }
   local width = 0
   for _, f in ipairs(families) do width = math.max(width, #(f.name .. family_labels(f))) end
   for _, f in ipairs(families) do
      lines[#lines + 1] = ("  %-" .. width .. "s  %s: %s"):format(f.name .. family_labels(f),
         f.type, f.help)
   end
   lines[#lines + 1] = "and the ones every sockhost exporter has: "
      .. "sockhost_events_received_total, sockhost_events_dropped_total, "
      .. "sockhost_events_errors_total and sockhost_events_discarded_total (each by "
      .. "{kind,name}: the loss ledger of each ring buffer), sockhost_program_run_count_total and "
      .. "sockhost_program_run_time_seconds_total{program,id} (the kernel's BPF statistics, "
      .. "on while served), sockhost_metrics_series_dropped_total{family} (past a family's "
      .. "series limit), sockhost_metrics_errors_total{family}, sockhost_build_info{version} "
      .. "and process_* (CPU, memory, fds, start time)."
   return table.concat(lines, "\n")
end

local BIND_KEYS = { "name", "help", "type", "labels", "label_names", "value", "limit",
   "buckets", "sum", "div" }

--- cli.serve_metrics(name, args, obj, families [, opts]) -> srv, reg, or nil without
-- args.metrics: a sockhost.metrics registry with the tool's families (see above) on obj's
-- maps (each limited to args.metrics_limit series, when given, unless the family sets its
-- own limit) and the built-in families (the loss ledger, BPF run statistics of obj's programs,
-- build info, process), served by sockhost.metrics.http on args.metrics. Call it after
-- opening the object and before attaching anything, so a bad address ends the tool with
-- nothing attached: it raises "--metrics: malformed address '<addr>' (...)" or "--metrics:
-- cannot listen on '<addr>': <error> (<errno name>: <why>)" (in use, privileged, not this
-- machine's). Says "<name>: metrics on http://<addr>/metrics" on stderr. The
-- handle is to-be-closed; reg is the registry. opts go to metrics.http.serve
-- (max_connections, timeout, max_request_bytes).
function cli.serve_metrics(name, args, obj, families, opts)
   if not args.metrics then
      if args.metrics_limit then error("--metrics-limit needs --metrics", 0) end
      return nil
   end
   local metrics = require "sockhost.metrics"
   local reg = metrics.registry()
   for _, f in ipairs(families) do
      local spec = {}
      for _, k in ipairs(BIND_KEYS) do spec[k] = f[k] end
      spec.limit = spec.limit or args.metrics_limit
      if f.sum then spec.sum = function() return f.sum(obj) end end
      if f.map then
         reg:bind(obj:map(f.map), spec)
      else
         local collect = f.collect
         spec.value, spec.label_names, spec.buckets, spec.sum, spec.div = nil, nil, nil, nil, nil
         spec.collect = function(emit) return collect(emit, obj) end
         reg:collector(spec)
      end
   end
   local sopts = { registry = reg, builtin = true, programs = obj:programs() }
   for k, v in pairs(opts or {}) do sopts[k] = v end
   local ok, srv = pcall(require("sockhost.metrics.http").serve, args.metrics, sopts)
   if not ok then
      local why = tostring(srv):gsub("^[^\n:]*:%d+: ", "", 1):gsub("^sockhost%.serve_http: ", "")
      error("--metrics: " .. why, 0)
   end
   local host = srv.address
   io.stderr:write(("%s: metrics on http://%s:%d/metrics\n"):format(name,
      host:find(":") and "[" .. host .. "]" or host, srv.port))
   if reg.stats_error then
      -- a unit with only the tool's capabilities: served, without the BPF run statistics
      io.stderr:write(("%s: --metrics: no sockhost_program_run_* families: %s\n"):format(name,
         reg.stats_error))
   end
   return srv, reg
end

--- cli.count_keys(name, keys [, after_iface]) -> a counting script's --json keys (for
-- cli.json_help and cli.count's spec.keys): the standard type, ts, iface, then after_iface's,
-- then elapsed and final, then the script's own keys.
function cli.count_keys(name, keys, after_iface)
   local out = {
      { "type", "string", ("always \"%s\""):format(name) },
      { "ts", "number", "wall-clock time of the record, seconds since the Unix epoch, with a "
         .. "fractional part (microseconds)" },
      { "iface", "string", "the interface name" },
   }
   for _, k in ipairs(after_iface or {}) do out[#out + 1] = k end
   out[#out + 1] = { "elapsed", "number", "seconds since counting started" }
   out[#out + 1] = { "final", "boolean", "true on the last record, written at exit" }
   for _, k in ipairs(keys) do out[#out + 1] = k end
   return out
end

--- cli.json_help(keys) -> the help text of a tool's --json record: keys is the sequence of
-- {name, JSON type, what} the tool writes, in that order; one line "  name  type: what" each,
-- the names padded to one width. cli.json_order(keys) -> the names, for sockhost.ndjson.
function cli.json_help(keys)
   local width, lines = 0, {}
   for _, k in ipairs(keys) do width = math.max(width, #k[1]) end
   for i, k in ipairs(keys) do
      lines[i] = ("  %-" .. width .. "s  %s: %s"):format(k[1], k[2], k[3])
   end
   return table.concat(lines, "\n")
end

function cli.json_order(keys)
   local order = {}
   for i, k in ipairs(keys) do order[i] = k[1] end
   return order
end

local Output = {}
Output.__index = Output

--- cli.output(name, args) -> out: where tool name's --json lines go. Without args.output,
-- out.file is io.stdout and out.on_hup is nil (SIGHUP keeps its default action). With it,
-- out.file is args.output opened for appending (sockhost.core.output_file: created 0640), or
-- this raises "--output <file>: <error text>"; args.output without args.json raises
-- "--output needs --json". out:follow(x) -> x: x (an opts.ndjson subscription, or an ndjson
-- writer) moves to each new file. SIGHUP is held (sockhost.hold_hup) from here on, and
-- out.on_hup is the function for sockhost.run{on_hup = ...}: it opens args.output anew
-- (after logrotate's mv, a new file), points everything followed at it, then closes the old
-- one, so each line is in exactly one of the two. When the new file cannot be opened the old
-- one stays in use and one line "<name>: --output <file>: <error>; still writing to the old
-- file" goes to stderr.
function cli.output(name, args)
   local out = setmetatable({ name = name, path = args.output, file = io.stdout, subs = {},
      writers = {} }, Output)
   if not args.output then return out end
   if not args.json then error("--output needs --json", 0) end
   local core = require "sockhost.core"
   local f, err = core.output_file(args.output)
   if not f then error("--output " .. err, 0) end
   -- a SIGHUP during the setup waits for the run instead of ending the tool
   core.hold_hup()
   out.file = f
   out.on_hup = function() out:reopen() end
   return out
end

function Output:follow(x)
   if getmetatable(x) == getmetatable(self.file) then
      error("Output:follow wants a subscription or an ndjson writer, got a file", 2)
   elseif x.set_output then
      self.subs[#self.subs + 1] = x
   else
      self.writers[#self.writers + 1] = x
   end
   return x
end

--- out:reopen() -> true, or nil and the error (the old file still in use).
function Output:reopen()
   local f, err = require("sockhost.core").output_file(self.path)
   if not f then
      io.stderr:write(("%s: --output %s; still writing to the old file\n"):format(self.name, err))
      return nil, err
   end
   local old = self.file
   old:flush()
   for _, sub in ipairs(self.subs) do sub:set_output(f) end
   f:setvbuf("line")
   for _, w in ipairs(self.writers) do w.fh = f end
   self.file = f
   old:close()
   return true
end

--- cli.totals(rows) -> packets, bytes: the sums of the rows' packets and bytes fields.
function cli.totals(rows)
   local packets, bytes = 0, 0
   for _, r in ipairs(rows) do
      packets, bytes = packets + r.packets, bytes + r.bytes
   end
   return packets, bytes
end

--- cli.count_summary(ctx, rows, noun) -> "N <noun>, P packets, B bytes, M missed" and, when
-- the object's `unparsed` global counted any, ", U unparsed (X bytes)".
function cli.count_summary(ctx, rows, noun)
   local packets, bytes = cli.totals(rows)
   local g = ctx.obj.globals
   local u = g.unparsed
   return ("%d %s, %d packets, %d bytes, %d missed%s"):format(#rows, noun, packets, bytes,
      g.missed, u.packets > 0 and (", %d unparsed (%d bytes)"):format(u.packets, u.bytes) or "")
end

--- cli.stopped(reason, signal) -> why sockhost.run returned, for a summary line: the reason
-- ("duration", "stopped" ...), followed by the signal's name when a signal ended it.
function cli.stopped(reason, signal)
   return tostring(reason) .. (signal and " " .. signal or "")
end

--- cli.report_every(report, duration [, on_hup]) -> reason, signal, last: calls report(false)
-- every second while the sockhost loop runs (duration seconds, nil: until a signal stops it;
-- on_hup: sockhost.run's, e.g. cli.output's), then report(true) once; returns sockhost.run's
-- reason and signal and what that last report returned. The timer is gone when it returns.
function cli.report_every(report, duration, on_hup)
   local sockhost = require "sockhost"
   local reason, signal
   do
      -- luacheck: push no unused (a to-be-closed handle: held for its lifetime, not read)
      local timer <close> = sockhost.every(1, function() report(false) end)
      -- luacheck: pop
      reason, signal = sockhost.run { duration = duration, on_hup = on_hup }
   end
   return reason, signal, report(true)
end

--- cli.main(name, fn, ...) -> what fn returns: a shipped tool's main. An error ends the tool
-- the way a command ends on bad input: one line "<name>: <message>" on stderr (the message
-- without its "file:line: " prefix) and exit status 1, after fn's to-be-closed handles are
-- closed and with the Lua state closed (so nothing stays attached). With SOCKHOST_TRACEBACK=1
-- in the environment the traceback follows the message. An interrupt at a Lua instruction
-- ("interrupted!"/"terminated!") goes on to sockhost, which exits as the signal says.
function cli.main(name, fn, ...)
   local res = table.pack(xpcall(fn, function(e)
      if e == "interrupted!" or e == "terminated!" then return e end
      local msg = type(e) == "table" and e.message or tostring(e)
      msg = tostring(msg):gsub("^[^\n:]*:%d+: ", "", 1)
      if os.getenv("SOCKHOST_TRACEBACK") == "1" then msg = debug.traceback(msg, 2) end
      return msg
   end, ...))
   if res[1] then return table.unpack(res, 2, res.n) end
   local msg = res[2]
   if msg == "interrupted!" or msg == "terminated!" then error(msg, 0) end
   if msg:sub(1, #name + 2) ~= name .. ": " then msg = name .. ": " .. msg end
   io.stderr:write(msg, "\n")
   io.stderr:flush()
   os.exit(1, true)
end

--- cli.count_families(name, o) -> the metric families of a counting script (sockex1/2/3):
--   o.by = { map =, label =, labels = function(key) -> label value, bytes =, packets = (their
--   help texts), value = function(field) -> value getter (default: the field itself) }:
--     sockhost_<name>_bytes_total{<label>} and _packets_total{<label>} bound to that map;
--   sockhost_<name>_unparsed_bytes_total and _unparsed_packets_total from the `unparsed`
--     global ({bytes, packets}: "IP frames <o.unparsed>", not counted <o.not_by>);
--   with o.missed (what was full), sockhost_<name>_missed_packets_total from `missed`.
function cli.count_families(name, o)
   local prefix = "sockhost_" .. name
   local out = {}
   local by = o.by
   if by then
      for _, field in ipairs({ "bytes", "packets" }) do
         out[#out + 1] = { name = ("%s_%s_total"):format(prefix, field), type = "counter",
            map = by.map, labels = by.labels, label_names = { by.label },
            value = by.value and by.value(field) or field, help = by[field] }
      end
   end
   out[#out + 1] = { name = prefix .. "_unparsed_bytes_total", type = "counter",
      collect = function(emit, obj) emit(obj.globals.unparsed.bytes) end,
      help = ("Bytes of IP frames %s (not counted %s)."):format(o.unparsed, o.not_by) }
   out[#out + 1] = { name = prefix .. "_unparsed_packets_total", type = "counter",
      collect = function(emit, obj) emit(obj.globals.unparsed.packets) end,
      help = ("IP frames %s."):format(o.unparsed) }
   if o.missed then
      out[#out + 1] = { name = prefix .. "_missed_packets_total", type = "counter",
         collect = function(emit, obj) emit(obj.globals.missed) end,
         help = ("Frames not counted because %s was full."):format(o.missed) }
   end
   return out
end

--- cli.count(spec): the run of a counting script (sockex1/2/3) once its arguments are parsed.
-- Opens spec.object (sockhost.open(spec.object, spec.open)), calls spec.setup(obj) if given,
-- attaches program spec.program to a raw socket on args.iface, says
-- "<name>: <spec.counting>" on stderr, then reports every second and once more at exit
-- (cli.report_every, args.duration): rows = spec.read(map spec.map); with args.json one NDJSON
-- line, spec.record(ctx, rows, final) stamped with "type" = spec.name and "ts" and written by
-- sockhost.ndjson in the order of spec.keys (cli.json_help's list), else spec.text(ctx, rows)
-- writes the table. At exit the summary "<name>: <spec.where or iface> after <s> s (<why it
-- stopped>): <spec.summary(ctx, rows)>" (spec.summary a noun such as "flows": the standard
-- "N flows, P packets, B bytes, M missed[, U unparsed (X bytes)]" of the object's
-- `missed`/`unparsed` globals). ctx is { obj =, args =, start =, now =, elapsed = }
-- (sockhost.now() seconds) and ctx.rates(rows, key) -> {[row[key]] = {packets =, bytes =}}:
-- the per-second rates of each row's packets and bytes since the previous call
-- (sockhost.interval; the first call measures from the start). spec.metrics, the tool's metric families, are served
-- on args.metrics (cli.serve_metrics) before the filter is attached. spec.name, .args,
-- .object, .program, .map, .counting, .keys, .read, .record, .text and .summary are required.
function cli.count(spec)
   return cli.main(spec.name, cli.count_run, spec)
end

-- cli.count's body, under cli.main.
function cli.count_run(spec)
   local sockhost = require "sockhost"
   local args = spec.args
   local ndjson = args.json and cli.need("sockhost.ndjson", "lua-cjson", "--json")
   local output = cli.output(spec.name, args)
   local out = ndjson and output:follow(ndjson.writer(output.file,
      { order = cli.json_order(spec.keys) }))
   io.stdout:setvbuf("line")
   output.file:setvbuf("line")

   local obj <close> = sockhost.open(spec.object, spec.open)
   if spec.setup then spec.setup(obj) end
   -- luacheck: push no unused (to-be-closed: served while it is held)
   local srv <close> = cli.serve_metrics(spec.name, args, obj, spec.metrics or {})
   -- luacheck: pop
   local sock <close> = sockhost.socket(args.iface)
   -- closing the socket detaches the filter
   obj:program(spec.program):attach(sock)
   local map = obj:map(spec.map)
   local start = sockhost.now()
   io.stderr:write(("%s: %s\n"):format(spec.name, spec.counting))
   local tracker = require("sockhost.interval").new {}
   tracker:update({}, start)
   local function ctx()
      local now = sockhost.now()
      return { obj = obj, args = args, start = start, now = now, elapsed = now - start,
         rates = function(rows, key)
            local by, rate = {}, {}
            for _, r in ipairs(rows) do by[r[key]] = { packets = r.packets, bytes = r.bytes } end
            for _, d in ipairs(tracker:update(by, now)) do rate[d.key] = d.rate end
            return rate
         end }
   end

   local function report(final)
      local rows = spec.read(map)
      if out then
         out:emit(spec.name, spec.record(ctx(), rows, final))
      else
         spec.text(ctx(), rows)
      end
      return rows
   end
   local reason, signal, rows = cli.report_every(report, args.duration, output.on_hup)

   local c = ctx()
   local summary = type(spec.summary) == "string" and cli.count_summary(c, rows, spec.summary)
      or spec.summary(c, rows)
   io.stderr:write(("%s: %s after %.1f s (%s): %s\n"):format(spec.name, spec.where or args.iface,
      c.elapsed, cli.stopped(reason, signal), summary))
end

return cli
