-- SPDX-License-Identifier: GPL-2.0
-- Handles that nobody holds are collected with everything they own: fds, mappings, log
-- subscriptions. Counted through /proc/<pid>/fd and VmRSS of this very process.
local sockhost = require "sockhost"
local fixtures = require "helpers.fixtures"
local proc = require "helpers.proc"

local function fds()
   return #proc.fds()
end

local function rss_kb()
   for line in io.lines("/proc/" .. sockhost.pid() .. "/status") do
      local kb = line:match("^VmRSS:%s+(%d+)")
      if kb then return tonumber(kb) end
   end
end

local function settle()
   collectgarbage()
   collectgarbage()
end

describe("#kernel collected handles", function()
   it("collect an object with a BPF log ring that nobody holds", function()
      local path = fixtures.path("evgen")
      -- the loop's epoll fd is made on the first subscription; make it before counting
      sockhost.open(path, { globals = { target_pid = sockhost.pid() } })
      settle()
      local before = fds()
      for _ = 1, 50 do
         sockhost.open(path, { globals = { target_pid = sockhost.pid() } })
      end
      settle()
      assert.equal(before, fds())
   end)

   it("keep fds and memory flat over open/load/close cycles of every built-in", function()
      local names = { "conntrace", "hello-sockops", "redirect", "sockex1", "sockex2", "sockex3" }
      local function cycle()
         for _, name in ipairs(names) do
            local obj <close> = sockhost.open(name)
            for _, m in ipairs(obj:maps()) do
               assert.is_string(tostring(m))
            end
         end
      end
      for _ = 1, 5 do cycle() end -- warm up: caches, the allocator's arenas
      settle()
      local fd0, rss0 = fds(), rss_kb()
      for i = 1, 40 do
         cycle()
         -- the collector's pace is not a leak: closed handles wait for it, and the
         -- allocator keeps the peak they reached
         if i % 10 == 0 then collectgarbage() end
      end
      settle()
      assert.equal(fd0, fds())
      local grown = rss_kb() - rss0
      assert.is_true(grown < 1024, "RSS grew by " .. grown .. " KiB over 240 open/load/close")
   end)
end)
