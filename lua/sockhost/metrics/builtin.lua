-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.metrics.builtin: the families every sockhost exporter has, added to a
-- sockhost.metrics registry and computed at scrape time:
--
--   sockhost_events_{received,dropped,errors,discarded}_total{kind,name}
--       the loss ledger of every live event source (sockhost.stats());
--   sockhost_program_run_count_total{program,id}, sockhost_program_run_time_seconds_total
--       the kernel's BPF run statistics of opts.programs (prog:info() run_cnt, run_time_ns),
--       counted while the sockhost.enable_stats() handle this module takes is held
--       (reg.stats_handle; opts.enable_stats = false leaves that to the caller; without
--       CAP_SYS_ADMIN they are left out and reg.stats_error says why);
--   sockhost_build_info{version} 1;
--   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
--   process_open_fds, process_max_fds, process_start_time_seconds
--       as the client libraries' process collector, from /proc/self.
--
-- Not pure: reads sockhost (stats, enable_stats, version, pid) and /proc.

local sockhost = require "sockhost"

local builtin = {}

local LEDGER = {
   { "received", "Records delivered to the event source's callback." },
   { "dropped", "Records the kernel could not put into the ring (reservation failed)." },
   { "errors", "Records whose callback raised an error." },
   { "discarded", "Records still in the ring when the subscription closed." },
}

local function read(path)
   local f = io.open(path, "r")
   if not f then return nil end
   local s = f:read("a")
   f:close()
   return s
end

local function getconf(name, default)
   local p = io.popen("getconf " .. name .. " 2>/dev/null")
   local v = p and tonumber(p:read("l") or "")
   if p then p:close() end
   return math.tointeger(v) or default
end

-- /proc/self/stat fields after the comm (which may hold spaces and parentheses)
local function stat_fields()
   local s = read("/proc/self/stat")
   local rest = s and s:match("%) (.*)$")
   if not rest then error("cannot read /proc/self/stat", 0) end
   local f = {}
   for w in rest:gmatch("%S+") do f[#f + 1] = w end
   -- f[1] is field 3 (state): field n is f[n - 2]
   return function(n) return tonumber(f[n - 2]) end
end

local function boot_time()
   local s = read("/proc/stat")
   return s and tonumber(s:match("\nbtime (%d+)")) or 0
end

local function open_fds()
   -- pure Lua cannot read a directory: ls lists this process's fds (the pipe it writes to
   -- is one of them, and is not counted)
   local p = io.popen("ls -1U /proc/" .. sockhost.pid() .. "/fd 2>/dev/null")
   local n = 0
   for _ in p:lines() do n = n + 1 end
   p:close()
   return n - 1
end

local function max_fds()
   local s = read("/proc/self/limits") or ""
   local soft = s:match("Max open files%s+(%S+)")
   return tonumber(soft) or math.huge
end

--- builtin.process(reg): the process collector's families.
function builtin.process(reg)
   local tck, page = getconf("CLK_TCK", 100), getconf("PAGESIZE", 4096)
   local one = function(fn) return function(emit) emit(fn()) end end
   reg:collector{ name = "process_cpu_seconds_total", type = "counter",
      help = "Total user and system CPU time spent in seconds.",
      collect = one(function()
         local f = stat_fields()
         return (f(14) + f(15)) / tck
      end) }
   reg:collector{ name = "process_resident_memory_bytes", type = "gauge",
      help = "Resident memory size in bytes.",
      collect = one(function() return stat_fields()(24) * page end) }
   reg:collector{ name = "process_virtual_memory_bytes", type = "gauge",
      help = "Virtual memory size in bytes.",
      collect = one(function() return stat_fields()(23) end) }
   reg:collector{ name = "process_open_fds", type = "gauge",
      help = "Number of open file descriptors.", collect = one(open_fds) }
   reg:collector{ name = "process_max_fds", type = "gauge",
      help = "Maximum number of open file descriptors.", collect = one(max_fds) }
   local start = boot_time() + stat_fields()(22) / tck
   reg:collector{ name = "process_start_time_seconds", type = "gauge",
      help = "Start time of the process since unix epoch in seconds.",
      collect = one(function() return start end) }
end

--- builtin.ledger(reg): the loss ledger of every live event source.
function builtin.ledger(reg)
   for _, e in ipairs(LEDGER) do
      local field = e[1]
      reg:collector{ name = "sockhost_events_" .. field .. "_total", type = "counter",
         help = e[2], labels = { "kind", "name" },
         collect = function(emit)
            for _, s in ipairs(sockhost.stats()) do emit(s[field], s.kind, s.name) end
         end }
   end
end

-- whether the kernel counts BPF run statistics for everyone (sysctl kernel.bpf_stats_enabled)
local function stats_on()
   return (read("/proc/sys/kernel/bpf_stats_enabled") or ""):match("^1") ~= nil
end

--- builtin.programs(reg, programs [, enable_stats = true]) -> true, or nil and why: run
-- count and run time. Turning the statistics on (BPF_ENABLE_STATS) needs CAP_SYS_ADMIN;
-- without it the families are added only when sysctl kernel.bpf_stats_enabled is 1 (the
-- kernel counts anyway), else they are left out, since they would stay 0, and the reason
-- is returned (and kept as reg.stats_error).
function builtin.programs(reg, programs, enable_stats)
   if enable_stats ~= false then
      local ok, h = pcall(sockhost.enable_stats)
      if ok then
         reg.stats_handle = h
      elseif not stats_on() then
         reg.stats_error = tostring(h):gsub("^[^\n:]*:%d+: ", "", 1)
            .. "; sysctl kernel.bpf_stats_enabled=1 turns them on for every program"
         return nil, reg.stats_error
      end
   end
   local function each(emit, field, scale)
      for _, p in ipairs(programs) do
         local info = p:info()
         local v = info[field] or 0
         emit(scale and v / scale or v, info.name, info.id)
      end
   end
   reg:collector{ name = "sockhost_program_run_count_total", type = "counter",
      help = "Times the BPF program ran (kernel BPF stats, while enabled).",
      labels = { "program", "id" },
      collect = function(emit) each(emit, "run_cnt") end }
   reg:collector{ name = "sockhost_program_run_time_seconds_total", type = "counter",
      help = "Time the BPF program ran in seconds (kernel BPF stats, while enabled).",
      labels = { "program", "id" },
      collect = function(emit) each(emit, "run_time_ns", 1e9) end }
   return true
end

--- builtin.build_info(reg)
function builtin.build_info(reg)
   reg:collector{ name = "sockhost_build_info", type = "gauge",
      help = "sockhost's version; the value is always 1.", labels = { "version" },
      collect = function(emit) emit(1, sockhost.version) end }
end

--- builtin.register(reg [, {programs = {prog, ...}, enable_stats = bool}]): all of the above
-- (the program families only when opts.programs is given and the statistics can be had:
-- see builtin.programs; reg.stats_error says why not). Returns reg.
function builtin.register(reg, opts)
   opts = opts or {}
   builtin.build_info(reg)
   builtin.ledger(reg)
   if opts.programs then builtin.programs(reg, opts.programs, opts.enable_stats) end
   builtin.process(reg)
   return reg
end

return builtin
