-- SPDX-License-Identifier: GPL-2.0
-- sockhost.object and sockhost.program: open, choose, load, globals, close, bad input.
local sockhost = require "sockhost"
local errors = require "helpers.errors"
local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local fixtures = require "helpers.fixtures"

local function tmpfile(content)
   local path = os.tmpname()
   local f = assert(io.open(path, "wb"))
   f:write(content)
   f:close()
   return path
end

local errmsg = errors.message

describe("sockhost.open #kernel", function()
   it("opens and loads a built-in object by name", function()
      local obj = sockhost.open("sockex1")
      assert.is_true(obj.loaded)
      assert.equal("sockex1", obj.name)
      assert.equal(sockhost.bpf_dir() .. "/sockex1.bpf.o", obj.path)
      assert.matches("^sockhost.object 'sockex1' %(.*, loaded%)$", tostring(obj))
      obj:close()
   end)

   it("names the built-in objects when a name matches none", function()
      local msg = errmsg(function() sockhost.open("no-such-thing") end)
      assert.matches("^no built%-in BPF object 'no%-such%-thing' in .+ %(built%-in: .*sockex1", msg)
      -- test-only objects are fixtures, opened by path: never built-in
      assert.is_nil(msg:find("sockcount", 1, true))
   end)

   it("says when the path does not exist", function()
      errors.raises(function() sockhost.open("/nonexistent/x.bpf.o") end,
         "object '/nonexistent/x.bpf.o': No such file or directory")
   end)

   it("says when the file is not ELF", function()
      local path = tmpfile("hello, not an object\n")
      finally(function() os.remove(path) end)
      errors.raises(function() sockhost.open(path) end,
         "object '" .. path .. "': not an ELF file")
   end)

   it("says when the ELF file is not a BPF object", function()
      errors.raises(function() sockhost.open("/bin/true") end,
         "object '/bin/true': ELF file is not a BPF object (e_machine 62, want EM_BPF)")
   end)

   it("says when the object is truncated", function()
      local f = assert(io.open(fixtures.path("sockcount"), "rb"))
      local path = tmpfile(f:read(600))
      f:close()
      finally(function() os.remove(path) end)
      local msg = errmsg(function() sockhost.open(path) end)
      assert.matches("^object '" .. path:gsub("%p", "%%%0") .. "': cannot open", msg)
   end)

   it("lists the programs when a program name does not exist", function()
      local obj <close> = fixtures.open("sockcount", { load = false })
      errors.raises(function() obj:program("nope") end,
         "object 'sockcount' has no program 'nope' (programs: count, drop_all)")
      errors.raises(function() fixtures.open("sockcount", { programs = { "nope" } }) end,
         "object 'sockcount' has no program 'nope' (programs: count, drop_all)")
   end)

   it("lists the maps when a map name does not exist", function()
      local obj <close> = fixtures.open("sockcount", { load = false })
      errors.raises(function() obj:map("nope") end,
         "object 'sockcount' has no map 'nope' (maps: counts)")
   end)

   it("loads only the programs the script chose", function()
      local obj <close> = fixtures.open("sockcount", { programs = { "count" } })
      assert.is_true(obj:program("count").loaded)
      assert.is_false(obj:program("drop_all").loaded)
      assert.is_false(obj:program("drop_all").autoload)
      errors.raises(function() return obj:program("drop_all").fd end,
         "program 'drop_all' is not loaded: it was not selected to load (autoload off)")
   end)

   it("lets autoload be switched off before load, and not after", function()
      local obj <close> = fixtures.open("sockcount", { load = false })
      obj:program("drop_all").autoload = false
      obj:load()
      assert.is_true(obj:program("count").loaded)
      assert.is_false(obj:program("drop_all").loaded)
      errors.raises(function() obj:program("count").autoload = false end,
         "program 'count': autoload can only change before load")
      errors.raises(function() obj:load() end, "object 'sockcount' is already loaded")
   end)

   it("resizes maps before load", function()
      local obj <close> = sockhost.open("hello-sockops", { maps = { events = { max_entries = 4096 * 16 } } })
      assert.equal(4096 * 16, obj:map("events").max_entries)
      errors.raises(function() obj:map("events"):resize(8192) end,
         "map 'events': resize only works before load")
   end)

   it("returns the same handle for the same program or map", function()
      local obj <close> = fixtures.open("sockcount")
      assert.equal(obj:program("count"), obj:program("count"))
      assert.equal(obj:map("counts"), obj:map("counts"))
      local names = {}
      for _, p in ipairs(obj:programs()) do names[#names + 1] = p.name end
      assert.same({ "count", "drop_all" }, names)
      assert.equal(1, #obj:maps())
   end)

   it("describes programs", function()
      local obj <close> = fixtures.open("sockcount")
      local p = obj:program("count")
      assert.equal("count", p.name)
      assert.equal("socket_filter", p.type)
      assert.equal("socket", p.section)
      assert.equal("sockhost.program 'count' (socket_filter)", tostring(p))
      local info = p:info()
      assert.equal("socket_filter", info.type)
      assert.equal("count", info.name)
      assert.is_true(info.id > 0)
      assert.equal(16, #info.tag)
      assert.is_true(info.xlated_size > 0)
      assert.equal(2, #info.map_ids) -- counts and .rodata
   end)
end)

describe("pinning and statistics #kernel", function()
   it("pins a map and reads it back through the pin, typed by the kernel's BTF", function()
      local obj <close> = fixtures.open("sockcount")
      local path = "/sys/fs/bpf/sockhost-spec-map-" .. sockhost.pid()
      obj:map("counts")[1] = { packets = 7, bytes = 700 }
      obj:map("counts"):pin(path)
      finally(function() os.remove(path) end)
      local m <close> = sockhost.open_pinned(path)
      assert.equal("sockhost.map 'counts' (array, 2 entries)", tostring(m))
      assert.same({ packets = 7, bytes = 700 }, m[1])
      m[0] = { packets = 1 }
      assert.same({ packets = 1, bytes = 0 }, obj:map("counts")[0])
      obj:map("counts"):unpin(path)
      assert.is_nil(io.open(path))
   end)

   it("counts runs and run time while stats are enabled", function()
      local obj <close> = fixtures.open("sockcount")
      local prog = obj:program("count")
      local pkt = string.rep("\0", 12) .. "\8\0" .. string.rep("\0", 40)
      prog:test_run({ data = pkt, ["repeat"] = 3 })
      assert.equal(0, prog:info().run_cnt)
      local stats <close> = sockhost.enable_stats()
      prog:test_run({ data = pkt, ["repeat"] = 5 })
      local info = prog:info()
      assert.equal(5, info.run_cnt)
      assert.is_true(info.run_time_ns > 0)
   end)
end)

describe("machine facts #kernel", function()
   it("gives a cgroup's id as bpftool and the kernel know it", function()
      local cg = cgroup.new("id")
      finally(function() cgroup.remove(cg) end)
      local _, ino = proc.sh("stat -c %i " .. cg)
      assert.equal(math.tointeger(tonumber(ino)), sockhost.cgroup_id(cg))
      errors.raises(function() sockhost.cgroup_id("/tmp") end,
         "cgroup '/tmp': not a cgroup v2 directory (cgroup2 is mounted at " .. sockhost.cgroup2_root() .. ")")
   end)
end)

describe("privileges #kernel", function()
   it("says once, at the first BPF call, that BPF needs root or CAP_BPF", function()
      local bin = proc.env("SOCKHOST_BIN")
      local ok, out, code = proc.sh("setpriv --reuid=nobody --regid=nogroup --clear-groups "
         .. "--inh-caps=-all " .. bin .. " -e 'sockhost.open(\"sockex1\")' 2>&1")
      assert.is_false(ok)
      assert.equal(1, code)
      assert.equal("sockhost: (command line):1: object '" .. sockhost.bpf_dir() .. "/sockex1.bpf.o': "
         .. "load failed: Operation not permitted (loading it needs root or CAP_BPF)",
         out:match("^[^\n]*"))
   end)
end)

describe("globals #kernel", function()
   it("sets .rodata before load and reads it after", function()
      local obj <close> = fixtures.open("sockcount", { globals = { proto_filter = 17 } })
      assert.equal(17, obj.globals.proto_filter)
   end)

   it("sets globals step by step before load", function()
      local obj <close> = fixtures.open("tpcount", { load = false, programs = { "sys_enter_getppid" } })
      obj.globals.target_pid = 4242
      obj:load()
      assert.equal(4242, obj.globals.target_pid)
      assert.equal(0, obj.globals.hits)
   end)

   it("reads and writes .bss live after load", function()
      local obj <close> = fixtures.open("tpcount", { programs = { "sys_enter_getppid" } })
      obj.globals.hits = 12345
      assert.equal(12345, obj.globals.hits)
   end)

   it("iterates every global with its value", function()
      local obj <close> = fixtures.open("tpcount", { programs = { "sys_enter_getppid" },
         globals = { target_pid = 99 } })
      obj.globals.hits = 5
      local seen = {}
      for k, v in pairs(obj.globals) do seen[k] = v end
      assert.equal(99, seen.target_pid)
      assert.equal(5, seen.hits)
      assert.equal(0, seen.raw_hits)
      assert.same({ pid = 0, seq = 0, ts = 0 }, seen.tp_event_type)
      assert.equal("sockhost globals of 'tpcount'", tostring(obj.globals))
   end)

   it("refuses .rodata after load", function()
      local obj <close> = fixtures.open("sockcount")
      errors.raises(function() obj.globals.proto_filter = 6 end,
         "global 'proto_filter' is read-only after load (it is in .rodata: set it in open's opts.globals or before obj:load())")
   end)

   it("names the globals when one does not exist", function()
      errors.raises(function() fixtures.open("sockcount", { globals = { port = 1 } }) end,
         "object 'sockcount' has no global 'port' (globals: proto_filter)")
   end)

   it("refuses a value of the wrong type or out of range", function()
      local obj <close> = fixtures.open("sockcount", { load = false })
      local msg = errmsg(function() obj.globals.proto_filter = "udp" end)
      assert.matches("^global 'proto_filter'", msg)
      msg = errmsg(function() obj.globals.proto_filter = -1 end)
      assert.matches("^global 'proto_filter'.*out of range", msg)
      msg = errmsg(function() obj.globals.proto_filter = 1 << 32 end)
      assert.matches("^global 'proto_filter'.*out of range", msg)
   end)

   it("says when an object without BTF cannot type its globals", function()
      local obj <close> = fixtures.open("nobtf")
      errors.raises(function() return obj.globals.seen end,
         "object 'nobtf' has no BTF, so its globals cannot be typed (compile with clang -g)")
   end)
end)

describe("verifier rejection #kernel", function()
   local path = fixtures.path("bad_verifier")
   local head = "object '" .. path .. "': program 'bad_lookup' was rejected by the verifier: "
      .. "Permission denied; verifier log tail:\n"

   it("raises at the script line with the log's tail and keeps the whole log", function()
      local where = debug.getinfo(1, "S").short_src .. ":" .. debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() return sockhost.open(path) end)
      assert.is_false(ok)
      assert.equal("table", type(err))
      assert.equal(13, err.errno) -- EACCES: the verifier said no
      assert.equal(where .. ": " .. head, err.message:sub(1, #where + 2 + #head))
      assert.matches("R0 invalid mem access 'map_value_or_null'", err.message)
      assert.equal("\n(full log in err.log; SOCKHOST_VERIFIER_LOG=/path writes it to a file)",
         err.message:match("\n%([^\n]*$"))
      assert.is_true(#err.log > #err.message / 2)
      assert.equal(err.message, tostring(err))
   end)

   it("names the line of obj:load() too", function()
      local obj <close> = sockhost.open(path, { load = false })
      local where = debug.getinfo(1, "S").short_src .. ":" .. debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() obj:load() end)
      assert.is_false(ok)
      assert.equal(where .. ": " .. head, err.message:sub(1, #where + 2 + #head))
   end)

   it("writes the whole log to SOCKHOST_VERIFIER_LOG", function()
      local dir = proc.must("mktemp -d"):gsub("\n$", "")
      finally(function() proc.sh("rm -rf " .. proc.quote(dir)) end)
      local file = dir .. "/verifier.log"
      local script = dir .. "/load.lua"
      local f = assert(io.open(script, "w"))
      f:write(("local sockhost = require 'sockhost'\n"
         .. "local ok, err = pcall(sockhost.open, %q)\n"
         .. "io.write(err.message, '\\n', #err.log, '\\n')\n"):format(path))
      f:close()
      local ok, out = proc.sh(("SOCKHOST_VERIFIER_LOG=%s %s %s"):format(proc.quote(file),
         proc.quote(proc.env("SOCKHOST_BIN")), proc.quote(script)))
      assert.is_true(ok, out)
      local size = tonumber(out:match("(%d+)\n$"))
      assert.equal("(full log in " .. file .. " and err.log)", out:match("\n(%([^\n]*)\n%d+\n$"))
      local log = proc.read_file(file)
      assert.equal(size, #log)
      assert.matches("R0 invalid mem access 'map_value_or_null'", log)
      -- a file that cannot be written is named, and the error is still the verifier's
      ok, out = proc.sh(("SOCKHOST_VERIFIER_LOG=%s %s %s"):format(proc.quote(dir .. "/no/such"),
         proc.quote(proc.env("SOCKHOST_BIN")), proc.quote(script)))
      assert.is_true(ok, out)
      assert.equal("(full log in err.log; SOCKHOST_VERIFIER_LOG '" .. dir
         .. "/no/such': No such file or directory)", out:match("\n(%([^\n]*)\n%d+\n$"))
   end)
end)

describe("handle lifecycle #kernel", function()
   it("closes idempotently and refuses use after close", function()
      local obj = fixtures.open("sockcount")
      local prog, map = obj:program("count"), obj:map("counts")
      obj:close()
      obj:close()
      assert.equal("sockhost.object (closed)", tostring(obj))
      errors.raises(function() obj:program("count") end, "attempt to use a closed sockhost.object")
      errors.raises(function() prog:info() end, "attempt to use a closed sockhost.program")
      errors.raises(function() return map[0] end, "attempt to use a closed sockhost.map")
      assert.equal("sockhost.program (closed)", tostring(prog))
      assert.equal("sockhost.map (closed)", tostring(map))
   end)

   it("ends the subscriptions to its maps when it closes", function()
      local obj = sockhost.open("hello-sockops")
      local sub = obj:subscribe("events", "struct hello_event", function() end)
      assert.is_true(sub:stats().open)
      obj:close()
      assert.is_false(sub:stats().open)
      assert.equal("sockhost.ringbuf (closed)", tostring(sub))
   end)

   it("closes at the end of a <close> scope", function()
      local keep
      do
         local obj <close> = fixtures.open("sockcount")
         keep = obj
      end
      assert.equal("sockhost.object (closed)", tostring(keep))
   end)
end)
