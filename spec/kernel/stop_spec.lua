-- SPDX-License-Identifier: GPL-2.0
-- Stopping a run while callbacks are slow: a SIGINT or the end of run{duration} that arrives
-- during a drain ends sockhost.run after the callback in progress, not after the ring is
-- empty. Counted, not timed: each record's callback takes 20 ms, and the spec checks how many
-- records were delivered after the stop arrived. Records left in the ring stay there.
local sockhost = require "sockhost"
local proc = require "helpers.proc"
local traffic = require "helpers.traffic"
local fixtures = require "helpers.fixtures"

local function busy(ms)
   local t = os.clock() + ms / 1000
   while os.clock() < t do end
end

local function evgen(burst)
   return fixtures.open("evgen", { globals = { target_pid = sockhost.pid(), cookie = 0x5eed,
      burst = burst } })
end

describe("#kernel sockhost.run with slow callbacks", function()
   it("ends at a SIGINT after the callback in progress", function()
      local obj <close> = evgen(200)
      local seen, signalled_at = 0, nil
      local sub <close> = sockhost.ringbuf(obj:map("events"), "struct ev_record", function()
         seen = seen + 1
         if seen == 3 then
            -- the signal is pending (blocked, read from run's signalfd) when kill returns
            assert(proc.sh("kill -INT " .. sockhost.pid()))
            signalled_at = seen
         end
         busy(20)
      end)
      local link <close> = obj:program("sys_enter_openat"):attach()
      traffic.open_files(1)
      local reason, sig = sockhost.run { duration = 60 }
      assert.equal("signal", reason)
      assert.equal("SIGINT", sig)
      assert.equal(3, signalled_at)
      assert.equal(3, seen) -- nothing after the callback that was running
      assert.equal(0, sub.dropped)
   end)

   it("ends at its duration in the middle of a drain", function()
      local obj <close> = evgen(200)
      local seen = 0
      local events <close> = sockhost.ringbuf(obj:map("events"), "struct ev_record", function()
         seen = seen + 1
         busy(20)
      end)
      local link <close> = obj:program("sys_enter_openat"):attach()
      traffic.open_files(1)
      local reason = sockhost.run { duration = 0.1 }
      assert.equal("duration", reason)
      -- 0.1 s of 20 ms callbacks, plus the 10 ms check period: never the whole burst
      assert.is_true(seen >= 1 and seen <= 10, "records delivered: " .. seen)
      -- the rest is still queued: the next run delivers it
      sockhost.run { duration = 0.05 }
      assert.is_true(seen > 1)
   end)

   it("ends timer catch-up at a SIGINT", function()
      local fired = 0
      local ticker_guard <close> = sockhost.every(0.001, function()
         fired = fired + 1
         if fired == 2 then
            assert(proc.sh("kill -INT " .. sockhost.pid()))
         end
         busy(20)
      end)
      local reason, sig = sockhost.run { duration = 60 }
      assert.equal("signal", reason)
      assert.equal("SIGINT", sig)
      assert.equal(2, fired)
   end)

   it("interrupts a callback that never returns, a second after the signal", function()
      local obj <close> = evgen(1)
      local events <close> = sockhost.ringbuf(obj:map("events"), "struct ev_record", function()
         assert(proc.sh("kill -INT " .. sockhost.pid()))
         while true do end -- never comes back
      end)
      local link <close> = obj:program("sys_enter_openat"):attach()
      traffic.open_files(1)
      local ok, err = pcall(sockhost.run, { duration = 60 })
      assert.is_false(ok)
      assert.matches("interrupted!$", err)
      -- the state is usable afterwards, and the signal was taken: nothing is pending
      assert.equal("duration", (sockhost.run { duration = 0.05 }))
   end)

   it("makes sockhost exit as the signal would when a callback never returns", function()
      local code = [[
         local s = require "sockhost"
         s.after(0.01, function()
            os.execute("kill -TERM " .. s.pid())
            while true do end
         end)
         s.run { duration = 60 }
      ]]
      local ok, out, status = proc.sh(("%s -e %s 2>&1"):format(proc.quote(proc.env("SOCKHOST_BIN")),
         proc.quote(code)))
      assert.is_false(ok)
      assert.equal(128 + 15, status)
      -- as lua.c reports an interrupt: where the script was, then the traceback
      assert.matches("^sockhost: %(command line%):6: terminated!\n", out)
   end)
end)
