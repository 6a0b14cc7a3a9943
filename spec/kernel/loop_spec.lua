-- SPDX-License-Identifier: GPL-2.0
-- The loop itself: sources that go away while a batch of ready events is being dispatched.
local sockhost = require "sockhost"
local socket = require "socket"

describe("sockhost loop #kernel", function()
   it("never dispatches a source a callback earlier in the same batch closed", function()
      local fired, timers = {}, {}
      local function cancel(k) -- returns with no reference to the timer left on the stack
         local t = timers[k]
         timers[k] = nil
         if t then t:cancel() end
      end
      for i = 1, 2 do
         timers[i] = sockhost.after(0.02, function()
            fired[#fired + 1] = i
            -- close the other one and let the collector free it before its turn
            cancel(3 - i)
            collectgarbage()
            collectgarbage()
         end)
      end
      socket.sleep(0.1) -- both timerfds are readable before the poll: one epoll batch
      assert.equal(1, sockhost.poll(0) >= 1 and #fired or -1)
      sockhost.poll(50)
      assert.equal(1, #fired)
   end)

   it("ends a subscription whose object a callback closed in the same batch", function()
      local obj = sockhost.open("hello-sockops")
      local calls = 0
      local t = sockhost.after(0.02, function() obj:close(); collectgarbage() end)
      local sub = sockhost.ringbuf(obj:map("events"), "struct hello_event", function()
         calls = calls + 1
      end)
      socket.sleep(0.05)
      sockhost.poll(0)
      assert.is_false(sub:stats().open)
      assert.equal(0, calls)
      t:cancel()
   end)

   describe("run{on_hup}", function()
      local pid = require("sockhost.testing.proc").pid()

      it("calls on_hup once per SIGHUP and goes on running", function()
         local calls = 0
         local t1 = sockhost.after(0.05, function() os.execute("kill -HUP " .. pid) end)
         local t2 = sockhost.after(0.3, function() os.execute("kill -HUP " .. pid) end)
         local t3 = sockhost.after(0.6, sockhost.stop)
         local reason, signal = sockhost.run { on_hup = function() calls = calls + 1 end }
         assert.same({ "stopped", nil, 2 }, { reason, signal, calls })
         t1:cancel(); t2:cancel(); t3:cancel()
      end)

      it("holds a SIGHUP sent before the run (hold_hup) for it", function()
         sockhost.hold_hup()
         os.execute("kill -HUP " .. pid)
         local calls = 0
         local t = sockhost.after(0.2, sockhost.stop)
         assert.equal("stopped", sockhost.run { on_hup = function() calls = calls + 1 end })
         assert.equal(1, calls)
         t:cancel()
      end)

      it("an error in on_hup ends the run with it", function()
         local t = sockhost.after(0.05, function() os.execute("kill -HUP " .. pid) end)
         local ok, err = pcall(sockhost.run, { duration = 2, on_hup = function()
            error("reopen failed", 0)
         end })
         assert.is_false(ok)
         assert.matches("^reopen failed", tostring(type(err) == "table" and err.message or err))
         t:cancel()
      end)

      it("refuses an on_hup that is not a function", function()
         assert.same({ false, "sockhost.run: on_hup must be a function, got number" },
            { pcall(sockhost.run, { on_hup = 1 }) })
      end)
   end)

   it("refuses a second reader of one ring buffer, and takes one after the first closes", function()
      local errors = require "helpers.errors"
      local obj <close> = sockhost.open("hello-sockops")
      local first = obj:subscribe("events", "struct hello_event", function() end)
      errors.raises(function() obj:subscribe("events", nil, function() end) end,
         "ringbuf 'events' already has a subscriber: a ring buffer has one consumer position "
         .. "(close the other subscription first)")
      first:close()
      local second = obj:subscribe("events", nil, function() end)
      assert.is_true(second:stats().open)
   end)
end)
