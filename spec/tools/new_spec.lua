-- SPDX-License-Identifier: GPL-2.0
--
-- spec/tools/new_spec.lua: `sockhost new NAME --type T [--dir D]` (lua/sockhost/newtool.lua).
-- Every type is generated into a fresh directory; the generated tool is run against traffic
-- this spec makes (exact counts), and the generated spec is run by `sockhost test` and passes
-- (kprobe, where the kernel has none: the tool fails naming the missing facility and the
-- spec's kernel tests are pending with sockhost.features()' reason). Bad inputs: exact
-- messages, exit status 1, nothing written.

local proc = require "helpers.proc"
local socket = require "socket"
local sockhost = require "sockhost"
local demo = require "sockhost.demo"

local BIN = proc.env("SOCKHOST_BIN")
local q, read_file = proc.quote, proc.read_file
local TYPES = "sock_ops, socket_filter, tracepoint, tp_btf, kprobe, sk_msg"
local USAGE = "sockhost new NAME --type sock_ops|socket_filter|tracepoint|tp_btf|kprobe|sk_msg"
   .. " [--dir D]"

local dirs = {}

local function tmpdir()
   local ok, out = proc.sh("mktemp -d /tmp/sockhost-spec-new-XXXXXX")
   assert(ok)
   local d = out:gsub("\n$", "")
   dirs[#dirs + 1] = d
   return d
end

teardown(function()
   for _, d in ipairs(dirs) do os.execute("rm -rf -- " .. q(d)) end
end)

-- sockhost with args (quoted for sh): { out =, err =, code = }
local function run(args)
   local out, err = os.tmpname(), os.tmpname()
   local _, _, code = os.execute(("%s %s >%s 2>%s </dev/null"):format(q(BIN), args, q(out),
      q(err)))
   local r = { out = read_file(out), err = read_file(err), code = code }
   os.remove(out)
   os.remove(err)
   return r
end

local function listing(dir)
   local _, out = proc.sh("cd " .. q(dir) .. " && find . -type f | sort")
   return out
end

-- Runs tool (a path) with args; once it says it is attached, calls traffic(). Returns
-- { out =, err =, code =, lines = {...} }.
local function run_tool(tool, args, traffic)
   local errfile = os.tmpname()
   local p = assert(io.popen(("%s %s %s 2>%s"):format(q(BIN), q(tool), args, q(errfile))))
   assert(proc.wait_for(function() return read_file(errfile) ~= "" end, 30))
   assert.matches(": attached to ", read_file(errfile), 1, true)
   traffic()
   local out = p:read("a")
   local _, _, code = p:close()
   local r = { out = out, err = read_file(errfile), code = code, lines = {} }
   os.remove(errfile)
   for l in out:gmatch("[^\n]+") do r.lines[#r.lines + 1] = l end
   return r
end

local function count(lines, needle)
   local n = 0
   for _, l in ipairs(lines) do
      if l:find(needle, 1, true) then n = n + 1 end
   end
   return n
end

-- The tool's run: exit status 0, n lines (nil: any number), each needle on counts[needle] of
-- them, and on stderr just "NAME: attached to <target>; ..." and the summary of every line.
local function expect(r, name, target, n, counts)
   n = n or #r.lines
   assert.are.same({ 0, n }, { r.code, #r.lines }, r.out)
   for needle, k in pairs(counts) do
      assert.are.equal(k, count(r.lines, needle), needle)
   end
   assert.are.equal(("%s: attached to %s; Ctrl-C stops\n%s: %d events, 0 dropped, %d counted "
      .. "(duration)\n"):format(name, target, name, n, n), r.err)
end

local function generate(kind)
   local dir = tmpdir()
   local name = "my_" .. kind
   local r = run(("new %s --type %s --dir %s"):format(name, kind, q(dir)))
   assert.are.same({ "", 0 }, { r.err, r.code })
   local d = dir .. "/" .. name
   assert.are.equal(("wrote %s.bpf.c\nwrote %s.h\nwrote %s.lua\nwrote %s/spec/%s_spec.lua\n"
      .. "run it: sockhost %s.lua --help; its spec: sockhost test %s/spec\n")
      :format(d, d, d, dir, name, d, dir), r.out)
   assert.are.equal(("./%s.bpf.c\n./%s.h\n./%s.lua\n./spec/%s_spec.lua\n")
      :format(name, name, name, name), listing(dir))
   return dir, name, ("%s/%s.lua"):format(dir, name)
end

-- The generated spec, as its user runs it: `sockhost test` (busted under sockhost's Lua 5.4).
local function busted(dir, name)
   local ok, out = proc.sh(("cd %s && %s test -o plainTerminal spec/%s_spec.lua 2>&1")
      :format(q(dir), q(proc.env("SOCKHOST_BIN")), name))
   return ok, out
end

local function passes(dir, name, n)
   local ok, out = busted(dir, name)
   assert.is_true(ok, out)
   assert.matches(("\n%d successes / 0 failures / 0 errors / 0 pending : "):format(n), out, 1,
      true)
end

describe("sockhost new", function()
   describe("sock_ops", function()
      it("counts both ends of the connections made in a cgroup, and its spec passes", function()
         local dir, name, tool = generate("sock_ops")
         local cg <close> = demo.cgroup("new-spec")
         local r = run_tool(tool, "--duration 1 --cgroup " .. q(cg.path), function()
            cg.within(function()
               for _ = 1, 2 do
                  local c, s = assert(demo.tcp_pair("127.0.0.1"))
                  c:close()
                  s:close()
               end
            end)
         end)
         expect(r, name, "cgroup " .. cg.path, 4,
            { ["| op active_established |"] = 2, ["| op passive_established |"] = 2 })
         passes(dir, name, 2)
      end)
   end)

   describe("socket_filter", function()
      it("counts the datagrams to a port on loopback, and its spec passes", function()
         local dir, name, tool = generate("socket_filter")
         local rx = assert(socket.udp())
         assert(rx:setsockname("127.0.0.1", 0))
         local _, port = rx:getsockname()
         local tx = assert(socket.udp())
         local r = run_tool(tool, "--iface lo --duration 1 --port " .. port, function()
            for _ = 1, 3 do assert(tx:sendto("hello world", "127.0.0.1", port)) end
         end)
         rx:close()
         tx:close()
         -- 14 + 20 + 8 + 11 bytes
         expect(r, name, "interface lo", 3, { ["len 53 | sport "] = 3, [" | dport " .. port] = 3 })
         passes(dir, name, 2)
      end)
   end)

   describe("tracepoint", function()
      it("sees the opens of a process, and its spec passes", function()
         local dir, name, tool = generate("tracepoint")
         local pid = require("sockhost.cgroup").pid()
         local path = os.tmpname()
         local r = run_tool(tool, "--duration 1 --pid " .. pid, function()
            for _ = 1, 5 do assert(io.open(path)):close() end
         end)
         os.remove(path)
         -- this process may open other files meanwhile: all its lines, no other pid's
         expect(r, name, "tracepoint syscalls/sys_enter_openat", nil, { [" | open " .. path] = 5 })
         assert.are.equal(#r.lines, count(r.lines, ("PID %d | comm "):format(pid)))
         passes(dir, name, 2)
      end)
   end)

   describe("tp_btf", function()
      it("sees the forks of a process, and its spec passes", function()
         local dir, name, tool = generate("tp_btf")
         local pid = require("sockhost.cgroup").pid()
         local r = run_tool(tool, "--duration 1 --pid " .. pid, function()
            for _ = 1, 4 do assert(os.execute("true")) end
         end)
         expect(r, name, "tp_btf sched_process_fork", 4, { [("PID %d | comm "):format(pid)] = 4 })
         passes(dir, name, 2)
      end)
   end)

   describe("sk_msg", function()
      it("sees each message a socket of a cgroup sends, and its spec passes", function()
         local dir, name, tool = generate("sk_msg")
         local cg <close> = demo.cgroup("new-spec")
         local r = run_tool(tool, "--duration 1 --cgroup " .. q(cg.path), function()
            local c, s = assert(cg.within(demo.tcp_pair, "127.0.0.1"))
            for _ = 1, 4 do
               assert(c:send("ping\n"))
               assert.are.equal("ping", s:receive("*l"))
               assert(s:send("pong!\n"))
               assert.are.equal("pong!", c:receive("*l"))
            end
            c:close()
            s:close()
         end)
         expect(r, name, "cgroup " .. cg.path, 8, { ["| size 5 |"] = 4, ["| size 6 |"] = 4 })
         passes(dir, name, 2)
      end)
   end)

   describe("kprobe", function()
      local kprobe = sockhost.features().kprobe

      it("loads; without kprobes the tool names the missing facility and the spec is pending",
         function()
            local dir, name, tool = generate("kprobe")
            -- the object compiles and loads on any kernel; only the attach needs kprobes
            local obj <close> = sockhost.open(dir .. "/" .. name .. ".bpf.c")
            assert.are.equal("kprobe", obj:program(name).type)
            if kprobe.ok then
               passes(dir, name, 2)
               return
            end
            local r = run(q(tool) .. " --duration 1")
            assert.are.same({ "", ("%s: kprobe: %s; %s\n"):format(name, kprobe.reason,
               kprobe.instead), 1 }, { r.out, r.err, r.code })
            local ok, out = busted(dir, name)
            assert.is_true(ok, out)
            assert.matches("\n1 success / 0 failures / 0 errors / 2 pending : ", out, 1, true)
            local reason = kprobe.reason:gsub("%p", "%%%0")
            assert.matches("_spec%.lua:%d+: kprobe: " .. reason .. "\n", out)
         end)
   end)

   it("--help gives the usage and every type", function()
      local r = run("new --help")
      assert.are.same({ 0, "" }, { r.code, r.err })
      assert.are.equal(USAGE .. "\n\n", r.out:sub(1, #USAGE + 2))
      for kind in TYPES:gmatch("[%w_]+") do
         assert.matches("\n  " .. kind .. " +%S", r.out)
      end
   end)

   describe("bad input", function()
      local function refused(args, msg, dir)
         local r = run("new " .. args)
         assert.are.same({ "", "sockhost new: " .. msg .. "\n", 1 }, { r.out, r.err, r.code })
         if dir then assert.are.equal("", listing(dir)) end
      end

      it("a missing NAME", function()
         local dir = tmpdir()
         refused("--type sock_ops --dir " .. q(dir), "missing NAME (usage: " .. USAGE .. ")", dir)
         refused("", "missing NAME (usage: " .. USAGE .. ")")
      end)

      it("a NAME that is not a C identifier", function()
         local dir = tmpdir()
         local why = "is not a C identifier (letters, digits and _, not starting with a digit,"
            .. " not a C keyword)"
         for _, bad in ipairs({ "9lives", "my-tool", "a.b", "int" }) do
            refused(("%s --type tracepoint --dir %s"):format(q(bad), q(dir)),
               ("NAME '%s' %s"):format(bad, why), dir)
         end
      end)

      it("an unknown --type lists the known ones", function()
         local dir = tmpdir()
         refused("x --type xdp --dir " .. q(dir), "unknown --type 'xdp' (known: " .. TYPES .. ")",
            dir)
         refused("x --dir " .. q(dir), "missing --type (one of " .. TYPES .. ")", dir)
      end)

      it("an unknown option, an option without its value, a second NAME", function()
         local dir = tmpdir()
         refused("x --type sock_ops --force --dir " .. q(dir),
            "unknown option '--force' (usage: " .. USAGE .. ")", dir)
         refused("x --dir " .. q(dir) .. " --type", "option '--type' needs a value (usage: "
            .. USAGE .. ")", dir)
         refused("x y --type sock_ops --dir " .. q(dir), "one NAME only, got 'x' and 'y'", dir)
      end)

      it("existing files: every one named, nothing written", function()
         local dir = tmpdir()
         assert.are.equal(0, run(("new x --type sk_msg --dir %s"):format(q(dir))).code)
         refused(("x --type sock_ops --dir %s"):format(q(dir)),
            ("refusing to overwrite %s/x.bpf.c, %s/x.h, %s/x.lua, %s/spec/x_spec.lua (nothing "
            .. "written)"):format(dir, dir, dir, dir))
         -- one file in the way: only it is named, and the others are not written
         local other = tmpdir()
         local f = assert(io.open(other .. "/y.h", "w"))
         f:write("mine\n")
         f:close()
         refused(("y --type tp_btf --dir %s"):format(q(other)),
            ("refusing to overwrite %s/y.h (nothing written)"):format(other))
         assert.are.same({ "./y.h\n", "mine\n" }, { listing(other), read_file(other .. "/y.h") })
      end)
   end)
end)
