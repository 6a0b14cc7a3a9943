-- SPDX-License-Identifier: GPL-2.0
-- sockhost.open("x.bpf.c"), sockhost.compile, sockhost.cc and `sockhost cc`: BPF C compiled
-- with clang into a per-user cache (host/cc/). Every run is a sockhost process of its own, so
-- each can have its own PATH (a clang that logs its compiles, or no clang at all) and its own
-- SOCKHOST_CACHE_DIR, a directory this spec makes and removes.
local sockhost = require "sockhost"
local errors = require "helpers.errors"
local proc = require "helpers.proc"

local quote = proc.quote
local BIN = proc.env("SOCKHOST_BIN")

local PROBE = [[
// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockhost/sockhost.bpf.h"
#include "probe.h"

SH_RINGBUF(events, 4096);
SH_EVENT_TYPE(struct probe_event);
__u64 runs;

SEC("socket")
int count(struct __sk_buff *skb)
{
	struct probe_event *e = sh_ringbuf_reserve(events, sizeof(*e));

	__sync_fetch_and_add(&runs, 1);
	if (e) {
		e->magic = MAGIC;
		bpf_ringbuf_submit(e, 0);
	}
	return MAGIC;
}

char LICENSE[] SEC("license") = "GPL";
]]

local function header(magic)
   return ("#define MAGIC %d\nstruct probe_event {\n\t__u32 magic;\n};\n"):format(magic)
end

-- opens what it is given, runs the program once, prints "retval runs event.magic"; the
-- record comes through the ring and is decoded by the type SH_EVENT_TYPE kept in BTF
local RUN_PROBE = [[
local o <close> = sockhost.open(...)
local got
local sub <close> = o:subscribe("events", "struct probe_event", function(e) got = e.magic end)
local r = o:program("count"):test_run{data = ("x"):rep(64)}
sockhost.poll(0)
print(r.retval, o.globals.runs, got)
]]

-- a chunk printing the message of the error code raises, which carries the location of
-- the call in the script, as every sockhost error does: see message()
local function pcall_code(code)
   return ("local ok, e = pcall(function(...) %s end, ...) io.write(ok and 'no error' or "
      .. "tostring(e))"):format(code)
end

-- out of a pcall_code run: the message without its location, which must be there
local function message(out)
   local prefix = "(command line):1: "
   assert.equal(prefix, out:sub(1, #prefix))
   return out:sub(#prefix + 1)
end

local function write(path, text)
   local f = assert(io.open(path, "wb"))
   f:write(text)
   f:close()
end

local dir, cache, wrapper, noclang, log

local function compiles()
   local text = proc.read_file(log) or ""
   return select(2, text:gsub("\n", ""))
end

-- sockhost -e code in dir with SOCKHOST_CACHE_DIR=cache (env: more VAR=value words, later
-- ones win); path is "wrapper" (a clang that logs its compiles first on PATH), "none"
-- (nothing on PATH but an empty dir) or a PATH. Returns success and stdout + stderr.
local function run(code, path, env, cwd)
   path = path == "wrapper" and (wrapper .. ":/usr/bin:/bin") or path == "none" and noclang
      or path
   local cmd = ("cd %s && env SOCKHOST_CACHE_DIR=%s PATH=%s %s %s -e %s 2>&1"):format(
      quote(cwd or dir), quote(cache), quote(path), env or "", quote(BIN), quote(code))
   local ok, out = proc.sh(cmd)
   return ok, out
end

-- RUN_PROBE on src (sockhost -e passes no arguments: the chunk is loaded and called with it)
local function run_probe(path, src, cwd)
   return run(("local f = load(%q); f(%q)"):format(RUN_PROBE, src), path, nil, cwd)
end

-- run_probe succeeds and prints expected
local function probe_gives(expected, ...)
   local ok, out = run_probe(...)
   assert.is_true(ok, out)
   assert.equal(expected, out)
end

setup(function()
   dir = proc.tmpdir()
   proc.must("chmod 755 " .. quote(dir))
   cache = dir .. "/cache"
   wrapper = dir .. "/bin"
   noclang = dir .. "/empty"
   log = dir .. "/compiles.log"
   proc.must("mkdir -p " .. quote(wrapper) .. " " .. quote(noclang))
   -- a clang that notes each compile (not --version) and runs the real one
   write(wrapper .. "/clang", ([[#!/bin/sh
case " $* " in *" -c "*) echo compile >> %s ;; esac
exec /usr/bin/clang "$@"
]]):format(quote(log)))
   proc.must("chmod 755 " .. quote(wrapper .. "/clang"))
   write(dir .. "/probe.bpf.c", PROBE)
   write(dir .. "/probe.h", header(7))
end)

teardown(function()
   if dir then proc.sh("rm -rf " .. quote(dir)) end
end)

describe("sockhost.open(\"x.bpf.c\") #kernel", function()
   it("compiles on a cold open, once", function()
      probe_gives("7\t1\t7\n", "wrapper", "probe.bpf.c")
      assert.equal(1, compiles())
   end)

   it("generates vmlinux.h and its PCH into the cache, under the kernel BTF's hash", function()
      local sum = proc.must("sha256sum /sys/kernel/btf/vmlinux"):match("^(%x+)")
      local vdir = cache .. "/vmlinux/" .. sum
      local st = proc.must("stat -c '%U %a %s' " .. quote(vdir .. "/vmlinux.h"))
      local owner, mode, size = st:match("^(%S+) (%d+) (%d+)")
      assert.equal("root", owner)
      assert.equal("644", mode)
      assert.is_true(tonumber(size) > 100000, st)
      -- one precompiled vmlinux.h: this clang, these flags
      local pchs = proc.must("cd " .. quote(vdir) .. " && ls")
      assert.matches("^vmlinux%-%x+%.pch\nvmlinux%.h\n$", pchs)
   end)

   it("opens warm with no compiler at all (a PATH without clang)", function()
      probe_gives("7\t1\t7\n", "none", "probe.bpf.c")
      -- the wrapper is the only way to compile from this PATH: no line added
      probe_gives("7\t1\t7\n", "wrapper", "probe.bpf.c")
      assert.equal(1, compiles())
   end)

   it("compiles again when a header it includes changes", function()
      write(dir .. "/probe.h", header(9))
      probe_gives("9\t1\t9\n", "wrapper", "probe.bpf.c")
      assert.equal(2, compiles())
      probe_gives("9\t1\t9\n", "none", "probe.bpf.c")
   end)

   it("keeps a same-named source in another directory apart (its own probe.h)", function()
      local other = dir .. "/elsewhere"
      proc.must("mkdir -p " .. quote(other))
      write(other .. "/probe.bpf.c", PROBE)
      write(other .. "/probe.h", header(5))
      local before = compiles()
      probe_gives("5\t1\t5\n", "wrapper", "probe.bpf.c", other)
      assert.equal(before + 1, compiles())
      probe_gives("9\t1\t9\n", "none", "probe.bpf.c")
   end)

   it("compiles again when the cached object was truncated", function()
      local ok, out = run("io.write(sockhost.cc('probe.bpf.c'))", "none")
      assert.is_true(ok, out)
      local obj = out
      assert.matches("^" .. cache:gsub("%p", "%%%0") .. "/o/%x+/probe%.bpf%.o$", obj)
      proc.must("truncate -s 100 " .. quote(obj))
      -- without clang the damage cannot be repaired, and is not loaded either
      ok, out = run_probe("none", "probe.bpf.c")
      assert.is_false(ok)
      assert.matches("compile 'probe.bpf.c': clang not found on PATH", out, 1, true)
      probe_gives("9\t1\t9\n", "wrapper", "probe.bpf.c")
      assert.equal(4, compiles())
   end)

   it("gives two processes opening one cold source the result of one compile", function()
      write(dir .. "/twice.bpf.c", PROBE .. "/* twice */\n")
      local code = ("local f = load(%q); f('twice.bpf.c')"):format(RUN_PROBE)
      local one = ("cd %s && env SOCKHOST_CACHE_DIR=%s PATH=%s %s -e %s"):format(quote(dir),
         quote(cache), quote(wrapper .. ":/usr/bin:/bin"), quote(BIN), quote(code))
      local before = compiles()
      local out = proc.must(("(%s > %s/a.out 2>&1 & %s > %s/b.out 2>&1 & wait)"):format(one,
         quote(dir), one, quote(dir)))
      assert.equal("", out)
      assert.equal("9\t1\t9\n", proc.read_file(dir .. "/a.out"))
      assert.equal("9\t1\t9\n", proc.read_file(dir .. "/b.out"))
      assert.equal(before + 1, compiles())
   end)
end)

describe("sockhost.compile #kernel", function()
   local INLINE = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("socket")
int three(struct __sk_buff *skb)
{
	return 3;
}

char LICENSE[] SEC("license") = "GPL";
]]

   it("compiles C given as a string, and finds it in the cache the next time", function()
      local code = ("local o <close> = sockhost.compile(%q, 'inl') "
         .. "print(o.name, o:program('three'):test_run{data = ('x'):rep(64)}.retval)"):format(
         INLINE)
      local before = compiles()
      local ok, out = run(code, "wrapper")
      assert.is_true(ok, out)
      assert.equal("inl\t3\n", out)
      assert.equal(before + 1, compiles())
      ok, out = run(code, "none")
      assert.is_true(ok, out)
      assert.equal("inl\t3\n", out)
   end)

   it("raises clang's diagnostics, naming <name>.bpf.c and the source's own lines", function()
      local ok, out = run(pcall_code("sockhost.compile('int a;\\nint x = y;\\n', 'oops')"),
         "wrapper")
      assert.is_true(ok, out)
      assert.equal("compile 'oops.bpf.c' failed (clang exit 1):\n"
         .. "oops.bpf.c:2:9: error: use of undeclared identifier 'y'\n"
         .. "int x = y;\n"
         .. "        ^\n"
         .. "1 error generated.", message(out))
   end)

   it("says what to do without clang", function()
      local ok, out = run(pcall_code("sockhost.compile('int z;\\n', 'noclang')"), "none")
      assert.is_true(ok, out)
      assert.equal("compile 'noclang.bpf.c': clang not found on PATH (or SOCKHOST_CLANG); save "
         .. "the source as a file, run `sockhost cc noclang.bpf.c` on a machine that has clang "
         .. "and open the .bpf.o it writes (Debian: apt install clang)", message(out))
   end)

   it("refuses a name that is not a plain word", function()
      local ok, out = run(pcall_code("sockhost.compile('int a;', '../x')"), "wrapper")
      assert.is_true(ok, out)
      assert.equal("name '../x': use 1 to 64 letters, digits, '_' and '-'", message(out))
   end)
end)

describe("sockhost cc #kernel", function()
   it("writes the object, which then opens on a machine without clang", function()
      local ok, out = proc.sh(("cd %s && env SOCKHOST_CACHE_DIR=%s PATH=%s %s cc probe.bpf.c "
         .. "-o aot.bpf.o 2>&1"):format(quote(dir), quote(cache), quote(wrapper .. ":/usr/bin:/bin"),
         quote(BIN)))
      assert.is_true(ok, out)
      local size = math.tointeger(tonumber(proc.must("stat -c %s " .. quote(dir .. "/aot.bpf.o"))))
      assert.equal(("sockhost cc: probe.bpf.c -> aot.bpf.o (%d bytes)\n"):format(size), out)
      probe_gives("9\t1\t9\n", "none", "./aot.bpf.o")
   end)

   it("names the output after the source by default, in the current directory", function()
      local out_dir = dir .. "/out"
      proc.must("mkdir -p " .. quote(out_dir))
      local env = ("cd %s && env SOCKHOST_CACHE_DIR=%s PATH=%s "):format(quote(out_dir),
         quote(cache), quote(wrapper .. ":/usr/bin:/bin"))
      local ok, out = proc.sh(env .. quote(BIN) .. " cc ../probe.bpf.c 2>&1")
      assert.is_true(ok, out)
      assert.matches("^sockhost cc: %.%./probe%.bpf%.c %-> probe%.bpf%.o %(%d+ bytes%)\n$", out)
      -- the object sockhost.open("../probe.bpf.c") opens from there, byte for byte
      local cached = proc.must(env .. quote(BIN) .. " -e " .. quote("io.write(sockhost.cc('../probe.bpf.c'))"))
      assert.equal(proc.read_file(cached), proc.read_file(out_dir .. "/probe.bpf.o"))
   end)

   it("fails like a command on a missing source", function()
      local ok, out = proc.sh(("cd %s && env SOCKHOST_CACHE_DIR=%s %s cc nope.bpf.c 2>&1; echo rc=$?")
         :format(quote(dir), quote(cache), quote(BIN)))
      assert.is_true(ok, out)
      assert.equal("sockhost cc: compile 'nope.bpf.c': No such file or directory\nrc=1\n", out)
   end)
end)

describe("compile errors #kernel", function()
   -- the message sockhost.open(name) raises once name holds text (PATH: see run)
   local function open_error(name, text, path, env)
      if text then write(dir .. "/" .. name, text) end
      local ok, out = run(pcall_code(("sockhost.open(%q)"):format(name)), path, env)
      assert.is_true(ok, out)
      return message(out)
   end

   it("raises clang's diagnostics with file:line", function()
      assert.equal("compile 'bad.bpf.c' failed (clang exit 1):\n"
         .. "bad.bpf.c:5:9: error: use of undeclared identifier 'nope'\n"
         .. "        return nope;\n"
         .. "               ^\n"
         .. "1 error generated.", open_error("bad.bpf.c",
         "#include \"vmlinux.h\"\n\nint f(void)\n{\n\treturn nope;\n}\n", "wrapper"))
   end)

   it("gives clang's message for a header that does not exist", function()
      assert.equal("compile 'nohdr.bpf.c' failed (clang exit 1):\n"
         .. "nohdr.bpf.c:2:10: fatal error: 'missing.h' file not found\n"
         .. "#include \"missing.h\"\n"
         .. "         ^~~~~~~~~~~\n"
         .. "1 error generated.", open_error("nohdr.bpf.c",
         "#include \"vmlinux.h\"\n#include \"missing.h\"\n", "wrapper"))
   end)

   it("says when there is no clang, and how to do without", function()
      local got = open_error("cold.bpf.c", PROBE .. "/* cold */\n", "none")
      assert.equal("compile 'cold.bpf.c': clang not found on PATH (or SOCKHOST_CLANG); run "
         .. "`sockhost cc cold.bpf.c` on a machine that has clang and open the .bpf.o it "
         .. "writes (Debian: apt install clang)", got)
   end)

   -- opening probe.bpf.c with SOCKHOST_CACHE_DIR=<dir>/<name>, made by the shell command
   -- prepare (%s: the dir), raises exactly the expected message (%s: the dir)
   local function refused(name, prepare, expected)
      local cdir = dir .. "/" .. name
      proc.must(("mkdir -p %s && " .. prepare):format(quote(cdir), quote(cdir)))
      assert.equal(expected:format(cdir), open_error("probe.bpf.c", nil, "wrapper",
         "SOCKHOST_CACHE_DIR=" .. quote(cdir)))
   end

   it("refuses a cache dir another user owns", function()
      refused("other", "chown 65534 %s", "cache dir '%s' is owned by uid 65534, not by this "
         .. "user (uid 0): refusing to use it (set SOCKHOST_CACHE_DIR to a directory you own)")
   end)

   it("refuses a cache dir others can write to", function()
      refused("open", "chmod 777 %s", "cache dir '%s' is writable by other users (mode 0777): "
         .. "refusing to use it (set SOCKHOST_CACHE_DIR to a directory you own)")
   end)

   it("says when the cache dir is not writable", function()
      local ro = dir .. "/ro"
      proc.must(("mkdir -p %s && chown 65534 %s && chmod 555 %s"):format(quote(ro), quote(ro),
         quote(ro)))
      -- as root every directory is writable: run as its owner, nobody
      local ok, out = proc.sh(("cd %s && env SOCKHOST_CACHE_DIR=%s setpriv --reuid=65534 "
         .. "--regid=65534 --clear-groups %s -e %s 2>&1"):format(quote(dir), quote(ro),
         quote(BIN), quote(pcall_code("sockhost.open('probe.bpf.c')"))))
      assert.is_true(ok, out)
      assert.equal(("cache dir '%s' is not writable (cannot create 'lock': Permission denied; "
         .. "set SOCKHOST_CACHE_DIR to a directory you own)"):format(ro), message(out))
   end)

   it("refuses a cache entry another user wrote", function()
      local all = quote(cache) .. "/m/*"
      proc.must("chown 65534 " .. all)
      local out = open_error("probe.bpf.c", nil, "wrapper")
      proc.must("chown 0 " .. all)
      local manifest = out:match("^cache entry '([^']+)'") or "(none)"
      assert.equal(cache .. "/m/", manifest:sub(1, #cache + 3))
      assert.equal(("cache entry '%s' is owned by uid 65534, not by this user (uid 0): "
         .. "refusing to use it (set SOCKHOST_CACHE_DIR to a directory you own)"):format(
         manifest), out)
   end)
end)

describe("an object without BTF #kernel", function()
   it("adds the hint to compile with -g to libbpf's complaint", function()
      local vmlinux = proc.must("ls -d " .. quote(cache) .. "/vmlinux/*"):gsub("\n$", "")
      local src = proc.env("SOCKHOST_SOURCE_DIR") .. "/include"
      proc.must(("cd %s && clang -O2 -target bpf -I%s -I%s -c probe.bpf.c -o nog.bpf.o")
         :format(quote(dir), quote(vmlinux), quote(src)))
      errors.raises(function() sockhost.open(dir .. "/nog.bpf.o") end,
         ("object '%s/nog.bpf.o': cannot open: BTF is required, but is missing or corrupted.: "
         .. "No such file or directory (the object has no BTF: compile it with clang -g, as "
         .. "sockhost.open(\"x.bpf.c\") and `sockhost cc` do)"):format(dir))
   end)
end)
