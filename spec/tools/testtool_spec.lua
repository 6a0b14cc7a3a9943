-- SPDX-License-Identifier: GPL-2.0
-- `sockhost test` (lua/sockhost/testtool.lua): busted under the executable's own Lua 5.4, run
-- as a user runs it on a spec directory of their own in a temporary directory, with no
-- LUA_PATH/LUA_CPATH set, so `require "sockhost"` and `sockhost.testing` come from the
-- executable alone. Passing and failing specs, tags, explicit files, bad options: exit codes
-- and output.
local proc = require "helpers.proc"

local BIN = proc.env("SOCKHOST_BIN")
local q, read_file = proc.quote, proc.read_file

local A_SPEC = [[
local sockhost = require "sockhost"
local testing = require "sockhost.testing"
describe("a", function()
   it("runs on Lua 5.4 with sockhost #fast", function()
      assert.equal("Lua 5.4", _VERSION)
      assert.equal("string", type(sockhost.version))
   end)
   it("builds a UDP header #fast", function()
      assert.equal(10, #testing.packets.udp { sport = 1, dport = 2, data = "ab" })
   end)
end)
]]

local B_SPEC = [[
describe("b", function()
   it("fails #slow", function() assert.equal(1, 2) end)
end)
]]

local C_SPEC = [[
local testing = require "sockhost.testing"
describe("c", function()
   it("makes and removes a cgroup #kit", function()
      local path
      do
         local cg <close> = testing.cgroup("user")
         path = cg.path
         assert.equal("", io.open(path .. "/cgroup.procs"):read("a"))
      end
      assert.is_nil(io.open(path .. "/cgroup.procs"))
      testing.assert_clean()
   end)
end)
]]

local function write(path, text)
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
end

describe("sockhost test", function()
   local dir

   setup(function()
      dir = proc.tmpdir()
      proc.must("mkdir " .. q(dir .. "/spec"))
      write(dir .. "/spec/a_spec.lua", A_SPEC)
      write(dir .. "/spec/b_spec.lua", B_SPEC)
      write(dir .. "/spec/c_spec.lua", C_SPEC)
   end)
   teardown(function()
      proc.sh("rm -rf " .. q(dir))
   end)

   -- Run `sockhost test <args>` in cwd (default the temp dir); returns exit code, stdout, stderr.
   local function run(args, cwd)
      local out = os.tmpname()
      local _, _, code = proc.sh(("cd %s && env -u LUA_PATH -u LUA_CPATH %s test %s >%s 2>%s.err")
         :format(q(cwd or dir), q(BIN), args, out, out))
      local stdout, stderr = read_file(out), read_file(out .. ".err")
      os.remove(out)
      os.remove(out .. ".err")
      return code, stdout, stderr
   end

   local function summary(stdout)
      return stdout:match("(%d+ success%a* / %d+ failures? / %d+ errors? / %d+ pending) : ")
   end

   it("runs spec/ by default and exits 1 when a test fails, naming it", function()
      local code, stdout, stderr = run("--exclude-tags=kit")
      assert.same({ 1, "2 successes / 1 failure / 0 errors / 0 pending", "" },
         { code, summary(stdout), stderr })
      assert.truthy(stdout:find("Failure -> spec/b_spec.lua @ 2\nb fails #slow\n"
         .. "spec/b_spec.lua:2: Expected objects to be equal.\nPassed in:\n(number) 2\n"
         .. "Expected:\n(number) 1\n", 1, true), stdout)
   end)

   it("passes --tags through to busted and exits 0 when all pass", function()
      local code, stdout, stderr = run("--tags=fast")
      assert.same({ 0, "2 successes / 0 failures / 0 errors / 0 pending", "" },
         { code, summary(stdout), stderr })
   end)

   it("runs the files and directories it is given, from any directory", function()
      local code, stdout = run(q(dir .. "/spec/b_spec.lua"), "/")
      assert.same({ 1, "0 successes / 1 failure / 0 errors / 0 pending" }, { code, summary(stdout) })
      code, stdout = run(q(dir .. "/spec") .. " --exclude-tags=slow,kit", "/")
      assert.same({ 0, "2 successes / 0 failures / 0 errors / 0 pending" }, { code, summary(stdout) })
   end)

   it("gives user specs the testing kit against the kernel", function()
      local code, stdout = run("--tags=kit")
      assert.same({ 0, "1 success / 0 failures / 0 errors / 0 pending" }, { code, summary(stdout) })
   end)

   it("exits 1 on a path that is not there and on an unknown option, saying so", function()
      local code, stdout = run("nosuch")
      assert.equal(1, code)
      assert.truthy(stdout:find("Error -> Cannot find file or directory: nosuch\n", 1, true), stdout)
      local stderr
      code, stdout, stderr = run("--bogus")
      assert.same({ 1, "", "sockhost test: error: unknown/bad flag: --bogus; re-run with --help for usage.\n" },
         { code, stdout, stderr })
   end)

   it("is listed in sockhost --help", function()
      local _, out = proc.sh(q(BIN) .. " --help 2>&1")
      assert.truthy(out:find("\n       sockhost test [busted options] [DIR|FILE...]  (run specs, default spec/)\n",
         1, true), out)
   end)
end)
