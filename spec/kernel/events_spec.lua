-- SPDX-License-Identifier: GPL-2.0
-- Events in depth: ring and perf buffers (decoded, raw, batch), the loss ledger, callback
-- errors, timers, signals, script fds, BPF-side logging and trace_pipe. Every event comes from
-- spec/fixtures/evgen.bpf.c's tracepoint on openat() calls of this very process (io.open("/dev/null")),
-- so counts are exact and other processes' syscalls never show up.
local sockhost = require "sockhost"
local events = require "sockhost.events"
local socket = require "socket"
local proc = require "helpers.proc"
local traffic = require "helpers.traffic"
local errors = require "helpers.errors"
local fixtures = require "helpers.fixtures"

local bin = proc.env("SOCKHOST_BIN")

local open_files = traffic.open_files

--- Poll until fn() is true or two seconds pass.
local function poll_until(fn)
   return proc.poll_until(sockhost, fn)
end

local evgen, attach = fixtures.evgen, fixtures.evgen_attach

describe("sockhost.ringbuf #kernel", function()
   it("delivers exactly the records of the calls made, decoded by BTF", function()
      local obj <close> = evgen()
      local seen = {}
      local rb = sockhost.ringbuf(obj:map("events"), "struct ev_record", function(e)
         seen[#seen + 1] = e
      end)
      local link = attach(obj)
      open_files(25)
      link:detach()
      open_files(3)
      poll_until(function() return #seen >= 25 end)
      sockhost.poll(20)
      assert.equal(25, #seen)
      assert.equal(25, obj.globals.calls)
      local ncpu, last_ts = proc.possible_cpus(), 0
      for i, e in ipairs(seen) do
         local rest = {}
         for k, v in pairs(e) do rest[k] = v end
         rest.cpu, rest.ts = nil, nil
         assert.same({ pid = sockhost.pid(), seq = i, idx = 0, cookie = 0x5eed }, rest)
         -- the CPU the call ran on, and bpf_ktime_get_ns() taken in call order
         assert.is_true(math.type(e.cpu) == "integer" and e.cpu >= 0 and e.cpu < ncpu,
            ("record %d: cpu %s of %d"):format(i, tostring(e.cpu), ncpu))
         assert.is_true(math.type(e.ts) == "integer" and e.ts > 0 and e.ts >= last_ts,
            ("record %d: ts %s after %s"):format(i, tostring(e.ts), tostring(last_ts)))
         last_ts = e.ts
      end
      assert.equal(25, rb.received)
      assert.same({ kind = "ringbuf", name = "events", type = "struct ev_record", received = 25,
                    dropped = 0, errors = 0, discarded = 0, open = true, paced = 0 }, rb:stats())
      rb:close()
      assert.equal("sockhost.ringbuf (closed)", tostring(rb))
   end)

   it("hands raw bytes over when no type is named", function()
      local obj <close> = evgen()
      local raw = {}
      sockhost.ringbuf(obj:map("events"), nil, function(s) raw[#raw + 1] = s end)
      local link <close> = attach(obj)
      open_files(4)
      poll_until(function() return #raw >= 4 end)
      assert.equal(4, #raw)
      for i, s in ipairs(raw) do
         assert.equal(32, #s)
         local pid, seq, idx, _, _, cookie = string.unpack("<I4I4I4I4I8I8", s)
         assert.same({ sockhost.pid(), i, 0, 0x5eed }, { pid, seq, idx, cookie })
      end
   end)

   it("batches records into reused per-field arrays", function()
      local obj <close> = evgen({ burst = 10 })
      local calls, seqs, idxs, tables, lens = 0, {}, {}, {}, {}
      sockhost.ringbuf(obj:map("events"), "struct ev_record", function(cols, n)
         calls = calls + 1
         tables[cols] = true
         lens[#lens + 1] = #cols.seq
         assert.equal(n, #cols.seq)
         for i = 1, n do
            seqs[#seqs + 1] = cols.seq[i]
            idxs[#idxs + 1] = cols.idx[i]
         end
      end, { batch = 7 })
      local link <close> = attach(obj)
      open_files(3) -- 30 records: batches of 7, 7, 7, 7, 2 (one drain)
      poll_until(function() return #seqs >= 30 end)
      assert.equal(30, #seqs)
      for i = 1, 30 do
         assert.equal((i - 1) // 10 + 1, seqs[i])
         assert.equal((i - 1) % 10, idxs[i])
      end
      assert.same({ 7, 7, 7, 7, 2 }, lens)
      local ntables = 0
      for _ in pairs(tables) do ntables = ntables + 1 end
      assert.equal(1, ntables)
   end)

   it("batches only the fields asked for", function()
      local obj <close> = evgen({ burst = 3 })
      local got
      sockhost.ringbuf(obj:map("events"), "struct ev_record", function(cols, n)
         got = { n = n, fields = {} }
         for k in pairs(cols) do got.fields[#got.fields + 1] = k end
         got.seq = { table.unpack(cols.seq, 1, n) }
      end, { batch = true, fields = { "seq" } })
      local link <close> = attach(obj)
      open_files(1)
      poll_until(function() return got end)
      assert.same({ n = 3, fields = { "seq" }, seq = { 1, 1, 1 } }, got)
   end)
end)

describe("sockhost.perfbuf #kernel", function()
   it("gives the same records as the ring buffer", function()
      local obj <close> = evgen({ burst = 4, to_perf = true })
      local ring, perf = {}, {}
      sockhost.ringbuf(obj:map("events"), "struct ev_record", function(e) ring[#ring + 1] = e end)
      local pb = sockhost.perfbuf(obj:map("perf_events"), "struct ev_record",
         function(e) perf[#perf + 1] = e end)
      local link = attach(obj)
      open_files(6)
      link:detach()
      poll_until(function() return #ring >= 24 and #perf >= 24 end)
      local function key(e) return e.seq * 1000 + e.idx end
      table.sort(ring, function(a, b) return key(a) < key(b) end)
      table.sort(perf, function(a, b) return key(a) < key(b) end)
      assert.equal(24, #ring)
      assert.same(ring, perf)
      assert.same({ kind = "perfbuf", name = "perf_events", type = "struct ev_record",
                    received = 24, dropped = 0, errors = 0, discarded = 0, open = true }, pb:stats())
   end)
end)

describe("loss ledger #kernel", function()
   it("counts every record a tiny ring could not take: received + dropped == produced", function()
      -- 4 KiB ring, 200 records of 40 bytes (with header) per call: most cannot fit
      local obj <close> = evgen({ burst = 200 }, { events = { max_entries = 4096 } })
      local n = 0
      local rb = sockhost.ringbuf(obj:map("events"), "struct ev_record", function() n = n + 1 end)
      local link = attach(obj)
      for _ = 1, 3 do
         open_files(1)
         poll_until(function() return n + rb.dropped >= obj.globals.produced end)
      end
      link:detach()
      sockhost.poll(20)
      assert.equal(600, obj.globals.produced)
      assert.is_true(rb.dropped > 0)
      assert.is_true(n > 0)
      assert.equal(600, n + rb.dropped)
      assert.equal(n, rb.received)
      local lines = events.drop_warnings({ rb:stats() })
      assert.same({ ("sockhost: warning: ringbuf 'events': %d of 600 events dropped in the kernel "
         .. "(reader too slow or ring too small: maps = {events = {max_entries = ...}})")
         :format(rb.dropped) }, lines)
      local listed = false
      for _, s in ipairs(sockhost.stats()) do
         if s.name == "events" and s.dropped == rb.dropped and s.received == n then listed = true end
      end
      assert.is_true(listed)
   end)
end)

describe("callback errors #kernel", function()
   it("stop the loop with the traceback; the next poll gets the next records, not repeats", function()
      local obj <close> = evgen({ burst = 5 })
      local seen = {}
      sockhost.ringbuf(obj:map("events"), "struct ev_record", function(e)
         seen[#seen + 1] = e.idx
         if e.idx == 2 then error("boom at " .. e.idx) end
      end)
      local link <close> = attach(obj)
      open_files(1)
      local ok, err = pcall(poll_until, function() return false end)
      assert.is_false(ok)
      assert.matches("boom at 2\nstack traceback:\n", err, 1, true)
      assert.same({ 0, 1, 2 }, seen)
      poll_until(function() return #seen >= 5 end)
      assert.same({ 0, 1, 2, 3, 4 }, seen)
   end)

   it("reach the script when the error object is not a string", function()
      local obj <close> = evgen()
      sockhost.ringbuf(obj:map("events"), "struct ev_record", function() error({ code = 7 }) end)
      local link = attach(obj)
      open_files(1)
      link:detach()
      local ok, err = pcall(poll_until, function() return false end)
      assert.is_false(ok)
      assert.matches("^%(error object is a table value%)\nstack traceback:\n", err)
      local obj2 <close> = evgen()
      sockhost.ringbuf(obj2:map("events"), "struct ev_record", function()
         error(setmetatable({}, { __tostring = function() return "custom failure" end }))
      end)
      local link2 <close> = attach(obj2)
      open_files(1)
      ok, err = pcall(poll_until, function() return false end)
      assert.is_false(ok)
      assert.matches("^custom failure\nstack traceback:\n", err)
      link2:detach()
   end)

   it("are counted instead with on_error = \"count\"", function()
      local obj <close> = evgen({ burst = 6 })
      local good = 0
      local rb = sockhost.ringbuf(obj:map("events"), "struct ev_record", function(e)
         if e.idx % 2 == 1 then error("odd " .. e.idx) end
         good = good + 1
      end, { on_error = "count" })
      local link <close> = attach(obj)
      open_files(2)
      poll_until(function() return rb.received >= 12 end)
      assert.equal(12, rb.received)
      assert.equal(6, good)
      assert.equal(6, rb.errors)
      assert.matches("odd 5\nstack traceback:", rb:stats().last_error, 1, true)
      assert.same({ "sockhost: warning: ringbuf 'events': 6 callback errors, the last: "
         .. rb:stats().last_error:match("^[^\n]*") }, events.drop_warnings({ rb:stats() }))
   end)

   it("leave nothing attached when the script stops on them", function()
      local dir = os.tmpname()
      local script = dir .. ".lua"
      local f = assert(io.open(script, "w"))
      f:write([[
local sockhost = require "sockhost"
local obj = require("helpers.fixtures").open("evgen", { globals = { target_pid = sockhost.pid() } })
local link = obj:program("sys_enter_openat"):attach()
sockhost.ringbuf(obj:map("events"), "struct ev_record", function(e) error("bad record " .. e.seq) end)
local out = assert(io.open(arg[1], "w"))
out:write(obj:program("sys_enter_openat"):info().id)
out:close()
sockhost.run { duration = 5 }
]])
      f:close()
      local _, out = proc.sh(string.format("%s %s %s 2>&1; echo \"status=$?\"",
         proc.quote(bin), proc.quote(script), proc.quote(dir)))
      local id = proc.read_file(dir)
      os.remove(script)
      os.remove(dir)
      assert.matches("bad record 1\nstack traceback:", out, 1, true)
      assert.matches("status=1\n$", out)
      assert.truthy(id and id:match("^%d+$"))
      assert.is_true(proc.wait_for(function()
         return not proc.sh("bpftool prog show id " .. id .. " >/dev/null 2>&1")
      end, 5) or false)
   end)
end)

describe("the loop #kernel", function()
   it("fires timers the right number of times within a duration", function()
      local every, after = 0, 0
      local t1 <close> = sockhost.every(0.1, function() every = every + 1 end)
      local t2 <close> = sockhost.after(0.25, function() after = after + 1 end)
      assert.equal("duration", sockhost.run { duration = 0.55 })
      assert.equal(5, every)
      assert.equal(1, after)
      assert.equal("sockhost.timer (every)", tostring(t1))
      assert.equal("sockhost.timer (after, cancelled)", tostring(t2))
   end)

   it("refuses re-entry from a callback", function()
      local err
      local t <close> = sockhost.after(0.01, function()
         err = errors.message(function() sockhost.run { duration = 1 } end)
      end)
      sockhost.run { duration = 0.1 }
      assert.equal("sockhost.timer (after, cancelled)", tostring(t))
      assert.equal("sockhost.run: the loop is already running (run and poll cannot be called "
         .. "from a callback)", err)
   end)

   it("watches script fds and says when one is closed under it", function()
      local rx = assert(socket.udp4())
      local w, tx
      finally(function() -- busted keeps only a test's last finally: one for all
         -- a watch left behind would fire (or raise) in every later poll of this process
         if w then w:cancel() end
         rx:close()
         if tx then tx:close() end
      end)
      assert(rx:setsockname("127.0.0.1", 0))
      local _, port = rx:getsockname()
      local got = {}
      w = sockhost.watch(rx, function(watch, what)
         got[#got + 1] = what .. ":" .. tostring(rx:receive())
         assert.equal(rx:getfd(), watch.fd)
      end)
      tx = assert(socket.udp4())
      assert(tx:sendto("ping", "127.0.0.1", port))
      poll_until(function() return #got >= 1 end)
      assert.same({ "in:ping" }, got)
      local fd = math.tointeger(rx:getfd())
      rx:close()
      errors.raises(function() sockhost.poll(0) end,
         ("sockhost.watch: fd %d was closed while the loop watched it (cancel the watch with "
            .. "w:cancel() before closing its fd)"):format(fd))
      assert.is_false(w.active)
      sockhost.poll(0) -- and it is gone: no error, no spin
   end)

   it("returns from run on SIGINT so the script prints its summary", function()
      local dir = proc.tmpdir()
      local f = assert(io.open(dir .. "/s.lua", "w"))
      f:write([[
local sockhost = require "sockhost"
local events = require "sockhost.events"
local p = assert(io.open(arg[1] .. "/pid", "w")) -- opened before the attach: not an event
local obj = require("helpers.fixtures").open("evgen", { globals = { target_pid = sockhost.pid() } })
local link = obj:program("sys_enter_openat"):attach()
local n = 0
sockhost.ringbuf(obj:map("events"), "struct ev_record", function() n = n + 1 end)
for _ = 1, 3 do io.open("/dev/null"):close() end
-- the pid is written from inside run(), so the spec's SIGINT always finds run() waiting
sockhost.after(0.01, function()
   p:write(sockhost.pid())
   p:close()
end)
local reason, sig = sockhost.run()
io.stderr:write("summary: ", reason, " ", tostring(sig), " ", n, " events\n")
events.warn_drops()
]])
      f:close()
      local child = proc.spawn(string.format("%s %s %s 2>%s/err", proc.quote(bin),
         proc.quote(dir .. "/s.lua"), proc.quote(dir), dir))
      finally(function() -- whatever fails below, the child does not outlive the spec
         proc.reap(child)
      end)
      local pid = proc.wait_for(function()
         return (proc.read_file(dir .. "/pid") or ""):match("^%d+$")
      end)
      assert.truthy(pid)
      assert(proc.sh("kill -INT " .. pid))
      local err = proc.wait_for(function()
         local s = proc.read_file(dir .. "/err")
         return s and s:find("summary.*events\n") and s
      end)
      proc.sh("rm -rf " .. proc.quote(dir))
      assert.equal("summary: signal SIGINT 3 events\n", err)
   end)
end)

describe("BPF logging #kernel", function()
   after_each(function()
      sockhost.on_log(nil)
      sockhost.log_level("info")
   end)

   it("formats messages with level and program, filtered by level on both sides", function()
      local obj <close> = evgen({ log_levels = true, to_ring = false })
      local got = {}
      sockhost.on_log(function(level, prog, msg) got[#got + 1] = level .. " " .. prog .. ": " .. msg end)
      local sub = sockhost.log_attach(obj)
      assert.equal(sub, sockhost.log_attach(obj))
      assert.equal("info", sockhost.log_level("warn"))
      assert.equal(2, obj.globals.sockhost_log_level)
      local link = attach(obj)
      open_files(1)
      poll_until(function() return #got >= 2 end)
      sockhost.log_level("debug")
      assert.equal(4, obj.globals.sockhost_log_level)
      open_files(1)
      link:detach()
      poll_until(function() return #got >= 6 end)
      sockhost.poll(20)
      local pid = sockhost.pid()
      assert.same({
         "error sys_enter_openat: error 1",
         "warn sys_enter_openat: warn 1",
         "error sys_enter_openat: error 2",
         "warn sys_enter_openat: warn 2",
         "info sys_enter_openat: info 2 pid=" .. pid .. " hex=0xbeef addr=127.0.0.1",
         "debug sys_enter_openat: debug 2   -42|7   |-1 %",
      }, got)
      -- the kernel wrote only what the level let through
      assert.equal(6, sub.received)
      errors.raises(function() sockhost.log_level("loud") end,
         "sockhost.log_level: unknown level 'loud' (error, warn, info, debug, trace or off)")
   end)

   it("prints [LEVEL prog] lines on stderr, filtered by SOCKHOST_LOG", function()
      local code = "local o = require('helpers.fixtures').open('evgen', {globals = {target_pid = sockhost.pid(), "
         .. "log_levels = true, to_ring = false}}); sockhost.log_attach(o); "
         .. "local l = o:program('sys_enter_openat'):attach(); io.open('/dev/null'):close(); "
         .. "l:detach(); sockhost.poll(100)"
      local _, out = proc.sh(("SOCKHOST_LOG=warn %s -e %s 2>&1"):format(proc.quote(bin),
         proc.quote(code)))
      assert.equal("[ERROR sys_enter_openat] error 1\n[WARN sys_enter_openat] warn 1\n", out)
   end)

   it("reads bpf_printk lines from trace_pipe", function()
      local marker = math.random(1, 0x7fffffff)
      local obj <close> = evgen({ printk_marker = marker, to_ring = false })
      local lines = {}
      local tp <close> = sockhost.trace_pipe(function(msg, info)
         if msg:find("sockhost-evgen " .. marker .. " ", 1, true) then
            lines[#lines + 1] = { msg = msg, pid = info.pid }
         end
      end)
      local link = attach(obj)
      open_files(3)
      link:detach()
      poll_until(function() return #lines >= 3 end)
      assert.is_true(tp.lines >= 3)
      local pid = sockhost.pid()
      assert.same({
         { msg = "sockhost-evgen " .. marker .. " 1", pid = pid },
         { msg = "sockhost-evgen " .. marker .. " 2", pid = pid },
         { msg = "sockhost-evgen " .. marker .. " 3", pid = pid },
      }, lines)
   end)
end)

describe("bad input #kernel", function()
   local obj
   before_each(function() obj = evgen() end)
   after_each(function() obj:close() end)
   local function nop() end

   it("names what is wrong", function()
      errors.raises(function() sockhost.ringbuf(obj:map("perf_events"), nil, nop) end,
         "map 'perf_events' is a perf_event_array map, not a ring buffer")
      errors.raises(function() sockhost.perfbuf(obj:map("events"), nil, nop) end,
         "map 'events' is a ringbuf map, not a perf event array")
      errors.raises(function() sockhost.ringbuf(obj:map("events"), "struct nope", nop) end,
         "ringbuf 'events': type 'struct nope' not found in the object's BTF (a type used only "
            .. "through a pointer is dropped by clang: add SH_EVENT_TYPE(struct nope); at file scope in the BPF C)")
      errors.raises(function() sockhost.ringbuf(obj:map("events"), "struct ev_record", 42) end,
         "ringbuf 'events': callback must be callable, got number")
      errors.raises(function() sockhost.perfbuf(obj:map("perf_events"), nil, {}) end,
         "perfbuf 'perf_events': callback must be callable, got table")
      errors.raises(function() sockhost.ringbuf(obj:map("events"), nil, nop, { batch = 0 }) end,
         "ringbuf 'events': opts.batch must be true or 1..1048576 records, got 0")
      errors.raises(function() sockhost.ringbuf(obj:map("events"), nil, nop, { on_error = "x" }) end,
         "ringbuf 'events': opts.on_error must be \"stop\" or \"count\", got x")
      errors.raises(function()
         sockhost.ringbuf(obj:map("events"), "struct ev_record", nop, { batch = true, fields = { "nope" } })
      end, "ringbuf 'events': opts.fields: nope is not a field of struct ev_record (or is listed twice)")
      errors.raises(function() sockhost.perfbuf(obj:map("perf_events"), nil, nop, { pages = 3 }) end,
         "perfbuf 'perf_events': opts.pages must be a power of 2 in 1..4096, got 3")
      errors.raises(function() sockhost.every(0, nop) end,
         "sockhost.every: interval must be > 0 seconds, got 0.0")
      errors.raises(function() sockhost.after(-1, nop) end,
         "sockhost.after: interval must be > 0 seconds, got -1.0")
      errors.raises(function() sockhost.watch(io.stdout, nop) end,
         "sockhost.watch: socket object has no open descriptor")
      errors.raises(function() sockhost.watch(9999, nop) end, "sockhost.watch: fd 9999 is not open")
      errors.raises(function() sockhost.trace_pipe("x") end,
         "sockhost.trace_pipe: callback must be callable, got string")
      errors.raises(function() sockhost.on_log(1) end,
         "sockhost.on_log: expected a function or nil, got number")
   end)

   it("stops on a record smaller than the named type", function()
      local rb = sockhost.ringbuf(obj:map("events"), "struct ev_big", nop)
      local link <close> = attach(obj)
      open_files(2)
      local ok, err = pcall(poll_until, function() return false end)
      assert.is_false(ok)
      assert.equal("ringbuf 'events': record of 32 bytes is smaller than struct ev_big (64 bytes)",
         err:match("^[^\n]*"))
      assert.equal(0, rb.received)
      assert.equal(1, rb.errors)
   end)
end)
