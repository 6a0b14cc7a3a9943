-- SPDX-License-Identifier: GPL-2.0
-- Bad input at the Lua API, one case a row: what a script can get wrong about every function
-- and option table, each with the exact message sockhost gives (the "file:line: " prefix is
-- stripped), and sockhost still working afterwards. The objects are the shipped sockex1 and
-- the fixtures maps, evgen and tpcount; nothing is attached.
local sockhost = require "sockhost"
local socket = require "socket"
local errors = require "helpers.errors"
local fixtures = require "helpers.fixtures"
local proc = require "helpers.proc"

local F = fixtures.path
local MALFORMED = proc.env("SOCKHOST_SOURCE_DIR") .. "/spec/fixtures/malformed"

describe("#kernel bad input to the Lua API", function()
   local TMP, EMPTY, obj, sx, prog, ev, udp
   local cases

   setup(function()
      TMP = os.tmpname()
      local f = assert(io.open(TMP, "w"))
      f:write("x")
      f:close()
      EMPTY = os.tmpname()
      obj = sockhost.open(F("maps"))
      sx = sockhost.open("sockex1")
      prog = sx:programs()[1]
      ev = fixtures.open("evgen", { globals = { target_pid = sockhost.pid() } })
      udp = assert(socket.udp())
      assert(udp:setsockname("127.0.0.1", 0))
      cases = {
      { "open: no argument",
         function() sockhost.open() end,
         "bad argument #1 to 'open' (string expected, got no value)" },
      { "open: options not a table",
         function() sockhost.open("sockex1", 5) end,
         "sockhost.open: options must be a table, got number" },
      { "open: misspelt option",
         function() sockhost.open("sockex1", { global = {} }) end,
         "sockhost.open: unknown option 'global' (valid: programs, maps, globals, load)" },
      { "open: programs not a table",
         function() sockhost.open("sockex1", { programs = "x" }) end,
         "sockhost.open: option 'programs' must be a table of program names, got string" },
      { "open: unknown program",
         function() sockhost.open("sockex1", { programs = { "nope" } }) end,
         "object 'sockex1' has no program 'nope' (programs: by_protocol)" },
      { "open: maps not a table",
         function() sockhost.open("sockex1", { maps = 5 }) end,
         "sockhost.open: option 'maps' must be a table of {max_entries = n} by map name, got number" },
      { "open: unknown map",
         function() sockhost.open("sockex1", { maps = { nope = {} } }) end,
         "object 'sockex1' has no map 'nope' (maps: protocols)" },
      { "open: map options not a table",
         function() sockhost.open("sockex1", { maps = { protocols = 5 } }) end,
         "sockhost.open: maps['protocols'] must be a table such as {max_entries = n}, got number" },
      { "open: misspelt map option",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entrie = 1 } } }) end,
         "sockhost.open: maps['protocols']: unknown option 'max_entrie' (valid: max_entries)" },
      { "open: max_entries 0",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entries = 0 } } }) end,
         "sockhost.open: maps['protocols'].max_entries must be an integer from 1 to 4294967295, got 0" },
      { "open: max_entries negative",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entries = -1 } } }) end,
         "sockhost.open: maps['protocols'].max_entries must be an integer from 1 to 4294967295, got -1" },
      { "open: max_entries 2^40",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entries = 1 << 40 } } }) end,
         "sockhost.open: maps['protocols'].max_entries must be an integer from 1 to 4294967295, got 1099511627776" },
      { "open: max_entries string",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entries = "x" } } }) end,
         "sockhost.open: maps['protocols'].max_entries must be an integer from 1 to 4294967295, got x" },
      { "open: max_entries float",
         function() sockhost.open("sockex1", { maps = { protocols = { max_entries = 1.5 } } }) end,
         "sockhost.open: maps['protocols'].max_entries must be an integer from 1 to 4294967295, got 1.5" },
      { "open: globals not a table",
         function() sockhost.open("sockex1", { globals = 5 }) end,
         "sockhost.open: option 'globals' must be a table of values by global name, got number" },
      { "open: unknown global",
         function() sockhost.open(F("tpcount"), { globals = { nope = 1 } }) end,
         "object 'tpcount' has no global 'nope' (globals: target_pid, target_nr, hits, raw_hits, "
         .. "btf_hits, kprobe_hits, kretprobe_hits, events_wakeup, tp_event_type)" },
      { "open: load not a boolean",
         function() sockhost.open("sockex1", { load = "yes" }) end,
         "sockhost.open: option 'load' must be a boolean, got string" },
      { "open: missing file",
         function() sockhost.open("/nonexistent/x.bpf.o") end,
         "object '/nonexistent/x.bpf.o': No such file or directory" },
      { "open: directory",
         function() sockhost.open("/tmp/") end,
         "object '/tmp/': not a regular file (a directory)" },
      { "open: empty file",
         function() sockhost.open(EMPTY) end,
         "object '" .. EMPTY .. "': not an ELF file" },
      { "open: text file",
         function() sockhost.open(TMP) end,
         "object '" .. TMP .. "': not an ELF file" },
      { "open: ELF not BPF",
         function() sockhost.open("/bin/true") end,
         "object '/bin/true': ELF file is not a BPF object (e_machine 62, want EM_BPF)" },
      { "open: path too long",
         function() sockhost.open(string.rep("a", 5000) .. "/x.o") end,
         "object path is 5004 bytes, longer than the 4095 the system allows" },
      { "open: no such built-in",
         function() sockhost.open("no-such-thing") end,
         "no built-in BPF object 'no-such-thing' in " .. sockhost.bpf_dir()
         .. " (built-in: conntrace, hello-sockops, redirect, sockex1, sockex2, sockex3)" },
      { "open: libbpf crash",
         function() sockhost.open(MALFORMED .. "/libbpf-segv-1.elf") end,
         "object '" .. MALFORMED .. "/libbpf-segv-1.elf': malformed object: libbpf crashed parsing it (Segmentation fault)" },
      { "obj:program unknown",
         function() obj:program("nope") end,
         "object 'maps' has no program 'nope' (programs: fill, sf_entry, sf_target)" },
      { "obj:map unknown",
         function() obj:map("nope") end,
         "object 'maps' has no map 'nope' (maps: pcpu_hash, pcpu_array, lru_pcpu, jmp, hash, names, big, "
         .. "lru, array, queue, stack, socks, sockh, lpm4, lpm6, events)" },
      { "obj:load twice",
         function() obj:load() end,
         "object 'maps' is already loaded" },
      { "obj.globals unknown read",
         function() return ev.globals.nope end,
         "object 'evgen' has no global 'nope' (globals: target_pid, cookie, burst, to_ring, to_perf, "
         .. "to_mixed, log_levels, printk_marker, sys_enter_openat.____fmt, calls, produced, "
         .. "events_wakeup, mixed_wakeup, sockhost_log_wakeup, ev_record_type, ev_big_type, "
         .. "ev_mixed_type, sockhost_log_level)" },
      { "obj.globals unknown write",
         function() ev.globals.nope = 1 end,
         "object 'evgen' has no global 'nope' (globals: target_pid, cookie, burst, to_ring, to_perf, "
         .. "to_mixed, log_levels, printk_marker, sys_enter_openat.____fmt, calls, produced, "
         .. "events_wakeup, mixed_wakeup, sockhost_log_wakeup, ev_record_type, ev_big_type, "
         .. "ev_mixed_type, sockhost_log_level)" },
      { "obj.globals rodata after load",
         function() ev.globals.burst = 2 end,
         "global 'burst' is read-only after load (it is in .rodata: set it in open's opts.globals or before obj:load())" },
      { "obj.globals wrong type",
         function() local o = fixtures.open("evgen", { load = false }); o.globals.burst = "x" end,
         "global 'burst': expected integer, got string" },
      { "obj:subscribe unknown map",
         function() ev:subscribe("nope", nil, print) end,
         "object 'evgen' has no map 'nope' (maps: events, events_drops, perf_events, mixed, "
         .. "mixed_drops, sockhost_log, sockhost_log_drops)" },
      { "prog:attach socket filter to string",
         function() prog:attach("/sys") end,
         "program 'by_protocol' (socket_filter) attaches to a socket (fd number, LuaSocket object or sockhost.socket), got string '/sys'" },
      { "prog:attach socket filter to nil",
         function() prog:attach() end,
         "program 'by_protocol' (socket_filter) attach: expected a socket (fd number, LuaSocket object or sockhost.socket), got nil" },
      { "prog:attach fd -1",
         function() prog:attach(-1) end,
         "program 'by_protocol' (socket_filter) attach: fd -1 is not open" },
      { "prog:attach fd 2^32+fd",
         function() prog:attach((1 << 32) + math.tointeger(udp:getfd())) end,
         "program 'by_protocol' (socket_filter) attach: " .. "fd " .. ((1 << 32) + math.tointeger(udp:getfd())) .. " is" .. " not open" },
      { "prog:attach non-socket fd",
         function() prog:attach(3) end,
         "program 'by_protocol' (socket_filter) attach: fd 3 is not a socket" },
      { "prog:attach float fd",
         function() prog:attach(2.5) end,
         "program 'by_protocol' (socket_filter) attach: fd must be an integer, got 2.5" },
      { "prog:attach closed luasocket",
         function() local u = socket.udp(); u:close(); prog:attach(u) end,
         "program 'by_protocol' (socket_filter) attach: socket object has no open descriptor" },
      { "prog:test_run not a table",
         function() prog:test_run(5) end,
         "bad argument #1 to 'test_run' (table expected, got number)" },
      { "prog:test_run misspelt",
         function() prog:test_run { dat = "" } end,
         "test_run: unknown option 'dat' (valid: data, ctx, repeat, cpu)" },
      { "prog:test_run repeat 0",
         function() prog:test_run { data = string.rep("\0", 64), ["repeat"] = 0 } end,
         "test_run: repeat must be an integer from 1 to 2147483647, got 0" },
      { "prog:test_run cpu 99",
         function() prog:test_run { data = string.rep("\0", 64), cpu = 99 } end,
         "test_run: cpu must be an integer " .. "from 0 to " .. (proc.possible_cpus() - 1) .. "," .. " got 99" },
      { "prog:test_run data number",
         function() prog:test_run { data = {} } end,
         "test_run: option 'data' must be a string of packet bytes, got table" },
      { "prog.name set",
         function() prog.name = "x" end,
         "program 'by_protocol': field 'name' cannot be set (only autoload)" },
      { "prog.autoload after load",
         function() prog.autoload = false end,
         "program 'by_protocol': autoload can only change before load" },
      { "prog:pin not bpffs",
         function() prog:pin("/tmp/sockhost-pin-test") end,
         "pin path '/tmp/sockhost-pin-test': '/tmp' is not on a bpffs (mount -t bpf bpf DIR)" },
      { "prog:pin relative",
         function() prog:pin("relative") end,
         "pin path 'relative': must be a file below a bpffs mount such as /sys/fs/bpf" },
      { "prog:unpin ordinary file",
         function() prog:unpin(TMP) end,
         "program 'by_protocol': unpin '" .. TMP .. "': not on a bpffs, so not a pin" },
      { "open_pinned ordinary file",
         function() sockhost.open_pinned("/etc/passwd") end,
         "open_pinned '/etc/passwd': not on a bpffs, so not a pin" },
      { "open_pinned missing",
         function() sockhost.open_pinned("/sys/fs/bpf/sockhost-no-such-pin") end,
         "open_pinned '/sys/fs/bpf/sockhost-no-such-pin': No such file or directory" },
      { "detach_filter string",
         function() sockhost.detach_filter("x") end,
         "detach_filter: expected a socket (fd number, LuaSocket object or sockhost.socket), got string" },
      { "detach_filter huge float",
         function() sockhost.detach_filter(1e100) end,
         "detach_filter: fd must be an integer, got 1e+100" },
      { "cgroup_id missing",
         function() sockhost.cgroup_id("/nonexistent") end,
         "cgroup '/nonexistent': No such file or directory" },
      { "cgroup_id not cgroup2",
         function() sockhost.cgroup_id("/tmp") end,
         "cgroup '/tmp': not a cgroup v2 directory (cgroup2 is mounted at " .. sockhost.cgroup2_root() .. ")" },
      { "socket no such interface",
         function() sockhost.socket("nope0") end,
         "interface 'nope0' does not exist" },
      { "watch negative fd",
         function() sockhost.watch(-5, print) end,
         "sockhost.watch: fd -5 is not open" },
      { "watch callback not callable",
         function() sockhost.watch(0, 5) end,
         "sockhost.watch: callback must be callable, got number" },
      { "run duration negative",
         function() sockhost.run { duration = -1 } end,
         "sockhost.run: duration must be > 0 seconds, got -1.0" },
      { "run duration inf",
         function() sockhost.run { duration = math.huge } end,
         "sockhost.run: duration must be at most 1000000000 seconds (about 31 years), got inf" },
      { "run misspelt",
         function() sockhost.run { duraton = 1 } end,
         "sockhost.run: unknown option 'duraton' (valid: duration, on_hup)" },
      { "run not a table",
         function() sockhost.run(5) end,
         "sockhost.run: options must be a table, got number" },
      { "every 0",
         function() sockhost.every(0, print) end,
         "sockhost.every: interval must be > 0 seconds, got 0.0" },
      { "every 1e300",
         function() sockhost.every(1e300, print) end,
         "sockhost.every: interval must be at most 1000000000 seconds (about 31 years), got 1e+300" },
      { "every nil callback",
         function() sockhost.every(1, nil) end,
         "sockhost.every: callback must be callable, got nil" },
      { "after negative",
         function() sockhost.after(-1, print) end,
         "sockhost.after: interval must be > 0 seconds, got -1.0" },
      { "every string",
         function() sockhost.every("x", print) end,
         "bad argument #1 to 'every' (number expected, got string)" },
      { "poll negative",
         function() sockhost.poll(-5) end,
         "sockhost.poll: timeout -5 ms out of range" },
      { "poll huge",
         function() sockhost.poll(1 << 40) end,
         "sockhost.poll: timeout 1099511627776 ms out of range" },
      { "log_level unknown",
         function() sockhost.log_level("loud") end,
         "sockhost.log_level: unknown level 'loud' (error, warn, info, debug, trace or off)" },
      { "on_log number",
         function() sockhost.on_log(5) end,
         "sockhost.on_log: expected a function or nil, got number" },
      { "trace_pipe number",
         function() sockhost.trace_pipe(5) end,
         "sockhost.trace_pipe: callback must be callable, got number" },
      { "ringbuf of a hash",
         function() sockhost.ringbuf(obj:map("hash"), nil, print) end,
         "map 'hash' is a hash map, not a ring buffer" },
      { "ringbuf unknown type",
         function() sockhost.ringbuf(ev:map("events"), "struct nope", print) end,
         "ringbuf 'events': type 'struct nope' not found in the object's BTF (a type used only "
            .. "through a pointer is dropped by clang: add SH_EVENT_TYPE(struct nope); at file scope in the BPF C)" },
      { "ringbuf callback number",
         function() sockhost.ringbuf(ev:map("events"), nil, 5) end,
         "ringbuf 'events': callback must be callable, got number" },
      { "ringbuf batch 0",
         function() sockhost.ringbuf(ev:map("events"), nil, print, { batch = 0 }) end,
         "ringbuf 'events': opts.batch must be true or 1..1048576 records, got 0" },
      { "ringbuf batch string",
         function() sockhost.ringbuf(ev:map("events"), nil, print, { batch = "x" }) end,
         "ringbuf 'events': opts.batch must be true or a record count, got string" },
      { "ringbuf on_error unknown",
         function() sockhost.ringbuf(ev:map("events"), nil, print, { on_error = "ignore" }) end,
         "ringbuf 'events': opts.on_error must be \"stop\" or \"count\", got ignore" },
      { "ringbuf fields unknown",
         function() sockhost.ringbuf(ev:map("events"), "struct ev_record", print, { batch = true, fields = { "nope" } }) end,
         "ringbuf 'events': opts.fields: nope is not a field of struct ev_record (or is listed twice)" },
      { "ringbuf misspelt",
         function() sockhost.ringbuf(ev:map("events"), nil, print, { batchh = true }) end,
         "ringbuf 'events': unknown option 'batchh' (valid: batch, fields, on_error, ndjson, latency)" },
      { "ringbuf options number",
         function() sockhost.ringbuf(ev:map("events"), nil, print, 5) end,
         "ringbuf 'events': options must be a table, got number" },
      { "perfbuf of a ring",
         function() sockhost.perfbuf(ev:map("events"), nil, print) end,
         "map 'events' is a ringbuf map, not a perf event array" },
      { "perfbuf pages 3",
         function() sockhost.perfbuf(ev:map("perf_events"), nil, print, { pages = 3 }) end,
         "perfbuf 'perf_events': opts.pages must be a power of 2 in 1..4096, got 3" },
      { "perfbuf on_lost number",
         function() sockhost.perfbuf(ev:map("perf_events"), nil, print, { on_lost = 5 }) end,
         "perfbuf 'perf_events': opts.on_lost must be a function, got number" },
      { "map:lookup no key",
         function() obj:map("hash"):lookup() end,
         "bad argument #1 to 'lookup' (value expected)" },
      { "map:update no value",
         function() obj:map("hash"):update(1) end,
         "bad argument #2 to 'update' (value expected)" },
      { "map:update bad flag",
         function() obj:map("hash"):update(1, 2, "sometimes") end,
         "bad argument #3 to 'update' (invalid option 'sometimes')" },
      { "map:lookup percpu on hash",
         function() obj:map("hash"):lookup(1, { percpu = true }) end,
         "map 'hash': percpu = true, but it is a hash map, not a per-CPU one" },
      { "map:lookup unknown option",
         function() obj:map("hash"):lookup(1, { bogus = 1 }) end,
         "map 'hash': unknown option 'bogus' (valid: percpu)" },
      { "map:pairs chunk 0",
         function() obj:map("hash"):pairs { chunk = 0 } end,
         "map 'hash': chunk must be an integer between 1 and 16777216" },
      { "map:resize after load",
         function() obj:map("hash"):resize(10) end,
         "map 'hash': resize only works before load" },
      }
   end)

   teardown(function()
      os.remove(TMP)
      os.remove(EMPTY)
      udp:close()
      ev:close()
      sx:close()
      obj:close()
   end)

   it("gives each its exact message", function()
      local wrong = {}
      for _, c in ipairs(cases) do
         local ok, got = pcall(errors.message, c[2])
         if not ok then
            wrong[#wrong + 1] = c[1] .. ": raised nothing (" .. tostring(got) .. ")"
         elseif got ~= c[3] then
            wrong[#wrong + 1] = ("%s:\n  expected: %s\n       got: %s"):format(c[1], c[3], got)
         end
      end
      assert(#wrong == 0, #wrong .. " of " .. #cases .. " cases:\n" .. table.concat(wrong, "\n"))
      assert.is_true(#cases >= 90)
   end)

   it("still works after all of them", function()
      local o <close> = sockhost.open(F("maps"))
      local m = o:map("array")
      m[1] = m[1]
      assert.is_true(m:count() > 0)
   end)
end)
