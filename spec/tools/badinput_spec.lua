-- SPDX-License-Identifier: GPL-2.0
-- Bad input on the shipped tools' command lines: every tool fails like a command. A usage
-- error is argparse's (usage, then "Error: ..."); an input error found at run time (a cgroup
-- or interface that does not exist, a pin path off bpffs) is one line "<tool>: <message>";
-- both exit 1, print no traceback (SOCKHOST_TRACEBACK=1 asks for one) and leave nothing
-- behind: no pin, no cgroup, no attachment.
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")

local function run(tool, args)
   return proc.sh(("%s %s/scripts/%s.lua %s 2>&1"):format(proc.quote(bin), proc.quote(src), tool,
      args))
end

local function listing(cmd)
   local _, out = proc.sh(cmd .. " 2>/dev/null")
   return out
end

local function leftovers()
   return listing("ls /sys/fs/bpf") .. listing("find " .. proc.quote(cgroup.root())
      .. " -maxdepth 1 -name '*sockhost*'") .. listing("bpftool -j link list")
end

describe("#tools bad input on the command line", function()
   local CG2 = cgroup.root()
   -- { tool, arguments, the whole output (runtime error) or its last line (usage error) }
   local runtime = {
      { "conntrace", "--pin /tmp/sockhost-spec-pin --duration 0.1",
         "conntrace: pin path '/tmp/sockhost-spec-pin': '/tmp' is not on a bpffs (mount -t bpf bpf DIR)" },
      { "conntrace", "--pin relative --duration 0.1",
         "conntrace: pin path 'relative': must be a file below a bpffs mount such as /sys/fs/bpf" },
      { "hello-sockops", "--cgroup /nonexistent",
         "hello-sockops: cgroup '/nonexistent': No such file or directory" },
      { "hello-sockops", "--cgroup /tmp",
         "hello-sockops: cgroup '/tmp': not a cgroup v2 directory (cgroup2 is mounted at " .. CG2 .. ")" },
      { "redirect", "--cgroup /nonexistent", "redirect: cgroup '/nonexistent': No such file or directory" },
      { "sockex1", "--iface nope0", "sockex1: interface 'nope0' does not exist" },
      { "sockex2", "--iface nope0", "sockex2: interface 'nope0' does not exist" },
      { "sockex3", "--iface nope0", "sockex3: interface 'nope0' does not exist" },
   }
   local usage = {
      { "conntrace", "--cgroup /nonexistent",
         "Error: --cgroup: cgroup '/nonexistent': No such file or directory" },
      { "conntrace", "--cgroup /tmp",
         "Error: --cgroup: cgroup '/tmp': not a cgroup v2 directory (cgroup2 is mounted at " .. CG2 .. ")" },
      { "conntrace", "--duration 1e999", "Error: --duration wants a positive number of seconds, got '1e999'" },
      { "conntrace", "--duration=-1", "Error: --duration wants a positive number of seconds, got '-1'" },
      { "conntrace", "--interval 0", "Error: --interval wants a positive number of seconds, got '0'" },
      { "conntrace", "--port 99999",
         "Error: --port wants a port number (an integer from 1 to 65535), got '99999'" },
      { "conntrace", "--port x", "Error: --port wants a port number (an integer from 1 to 65535), got 'x'" },
      { "conntrace", "--keep-pin", "Error: --keep-pin needs --pin" },
      { "conntrace", "--hooks bogus",
         "Error: argument for option '--hooks' must be one of 'auto', 'tp_btf', 'tracepoint', 'kprobe'" },
      { "conntrace", "--bogus", "Error: unknown option '--bogus'" },
      { "hello-sockops", "--duration 1e999", "Error: --duration wants a positive number of seconds" },
      { "hello-sockops", "--duration 0", "Error: --duration wants a positive number of seconds" },
      { "hello-sockops", "--bogus", "Error: unknown option '--bogus'" },
      { "redirect", "--mode bogus",
         "Error: argument for option '--mode' must be one of 'ingress', 'egress', 'pass'" },
      { "redirect", "--duration 1e999", "Error: --duration wants a positive number of seconds" },
      { "redirect", "--duration x", "Error: --duration wants a positive number of seconds" },
      { "sockex1", "--iface lo --direction sideways",
         "Error: argument for option '--direction' must be one of 'out', 'in', 'both'" },
      { "sockex1", "--iface lo --duration 1e999", "Error: --duration wants a positive number of seconds" },
      { "sockex1", "", "Error: missing option '--iface'" },
      { "sockex2", "--iface lo --duration nan", "Error: --duration wants a positive number of seconds" },
      { "sockex3", "--iface lo --duration 0", "Error: --duration wants a positive number of seconds" },
   }

   it("says a runtime input error in one line and exits 1", function()
      local before = leftovers()
      for _, c in ipairs(runtime) do
         local ok, out, code = run(c[1], c[2])
         assert.is_false(ok, c[1] .. " " .. c[2])
         assert.equal(1, code, c[1] .. " " .. c[2])
         assert.equal(c[3] .. "\n", out)
      end
      assert.equal(before, leftovers())
   end)

   it("shows the traceback only when asked for", function()
      local ok, out, code = run("hello-sockops", "--cgroup /nonexistent")
      assert.is_false(ok)
      assert.equal(1, code)
      assert.is_nil(out:find("traceback", 1, true))
      ok, out = proc.sh(("SOCKHOST_TRACEBACK=1 %s %s/scripts/hello-sockops.lua --cgroup /nonexistent 2>&1")
         :format(proc.quote(bin), proc.quote(src)))
      assert.is_false(ok)
      assert.matches("^hello%-sockops: cgroup '/nonexistent': No such file or directory\nstack traceback:\n", out)
   end)

   it("refuses a usage error before opening anything, as argparse does", function()
      local before = leftovers()
      for _, c in ipairs(usage) do
         local ok, out, code = run(c[1], c[2])
         assert.is_false(ok, c[1] .. " " .. c[2])
         assert.equal(1, code, c[1] .. " " .. c[2])
         assert.equal(c[3], out:match("([^\n]*)\n$"), c[1] .. " " .. c[2])
         assert.matches("^Usage: sockhost ", out)
      end
      assert.equal(before, leftovers())
   end)

   it("never hands SOCKHOST_BPF_PATH to a shell", function()
      local marker = os.tmpname()
      os.remove(marker)
      finally(function() os.remove(marker) end)
      local dir = "/nonexistent/x'; touch " .. marker .. "; '"
      local ok, out, code = proc.sh(("SOCKHOST_BPF_PATH=%s %s -e %s 2>&1"):format(proc.quote(dir),
         proc.quote(bin), proc.quote("require('sockhost').open('nope')")))
      assert.is_false(ok)
      assert.equal(1, code)
      assert.equal(("sockhost: (command line):1: no built-in BPF object 'nope' in %s (built-in: )\n")
         :format(dir), out:match("^[^\n]*\n"))
      assert.is_nil(io.open(marker), "a command in SOCKHOST_BPF_PATH ran")
   end)
end)
