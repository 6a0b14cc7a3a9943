-- SPDX-License-Identifier: GPL-2.0
--
-- spec/tools/cli_spec.lua: the sockhost executable (host/main.c, host/repl.c): options, `arg`, error reporting,
-- the REPL fed through a pipe, and signals. Runs $SOCKHOST_BIN as a child process; nothing
-- here needs BPF, so it runs on any kernel.

local proc = require "helpers.proc"

local BIN = proc.env("SOCKHOST_BIN")

local q, read_file = proc.quote, proc.read_file

local tmpfiles = {}

local function tmpname()
   local name = os.tmpname()
   tmpfiles[#tmpfiles + 1] = name
   return name
end

local function write_tmp(content)
   local name = tmpname()
   local f = assert(io.open(name, "w"))
   f:write(content)
   f:close()
   return name
end

local function assert_prefix(prefix, s)
   assert.equal(prefix, s:sub(1, #prefix))
end

-- Run sockhost with args (already quoted for sh) and input on stdin (/dev/null when nil).
-- Returns { out = stdout, err = stderr, code = exit status, how = "exit" or "signal" }.
local function run(args, input)
   local out, err = tmpname(), tmpname()
   local stdin = input and q(write_tmp(input)) or "/dev/null"
   local _, how, code = os.execute(string.format("%s %s <%s >%s 2>%s", q(BIN), args, stdin,
      q(out), q(err)))
   return { out = read_file(out), err = read_file(err), code = code, how = how }
end

-- Start `cmd` (one sh command that runs sockhost, which prints "ready" once it may be
-- signalled, with its stderr sent to errfile) in the background, after the sh commands in
-- setup and before those in cleanup; send it sig once ready. Returns its exit status and
-- stderr.
local function signal_run(cmd, sig, errfile, setup, cleanup)
   local f = assert(io.popen(string.format("%s %s & echo $!; wait $!; echo status $?; %s",
      setup or "", cmd, cleanup or "")))
   local pid, ready
   for _ = 1, 2 do -- "ready" and the pid come in either order
      local line = f:read("l")
      if line == "ready" then
         ready = true
      elseif line and line:match("^%d+$") then
         pid = line
      end
   end
   -- on failure the child goes first, then the shell is reaped (close waits for it)
   local function fail(msg)
      if pid then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
      f:close()
      error(msg, 3)
   end
   if not (pid and ready) then fail("sockhost did not start") end
   -- "ready" is printed just before sockhost waits (at its prompt, or in run's epoll): send
   -- the signal once it really waits, not while the chunk that printed is still finishing
   for _ = 1, 200 do
      local w = read_file("/proc/" .. pid .. "/wchan") or ""
      if w:match("poll") or w:match("select") or w:match("pipe") then break end
      os.execute("sleep 0.01")
   end
   if not os.execute("kill -" .. sig .. " " .. pid) then fail("kill -" .. sig .. " failed") end
   local rest = f:read("a")
   f:close()
   return tonumber(rest:match("status (%d+)")), read_file(errfile)
end

describe("sockhost executable #tools", function()
   teardown(function()
      for _, name in ipairs(tmpfiles) do
         os.remove(name)
      end
   end)

   describe("-e", function()
      it("runs the chunk", function()
         local r = run("-e " .. q("print(1+1)"))
         assert.same({ out = "2\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("runs every chunk in order, then the script, and starts no REPL", function()
         local script = write_tmp("io.write(x, ' script ', ...)\n")
         local r = run("-e " .. q("x = 'a'") .. " -e" .. q("x = x .. 'b'") .. " " .. q(script) ..
            " arg1", "print('the REPL ran')\n")
         assert.same({ out = "ab script arg1", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("stops at the first failing chunk with status 1", function()
         local r = run("-e " .. q("error('first')") .. " -e " .. q("print('second')"))
         assert.equal(1, r.code)
         assert.equal("", r.out)
         assert.matches("^sockhost: %(command line%):1: first\nstack traceback:\n", r.err)
      end)
   end)

   describe("--version", function()
      it("prints sockhost, libbpf and Lua versions", function()
         local r = run("--version")
         assert.equal(0, r.code)
         assert.equal("", r.err)
         assert.matches("^sockhost %d+%.%d+%.%d+ %(libbpf %d+%.%d+, Lua 5%.4%.%d+%)\n$", r.out)
      end)
   end)

   describe("-h", function()
      it("prints the usage on stdout", function()
         for _, opt in ipairs({ "-h", "--help" }) do
            local r = run(opt)
            assert.equal(0, r.code)
            assert.equal("", r.err)
            assert.matches("^usage: sockhost %[options%] %[script %[args%]%]\n", r.out)
            assert.matches("\n  %-e stat ", r.out)
            assert.matches("\n  %-i ", r.out)
         end
      end)
   end)

   describe("unknown option", function()
      it("prints the usage on stderr and exits 2", function()
         local r = run("-z")
         assert.same({ out = "", code = 2 }, { out = r.out, code = r.code })
         assert.matches("^sockhost: unrecognized option '%-z'\nusage: sockhost ", r.err)
      end)

      it("treats -e without its argument the same way", function()
         local r = run("-e")
         assert.same({ out = "", code = 2 }, { out = r.out, code = r.code })
         assert.matches("^sockhost: '%-e' needs argument\nusage: sockhost ", r.err)
      end)
   end)

   describe("scripts", function()
      -- Prints arg sorted by index, then the chunk's varargs.
      local DUMP_ARG = [[
local keys = {}
for k in pairs(arg) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do io.write(k, "=", arg[k], "\n") end
io.write("...=", table.concat({ ... }, ","), " #", select("#", ...), "\n")
]]

      it("get arg exactly as lua.c gives it", function()
         local script = write_tmp(DUMP_ARG)
         local r = run(q(script) .. " a " .. q("b c") .. " '' -x")
         assert.same({
            out = table.concat({ "-1=" .. BIN, "0=" .. script, "1=a", "2=b c", "3=", "4=-x",
               "...=a,b c,,-x #4", "" }, "\n"),
            err = "",
            code = 0,
         }, { out = r.out, err = r.err, code = r.code })
      end)

      it("see the options before them at negative indices", function()
         local script = write_tmp(DUMP_ARG)
         local r = run("-e " .. q("x = 1") .. " " .. q(script) .. " a")
         assert.equal(table.concat({ "-3=" .. BIN, "-2=-e", "-1=x = 1", "0=" .. script, "1=a",
            "...=a #1", "" }, "\n"), r.out)
         assert.equal(0, r.code)
      end)

      it("can come from stdin with -", function()
         local r = run("- a b", "print(arg[0], ...)\n")
         assert.same({ out = "-\ta\tb\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("report an error with its traceback and exit 1", function()
         local script = write_tmp("local function f()\n   error('kaput')\nend\nf()\n")
         local r = run(q(script))
         assert.equal(1, r.code)
         assert.equal("", r.out)
         assert_prefix("sockhost: " .. script .. ":2: kaput\nstack traceback:\n", r.err)
         assert.matches("in local 'f'", r.err, 1, true)
      end)

      it("report a syntax error and exit 1", function()
         local script = write_tmp("x = = 1\n")
         local r = run(q(script))
         assert.equal(1, r.code)
         assert.equal("", r.out)
         assert_prefix("sockhost: " .. script .. ":1: unexpected symbol", r.err)
      end)

      it("report a missing script and exit 1", function()
         local r = run(q("/nonexistent/script.lua"))
         assert.equal(1, r.code)
         assert.matches("^sockhost: cannot open /nonexistent/script%.lua", r.err)
      end)
   end)

   describe("REPL on a pipe", function()
      it("prints expression values through sockhost.inspect, with no prompts", function()
         local r = run("", "x = 41\nx + 1\n{a=1}\n")
         assert.same({ out = "42\n{ a = 1 }\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("prints every value of a statement", function()
         local r = run("", "1, 'two', nil, {1, 2, 3}\n")
         assert.equal('1\t"two"\tnil\t{ 1, 2, 3 }\n', r.out)
      end)

      it("continues incomplete statements on the next lines", function()
         local r = run("", "function f(a)\n  return a * 2\nend\nf(21)\n")
         assert.same({ out = "42\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("reports an error and goes on", function()
         local r = run("", "error('oops')\nprint('still here')\n")
         assert.equal("still here\n", r.out)
         assert.equal(0, r.code)
         assert.matches("^sockhost: stdin:1: oops\nstack traceback:\n", r.err)
      end)

      it("reports a statement left incomplete at end of input", function()
         local r = run("", "if true then\n")
         assert.equal("", r.out)
         assert.matches("^sockhost: stdin:%d+: 'end' expected", r.err)
      end)
   end)

   describe("-i", function()
      it("keeps the script's globals in the REPL", function()
         local script = write_tmp("y = 5\nlocal hidden = 1\n")
         local r = run("-i " .. q(script), "y * 2\nhidden\n")
         assert.same({ out = "10\nnil\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)

      it("follows -e chunks too", function()
         local r = run("-e " .. q("z = 3") .. " -i", "z\n")
         assert.same({ out = "3\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
      end)
   end)

   describe("signals", function()
      local LOOP = "io.write('ready\\n') io.stdout:flush() " ..
         "local t = os.time() while os.time() - t < 20 do end"

      for sig, want in pairs({ INT = { 130, "interrupted!" }, TERM = { 143, "terminated!" } }) do
         it("SIG" .. sig .. " ends a busy script with " .. want[1], function()
            local errfile = tmpname()
            local status, err = signal_run(q(BIN) .. " -e " .. q(LOOP) .. " 2>" .. q(errfile),
               sig, errfile)
            assert.equal(want[1], status)
            -- the position is there only when the hook fires inside a call
            assert.matches("^sockhost: [^\n]*" .. want[2] .. "\nstack traceback:\n", err)
         end)
      end

      it("SIGTERM ends a REPL waiting for input with 143", function()
         local fifo, errfile = tmpname(), tmpname()
         os.remove(fifo)
         -- A writer holds the fifo open (20 s at most) so that sockhost blocks reading it.
         local status, err = signal_run(
            string.format("%s -e %s -i <%s 2>%s", q(BIN),
               q("print('ready') io.stdout:flush()"), q(fifo), q(errfile)),
            "TERM", errfile,
            string.format("mkfifo %s || exit 1; sleep 20 >%s & w=$!;", q(fifo), q(fifo)),
            "kill $w")
         assert.equal(143, status)
         assert.equal("", err)
      end)
   end)
   describe("Tab completion", function()
      it("--complete WORD prints the REPL's completions of WORD, one a line", function()
         local r = run("--complete sockhost.ope")
         assert.same({ out = "sockhost.open\nsockhost.open_pinned\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
         r = run("--complete string.fo")
         assert.same({ out = "string.format\n", err = "", code = 0 },
            { out = r.out, err = r.err, code = r.code })
         r = run("--complete nosuch.x")
         assert.same({ out = "", err = "", code = 0 }, { out = r.out, err = r.err, code = r.code })
         r = run("--complete")
         assert.equal(2, r.code)
         assert_prefix("sockhost: '--complete' needs argument\n", r.err)
      end)

      it("completes the methods of handles made by -e chunks", function()
         local path = proc.env("SOCKHOST_BUILD_DIR") .. "/spec/fixtures/hist.bpf.o"
         local setup = q(("obj = sockhost.open(%q, { load = false }); prog = obj:program('record')")
            :format(path))
         local r = run("-e " .. setup .. " --complete obj:")
         assert.same({ out = "obj:close\nobj:load\nobj:map\nobj:maps\nobj:program\nobj:programs\n"
            .. "obj:subscribe\n", err = "", code = 0 }, { out = r.out, err = r.err, code = r.code })
         r = run("-e " .. setup .. " --complete prog:")
         assert.same({ out = "prog:attach\nprog:close\nprog:info\nprog:pin\nprog:test_run\nprog:unpin\n",
            err = "", code = 0 }, { out = r.out, err = r.err, code = r.code })
      end)

      it("completes on Tab at the terminal prompt (readline on a pty)", function()
         local dir = proc.must("mktemp -d"):gsub("\n$", "")
         finally(function() proc.sh("rm -rf " .. q(dir)) end)
         local inputrc = write_tmp("set enable-bracketed-paste off\nset show-all-if-ambiguous on\n")
         -- python3 runs sockhost on a pty, waits for each prompt, types, and prints what the
         -- terminal showed
         local driver = write_tmp([==[
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]])
seen = b""
def until(marker, count):
    global seen
    end = time.time() + 10
    while seen.count(marker) < count and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
until(b"sockhost> ", 1)
os.write(fd, b"string.fo\t")
until(b"string.format", 1)
os.write(fd, b"\n")
until(b"sockhost> ", 2)
os.write(fd, b"sockhost.ope\t")
until(b"sockhost> sockhost.open", 1)
os.write(fd, b"\x15\x04")
os.waitpid(pid, 0)
sys.stdout.write(seen.decode())
]==])
         local ok, out = proc.sh(("HOME=%s INPUTRC=%s TERM=dumb python3 %s %s"):format(q(dir),
            q(inputrc), q(driver), q(BIN)))
         assert.is_true(ok, out)
         -- the line became string.format and ran (a function prints as one)
         assert.matches("sockhost> string.format\r\nfunction: ", out, 1, true)
         -- two candidates: listed, and the line keeps their common prefix
         assert.matches("sockhost> sockhost.ope\r\nsockhost.open         sockhost.open_pinned  \r\n"
            .. "sockhost> sockhost.open", out, 1, true)
      end)
   end)
end)
