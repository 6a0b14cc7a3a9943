-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/fixtures.lua: the test-only BPF objects of spec/fixtures/*.bpf.c, which CMake
-- builds into <build>/spec/fixtures/ (never installed, so never built-in: sockhost.open finds
-- them by path only).
--
--   local fixtures = require "helpers.fixtures"
--   local obj <close> = fixtures.open("sockcount", { globals = { proto_filter = 17 } })
--   local path = fixtures.path("maps")            -- <build>/spec/fixtures/maps.bpf.o
local proc = require "helpers.proc"

local fixtures = {}

--- The directory the fixtures are built into ($SOCKHOST_BUILD_DIR/spec/fixtures).
function fixtures.dir()
   local build = proc.env("SOCKHOST_BUILD_DIR")
   return build .. "/spec/fixtures"
end

--- Path of fixture name's object.
function fixtures.path(name)
   return ("%s/%s.bpf.o"):format(fixtures.dir(), name)
end

--- sockhost.open(fixtures.path(name), opts).
function fixtures.open(name, opts)
   return require("sockhost").open(fixtures.path(name), opts)
end

--- evgen (spec/fixtures/evgen.bpf.c) loaded for this process, cookie 0x5eed; globals
-- override the defaults, maps sizes maps. Its tracepoint runs on this process's openat().
function fixtures.evgen(globals, maps)
   local sockhost = require "sockhost"
   local g = { target_pid = sockhost.pid(), cookie = 0x5eed }
   for k, v in pairs(globals or {}) do g[k] = v end
   return fixtures.open("evgen", { globals = g, maps = maps })
end

--- Attach evgen's tracepoint program; the link.
function fixtures.evgen_attach(obj)
   return obj:program("sys_enter_openat"):attach()
end

return fixtures
