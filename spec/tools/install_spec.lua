-- SPDX-License-Identifier: GPL-2.0
-- sockhost installed as a user installs it: `cmake --install` into a temporary prefix, then
-- the tools run as commands by name from another directory (`sockhost conntrace --demo`),
-- `sockhost --list`, the unknown-name message, the man pages rendered by man(1), and where
-- sockhost.open finds objects (next to the calling script, SOCKHOST_PATH, the built-ins).
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local testbed = require "helpers.testbed"

local quote, read_file = proc.quote, proc.read_file
local build = proc.env("SOCKHOST_BUILD_DIR")

local TOOLS = { "conntrace", "hello-sockops", "redirect", "sockex1", "sockex2", "sockex3" }
local LIST = table.concat({
   "conntrace      Trace TCP connections (IPv4 and IPv6): owner, role, addresses, bytes each "
      .. "way, state transitions, duration.",
   "hello-sockops  Print one line per TCP sock_ops callback of the sockets in a cgroup v2.",
   "redirect       Redirect local TCP traffic of a cgroup v2 socket to socket with sock_ops "
      .. "+ sk_msg.",
   "sockex1        Count bytes and packets per IP protocol (TCP, UDP, ICMP ...) on one "
      .. "interface.",
   "sockex2        Count packets and bytes per destination IP address on one interface.",
   "sockex3        Count packets and bytes per flow on one interface, parsing through tail "
      .. "calls.",
}, "\n") .. "\n"

-- Run cmd (shell text) in directory dir; returns its exit code, stdout and stderr.
local function run(dir, cmd)
   local err = os.tmpname()
   local ok, out, code = proc.sh(("cd %s && %s 2>%s"):format(quote(dir), cmd, quote(err)))
   local stderr = read_file(err)
   os.remove(err)
   return ok and 0 or code, out, stderr
end

-- Copy a test-only object to path (an object that is not a built-in).
local function place_object(path)
   proc.must(("cp %s %s"):format(quote(build .. "/spec/fixtures/tpcount.bpf.o"), quote(path)))
end

describe("sockhost installed #tools", function()
   local prefix, elsewhere, bin, sockhost

   setup(function()
      prefix = proc.tmpdir()
      elsewhere = proc.tmpdir() -- the working directory of every run: neither tree
      proc.must(("cmake --install %s --prefix %s"):format(quote(build), quote(prefix)))
      bin = prefix .. "/bin/sockhost"
      sockhost = quote(bin)
   end)

   teardown(function()
      if prefix then proc.sh("rm -rf " .. quote(prefix) .. " " .. quote(elsewhere)) end
   end)

   describe("tools by name", function()
      it("lists the tools, one line each with its parser's description", function()
         assert.same({ 0, LIST, "" }, { run(elsewhere, sockhost .. " --list") })
         -- build/sockhost lists build/scripts: the same tools
         assert.same({ 0, LIST, "" }, { run(elsewhere, quote(proc.env("SOCKHOST_BIN"))
            .. " --list") })
      end)

      it("says which tools exist when the name is none of them, exit 1", function()
         assert.same({ 1, "", ("sockhost: cannot open nosuch: no such file, and no tool of "
            .. "that name in %s/share/sockhost/scripts (tools: conntrace, hello-sockops, "
            .. "redirect, sockex1, sockex2, sockex3)\n"):format(prefix) },
            { run(elsewhere, sockhost .. " nosuch --port 1") })
         -- a name with a '/' or ending in .lua stays a file name
         assert.same({ 1, "", "sockhost: cannot open nosuch.lua: No such file or directory\n" },
            { run(elsewhere, sockhost .. " nosuch.lua") })
      end)

      it("installs the tools executable, running under the sockhost on PATH", function()
         for _, tool in ipairs(TOOLS) do
            local path = prefix .. "/share/sockhost/scripts/" .. tool .. ".lua"
            assert.same({ 0, "755\n", "" }, { run(elsewhere, "stat -c %a " .. quote(path)) })
         end
         local code, out, err = run(elsewhere, ("PATH=%s:$PATH %s --help"):format(
            quote(prefix .. "/bin"), quote(prefix .. "/share/sockhost/scripts/sockex2.lua")))
         assert.same({ 0, "" }, { code, err })
         assert.matches("^Usage: sockhost sockex2 %[%-h%] %-%-iface <name>", out)
      end)

      it("runs a file of that name in the working directory rather than the tool", function()
         local f = assert(io.open(elsewhere .. "/conntrace", "w"))
         f:write('print("the file, not the tool", ...)\n')
         f:close()
         finally(function() os.remove(elsewhere .. "/conntrace") end)
         assert.same({ 0, "the file, not the tool\t--port\t443\n", "" },
            { run(elsewhere, sockhost .. " conntrace --port 443") })
      end)

      it("prints each tool's --help under its command name, wrapped to COLUMNS", function()
         for _, tool in ipairs(TOOLS) do
            local code, out, err = run(elsewhere, ("COLUMNS=60 %s %s --help"):format(sockhost,
               tool))
            assert.same({ 0, "" }, { code, err }, tool)
            assert.equal("Usage: sockhost " .. tool .. " [-h]", out:sub(1, #tool + 21))
            for line in out:gmatch("[^\n]+") do
               assert.is_true(#line <= 60, ("%s: a line of %d: %s"):format(tool, #line, line))
            end
            -- the installed copy says what the source tree's says
            local _, src = run(elsewhere, ("COLUMNS=60 %s %s --help"):format(
               quote(proc.env("SOCKHOST_BIN")), quote(proc.env("SOCKHOST_SOURCE_DIR")
                  .. "/scripts/" .. tool .. ".lua")))
            assert.equal(src, out, tool)
         end
         -- wider: conntrace's description (107 characters) stays on one line
         local _, wide = run(elsewhere, "COLUMNS=200 " .. sockhost .. " conntrace --help")
         assert.truthy(wide:find("\nTrace TCP connections (IPv4 and IPv6): owner, role, "
            .. "addresses, bytes each way, state transitions, duration.\n", 1, true))
      end)

      it("runs conntrace and hello-sockops --demo by name", function()
         local code, out, err = run(elsewhere, sockhost .. " conntrace --demo --duration 1 --json")
         assert.same({ 0, 6 }, { code, #proc.records(out) }, err)
         assert.matches("\nconntrace: 6 connections seen, 6 closed, 0 still open, 0 events "
            .. "dropped, 0 discarded %(duration%)\n$", err)
         code, out, err = run(elsewhere, sockhost .. " hello-sockops --demo --duration 1")
         assert.equal(0, code, err)
         local lines = select(2, out:gsub("\n", ""))
         assert.matches(("^hello%%-sockops: %d events, 0 dropped %%(duration, cgroup "
            .. "[^)]+sockhost%%-demo%%-%%d+%%)\n$"):format(lines), err)
      end)

      it("runs redirect by name on the spec's own cgroup", function()
         local cg = cgroup.new("install")
         finally(function() cgroup.remove(cg) end)
         local code, out, err = run(elsewhere, ("%s redirect --cgroup %s --duration 1")
            :format(sockhost, quote(cg)))
         -- nothing runs in the new cgroup: all counters stay 0
         local sockets = "sockets 0 added, 0 refused, 0 not local, 0 released at half-close, 0 kept"
         local counters = "redirected 0 msgs 0 bytes | passed 0 msgs 0 bytes | " .. sockets
         assert.same({ 0, ("redirect: mode ingress on cgroup %s; Ctrl-C to stop\nredirect: %s "
            .. "(duration, cgroup %s, mode ingress)\n"):format(cg, counters, cg) },
            { code, err })
         -- the totals table, then the sockets line
         assert.matches("^TOTAL 1%.0 s  MSGS  BYTES  MSGS/S  BYTES/S\nredirected +0 +0 B +0/s +0 B/s\n"
            .. "passed +0 +0 B +0/s +0 B/s\n" .. sockets:gsub("%-", "%%-") .. "\n$", out)
      end)

      it("runs sockex1 by name on a veth of the spec's own netns, counting exactly", function()
         local bed = testbed.create("install")
         finally(function() testbed.remove(bed) end)
         local records = testbed.run_script("sockex1", bed, "--direction both --duration 2",
            function() testbed.ping(bed, 3, 100) end,
            ("env -C %s %s sockex1"):format(quote(elsewhere), sockhost))
         local final = records[#records]
         assert.is_true(final.final)
         assert.same({ icmp = { number = 1, packets = 6, bytes = 6 * testbed.icmp_frame(100) } },
            final.protocols)
      end)

      it("prints --help of sockex2 and sockex3 by name (they run in the sockex specs)", function()
         for _, tool in ipairs({ "sockex2", "sockex3" }) do
            local code, out = run(elsewhere, sockhost .. " " .. tool .. " --help")
            assert.equal(0, code)
            assert.matches("\n   %-%-iface <name>        Interface to watch", out)
         end
      end)
   end)

   describe("man pages", function()
      local function render(page)
         return run(elsewhere, ("MANWIDTH=80 man --warnings -l %s/share/man/man1/%s.1 | col -bx")
            :format(quote(prefix), page))
      end

      it("renders sockhost(1) with the options and the tools", function()
         local code, out, err = render("sockhost")
         assert.same({ 0, "" }, { code, err })
         assert.matches("^SOCKHOST%(1%)", out)
         assert.truthy(out:find("\n       --list list the installed tools (run one as: sockhost "
            .. "TOOL [args])\n", 1, true), out)
         -- ENVIRONMENT: the README's table
         assert.truthy(out:find("\nENVIRONMENT\n       SOCKHOST_PATH\n              :-separated "
            .. "directories searched for <name>.bpf.o", 1, true), out)
         for _, tool in ipairs(TOOLS) do
            assert.truthy(out:find("\n       " .. tool .. "\n", 1, true), tool)
            assert.truthy(out:find("sockhost-" .. tool .. "(1)", 1, true), tool)
         end
      end)

      it("renders one page per tool, its options those of --help", function()
         for _, tool in ipairs(TOOLS) do
            local code, out, err = render("sockhost-" .. tool)
            assert.same({ 0, "" }, { code, err }, tool)
            assert.matches("^SOCKHOST%-" .. tool:upper():gsub("%-", "%%-") .. "%(1%)", out)
            assert.truthy(out:find("\nSYNOPSIS\n       sockhost " .. tool .. " [-h]", 1, true),
               tool)
            -- every option label --help shows is an entry of OPTIONS
            local _, help = run(elsewhere, sockhost .. " " .. tool .. " --help")
            local n = 0
            for label in help:gmatch("\n   (%-[^\n]-)  ") do
               label = label:gsub("%s+$", "")
               n = n + 1
               assert.truthy(out:find("\n       " .. label, 1, true), tool .. ": " .. label)
            end
            assert.is_true(n >= 3, tool)
         end
      end)
   end)

   describe("sockhost new", function()
      it("writes a tool the installed sockhost compiles and runs, and its spec passes", function()
         local dir = proc.tmpdir()
         finally(function() proc.sh("rm -rf " .. quote(dir)) end)
         local code, out, err = run(elsewhere, ("%s new inst --type tp_btf --dir %s")
            :format(sockhost, quote(dir)))
         assert.same({ 0, "" }, { code, err })
         assert.matches("\nwrote " .. dir:gsub("%p", "%%%0") .. "/spec/inst_spec%.lua\n", out)
         -- the installed `sockhost test` on the installed modules alone (no LUA_PATH), running
         -- the installed sockhost: the tool against forks the spec makes, counted exactly
         local env = ("env -u LUA_PATH -u LUA_CPATH SOCKHOST_BIN=%s"):format(sockhost)
         code, out = run(dir, env .. " " .. sockhost .. " test -o plainTerminal spec/inst_spec.lua")
         assert.equal(0, code, out)
         assert.matches("\n2 successes / 0 failures / 0 errors / 0 pending : ", out)
      end)
   end)

   describe("finding objects", function()
      local dir

      before_each(function() dir = proc.tmpdir() end)
      after_each(function() proc.sh("rm -rf " .. quote(dir)) end)

      local function open_path(env, name)
         return run(elsewhere, ("%s %s -e %s"):format(env, sockhost, quote(
            ("print(sockhost.open(%q, { load = false }).path)"):format(name))))
      end

      it("adds SOCKHOST_PATH before the built-ins, skipping empty and missing entries",
         function()
            place_object(dir .. "/mine.bpf.o")
            local env = ("SOCKHOST_PATH=%s"):format(quote(":/nonexistent/sockhost::" .. dir .. ":"))
            assert.same({ 0, dir .. "/mine.bpf.o\n", "" }, { open_path(env, "mine") })
            -- the built-ins are still found: the list adds to them
            assert.same({ 0, prefix .. "/share/sockhost/bpf/sockex1.bpf.o\n", "" },
               { open_path(env, "sockex1") })
            -- an entry comes before the built-in of the same name
            place_object(dir .. "/sockex2.bpf.o")
            assert.same({ 0, dir .. "/sockex2.bpf.o\n", "" }, { open_path(env, "sockex2") })
            -- nothing but empty and missing entries: the built-ins, as with no SOCKHOST_PATH
            assert.same({ 0, prefix .. "/share/sockhost/bpf/sockex2.bpf.o\n", "" },
               { open_path("SOCKHOST_PATH=::/nonexistent:", "sockex2") })
            local code, out, err = open_path("SOCKHOST_PATH=", "mine")
            assert.same({ 1, "", ("sockhost: (command line):1: no built-in BPF object 'mine' in "
               .. "%s/share/sockhost/bpf (built-in: conntrace, hello-sockops, redirect, sockex1, "
               .. "sockex2, sockex3)\n"):format(prefix) }, { code, out, err:match("^[^\n]*\n") })
            code, out, err = open_path(env, "nosuch")
            assert.same({ 1, "", ("sockhost: (command line):1: no built-in BPF object 'nosuch' "
               .. "in %s/share/sockhost/bpf (built-in: conntrace, hello-sockops, redirect, "
               .. "sockex1, sockex2, sockex3), nor in SOCKHOST_PATH ':/nonexistent/sockhost::%s:'"
               .. "\n"):format(prefix, dir) }, { code, out, err:match("^[^\n]*\n") })
         end)

      it("finds an object next to the calling script first", function()
         place_object(dir .. "/neighbour.bpf.o")
         place_object(dir .. "/sockex1.bpf.o")
         local f = assert(io.open(dir .. "/probe.lua", "w"))
         f:write('local sockhost = require "sockhost"\n',
            'print(sockhost.open("neighbour", { load = false }).path)\n',
            'print(sockhost.open("sockex1", { load = false }).path)\n',
            'print(sockhost.open("sockex3", { load = false }).path)\n')
         f:close()
         assert.same({ 0, ("%s/neighbour.bpf.o\n%s/sockex1.bpf.o\n%s/share/sockhost/bpf/"
            .. "sockex3.bpf.o\n"):format(dir, dir, prefix), "" },
            { run(elsewhere, sockhost .. " " .. quote(dir .. "/probe.lua")) })
      end)
   end)

   describe("sockhost test", function()
      it("runs a user's spec dir with the installed testing kit, no LUA_PATH", function()
         for _, m in ipairs({ "testing", "testing/cgroup", "testing/leftovers", "testing/netns",
            "testing/packets", "testing/proc", "testing/traffic", "testtool" }) do
            assert.truthy(read_file(("%s/share/lua/5.4/sockhost/%s.lua"):format(prefix, m)), m)
         end
         local dir = elsewhere .. "/spec"
         proc.must("mkdir -p " .. quote(dir))
         local f = assert(io.open(dir .. "/kit_spec.lua", "w"))
         f:write('local testing = require "sockhost.testing"\n',
            'describe("kit", function()\n',
            '   it("has a cgroup and cleans up", function()\n',
            '      do local cg <close> = testing.cgroup("installed"); assert.truthy(cg.path) end\n',
            '      testing.assert_clean()\n',
            '   end)\n',
            '   it("fails", function() assert.equal(20, #testing.packets.tcp { sport = 1, dport = 2 } + 1) end)\n',
            'end)\n')
         f:close()
         local code, out, err = run(elsewhere, "env -u LUA_PATH -u LUA_CPATH " .. sockhost .. " test")
         assert.same({ 1, "1 success / 1 failure / 0 errors / 0 pending", "" },
            { code, out:match("\n(%d+ success.-) : "), err })
         code, out, err = run(elsewhere, "env -u LUA_PATH -u LUA_CPATH " .. sockhost
            .. " test --filter=cleans")
         assert.same({ 0, "1 success / 0 failures / 0 errors / 0 pending", "" },
            { code, out:match("\n(%d+ success.-) : "), err })
      end)
   end)
end)
