-- SPDX-License-Identifier: GPL-2.0
--- bench/soak.lua: open, load, attach, detach and close every built-in object N times in one
-- process, and report the process's open fds and RSS before and after against a plain
-- "nothing happened" reference measured the same way in the same run (a loop of N empty
-- iterations). What it checks is that nothing accumulates: fds equal, RSS within noise. A
-- full garbage collection runs every 100 cycles, as a long-running script's collector would
-- get to in time.
--
--   build/sockhost bench/soak.lua [--cycles 1000]
--
-- Attach targets are the bench's own: a scratch cgroup (sock_ops, cgroup links), a raw socket
-- on lo (socket filters), the tracepoints conntrace picks (no target), removed at the end.
local sockhost = require "sockhost"
local cgroup = require "sockhost.cgroup"
local argparse = require "argparse"

local parser = argparse("sockhost bench/soak.lua", "Open/load/attach/close every built-in N times.")
parser:option("--cycles", "Cycles per object.", "1000"):convert(tonumber)
local args = parser:parse(arg)

local function fds()
   local p = assert(io.popen("ls /proc/" .. sockhost.pid() .. "/fd"))
   local n = 0
   for _ in p:lines() do n = n + 1 end
   p:close()
   return n
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

local cg <close> = cgroup.scratch("sockhost-bench-soak-" .. sockhost.pid())
local lo <close> = sockhost.socket("lo")

-- name -> what one cycle attaches
local attach = {
   ["hello-sockops"] = function(obj) return { obj:program("hello"):attach(cg.path) } end,
   redirect = function(obj)
      return { obj:program("msg_redirect"):attach(obj:map("socks")),
         obj:program("sock_ops"):attach(cg.path) }
   end,
   conntrace = function(obj)
      local links = {}
      for _, p in ipairs(obj:programs()) do
         local ok, l = pcall(p.attach, p) -- kprobes are missing on some kernels: skip those
         if ok then links[#links + 1] = l end
      end
      return links
   end,
   sockex1 = function(obj) return { obj:program("by_protocol"):attach(lo) } end,
   sockex2 = function(obj) return { obj:program("by_destination"):attach(lo) } end,
   sockex3 = function(obj) return { obj:program("dispatch"):attach(lo) } end,
}
local names = { "conntrace", "hello-sockops", "redirect", "sockex1", "sockex2", "sockex3" }

local function cycle(name)
   local obj <close> = sockhost.open(name)
   for _, l in ipairs(attach[name](obj)) do l:detach() end
end

-- the reference: the same measurement around a loop that does nothing
settle()
local ref_fd, ref_rss = fds(), rss_kb()
for _ = 1, args.cycles * #names do end
settle()
local ref_dfd, ref_drss = fds() - ref_fd, rss_kb() - ref_rss

for _, name in ipairs(names) do cycle(name) end -- warm up: caches, arenas, lazy probes
settle()
local fd0, rss0, t0 = fds(), rss_kb(), sockhost.now()
for i = 1, args.cycles do
   for _, name in ipairs(names) do cycle(name) end
   -- a full collection now and then: what the collector has not reached yet is not a leak
   -- (Lua does not see libbpf's memory, so its pacing lets closed handles pile up between
   -- cycles and the allocator keeps the peak)
   if i % 100 == 0 then collectgarbage() end
end
settle()
local dfd, drss, secs = fds() - fd0, rss_kb() - rss0, sockhost.now() - t0
print(("soak: %d cycles x %d built-ins (%d open/load/attach/detach/close) in %.1f s")
   :format(args.cycles, #names, args.cycles * #names, secs))
print(("  fds:  %+d (reference loop %+d)"):format(dfd, ref_dfd))
print(("  RSS:  %+d KiB (reference loop %+d KiB), %.2f KiB per cycle"):format(drss, ref_drss,
   drss / (args.cycles * #names)))
