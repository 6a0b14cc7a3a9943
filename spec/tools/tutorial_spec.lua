-- SPDX-License-Identifier: GPL-2.0
-- README's "Tutorial: write your own probe", run exactly as written: every ```sh block of the
-- section, in order, in one shell (`set -e`), in a temporary directory, with the build's
-- sockhost first on PATH and a compile cache of the spec's own (SOCKHOST_CACHE_DIR). Then the
-- outcomes the text promises: the files `sockhost new` wrote, the spec passing under
-- `sockhost test`, the shipped object opening with no clang on PATH.
local proc = require "helpers.proc"

local bin = proc.env("SOCKHOST_BIN")
local q = proc.quote

local readme = require "helpers.readme"

describe("README tutorial #tools", function()
   local dir
   before_each(function() dir = proc.tmpdir() end)
   after_each(function() proc.sh("rm -rf " .. q(dir)) end)

   it("runs as written: a probe of one's own, its spec passing, an object to ship", function()
      local code = readme.blocks("Tutorial: write your own probe", "sh")
      assert.equal(4, #code)
      proc.must(("mkdir -p %s/bin %s/cache && ln -s %s %s/bin/sockhost"):format(q(dir), q(dir),
         q(bin), q(dir)))
      local script = dir .. "/tutorial.sh"
      local f = assert(io.open(script, "w"))
      f:write("set -e\n", table.concat(code, "echo '--- next block'\n"))
      f:close()
      -- the user's environment: no LUA_PATH of the build, sockhost on PATH
      local ok, out, rc = proc.sh(("cd %s && env -u LUA_PATH -u LUA_CPATH PATH=%s/bin:$PATH "
         .. "SOCKHOST_CACHE_DIR=%s/cache SOCKHOST_BIN=%s/bin/sockhost sh %s 2>&1")
         :format(q(dir), q(dir), q(dir), q(dir), q(script)))
      assert.is_true(ok, ("exit %s\n%s"):format(tostring(rc), out))
      local p = dir .. "/myprobes"
      -- sockhost new wrote the four files
      assert.matches("wrote ./opens.bpf.c\nwrote ./opens.h\nwrote ./opens.lua\n"
         .. "wrote ./spec/opens_spec.lua\n", out, 1, true)
      for _, name in ipairs({ "opens.bpf.c", "opens.h", "opens.lua", "spec/opens_spec.lua" }) do
         assert.is_truthy(proc.read_file(p .. "/" .. name), name)
      end
      -- --help, then a one-second run that ends with the tool's own summary
      assert.matches("Usage: opens ", out, 1, true)
      assert.matches("opens: attached to tracepoint syscalls/sys_enter_openat; Ctrl-C stops\n",
         out, 1, true)
      assert.matches("\nopens: 0 events, 0 dropped, %d+ counted %(duration%)\n", out)
      -- the spec passed under sockhost test
      assert.matches("\n2 successes / 0 failures / 0 errors / 0 pending : ", out)
      -- the shipped object: opens by path where no clang is on PATH
      assert.matches("sockhost cc: opens%.bpf%.c %-> opens%.bpf%.o %(%d+ bytes%)\n", out)
      local empty = dir .. "/empty"
      proc.must("mkdir -p " .. q(empty))
      local ok2, loaded = proc.sh(("cd %s && PATH=%s %s -e %s 2>&1"):format(q(p), q(empty),
         q(bin), q("print(sockhost.open('./opens.bpf.o'):program('opens'))")))
      assert.is_true(ok2, loaded)
      assert.matches("^sockhost.program 'opens'", loaded)
   end)
end)
