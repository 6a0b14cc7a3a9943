-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/prometheus.lua: a real Prometheus (Debian's prometheus, installed by
-- scripts/install-deps.sh) on loopback, scraping the spec's own targets every second, and its
-- HTTP query API; and the port a tool started with `--metrics :0` says it serves on.
--
--   local prometheus = require "helpers.prometheus"
--   local port = prometheus.tool_port(errfile)            -- from "<tool>: metrics on http://..."
--   local p = prometheus.start(dir, { "127.0.0.1:" .. port })
--   finally(function() p:stop() end)
--   p:wait_up()                                           -- every target scraped, up == 1
--   assert.equal("25", p:wait('sockhost_sockex1_packets_total{protocol="udp"}', "25"))
--   p:values('sum by (protocol) (sockhost_sockex1_bytes_total)', "protocol")
--       -> { udp = "2600", ... }
local socket = require "socket"
local cjson = require "cjson.safe"
local proc = require "helpers.proc"

local q = proc.quote
local M = {}

--- tool_port(errfile [, secs = 15]) -> the port in the line "<tool>: metrics on
-- http://ADDR:PORT/metrics" a tool writes to errfile, or raises with what errfile holds.
function M.tool_port(errfile, secs)
   local port
   proc.wait_for(function()
      port = tonumber((proc.read_file(errfile) or ""):match("metrics on http://[^/]*:(%d+)/metrics"))
      return port
   end, secs or 15)
   assert(port, "the tool never said where its metrics are: "
      .. tostring(proc.read_file(errfile)))
   return math.tointeger(port)
end

--- scrape(port) -> the text a tool serves on 127.0.0.1:port/metrics (curl; raises on failure)
function M.scrape(port)
   return proc.must(("curl -sf http://127.0.0.1:%d/metrics"):format(port))
end

-- a loopback port nothing listens on now
local function free_port()
   local s = assert(socket.bind("127.0.0.1", 0))
   local _, port = s:getsockname()
   s:close()
   return math.tointeger(tonumber(port))
end

local P = {}
P.__index = P

--- start(dir, targets [, opts]) -> p: prometheus with its config and TSDB under dir, a 1 s
-- scrape (and evaluation) of targets ("host:port", ...) as job "sockhost", its web API on a
-- free loopback port (p.url). opts.scrape_interval overrides "1s"; opts.config is a whole
-- configuration to use instead (its targets still listed in targets, for wait_up).
function M.start(dir, targets, opts)
   opts = opts or {}
   local web = free_port()
   local cfg = dir .. "/prometheus.yml"
   local list = {}
   for i, t in ipairs(targets) do list[i] = ('"%s"'):format(t) end
   local f = assert(io.open(cfg, "w"))
   f:write(opts.config or ([[
global:
  scrape_interval: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: sockhost
    static_configs:
      - targets: [%s]
]]):format(opts.scrape_interval or "1s", opts.scrape_interval or "1s",
      table.concat(list, ", ")))
   f:close()
   local log = dir .. "/prometheus.log"
   local pid = proc.spawn(("exec prometheus --config.file=%s --storage.tsdb.path=%s "
      .. "--web.listen-address=127.0.0.1:%d >%s 2>&1"):format(q(cfg), q(dir .. "/tsdb"), web,
      q(log)))
   return setmetatable({ pid = pid, port = web, url = ("http://127.0.0.1:%d"):format(web),
      log = log, ntargets = #targets }, P)
end

--- p:query(expr) -> the API's result vector ({ {metric = {...}, value = "v"}, ... }) or nil
function P:query(expr)
   local ok, out = proc.sh(("curl -sf --max-time 5 --get --data-urlencode %s %s/api/v1/query")
      :format(q("query=" .. expr), self.url))
   if not ok then return nil end
   local doc = cjson.decode(out)
   if not doc or doc.status ~= "success" or doc.data.resultType ~= "vector" then return nil end
   local rows = {}
   for i, r in ipairs(doc.data.result) do rows[i] = { metric = r.metric, value = r.value[2] } end
   return rows
end

--- p:value(expr) -> the value (a string, as Prometheus prints it) of a one-series result, or nil
function P:value(expr)
   local rows = self:query(expr)
   return rows and #rows == 1 and rows[1].value or nil
end

--- p:values(expr, label) -> { [label value] = value string } of every series of the result
function P:values(expr, label)
   local out = {}
   for _, r in ipairs(self:query(expr) or {}) do out[r.metric[label] or ""] = r.value end
   return out
end

--- p:wait(expr, want [, secs = 30]) -> the value of expr once it equals want (a string), or
-- the last value seen (nil when none) after secs: the caller's assert.equal shows both.
function P:wait(expr, want, secs)
   local last
   proc.wait_for(function()
      last = self:value(expr)
      return last == want
   end, secs or 30)
   return last
end

--- p:wait_up([secs = 60]): until every target has been scraped and is up (up == 1 for as
-- many series as there are targets); raises with the
-- log's tail otherwise.
function P:wait_up(secs)
   local ok = proc.wait_for(function()
      local rows = self:query('up == 1')
      return rows and #rows == self.ntargets
   end, secs or 60)
   assert(ok, "Prometheus never scraped every target up: "
      .. tostring(proc.read_file(self.log)):sub(-2000))
end

--- p:after_scrape([secs = 10]): until Prometheus has scraped again after this call (the
-- newest sample of up is newer than now), so a query sees what the target serves now.
function P:after_scrape(secs)
   local t0 = socket.gettime()
   local ok = proc.wait_for(function()
      local rows = self:query('timestamp(up)')
      if not rows or #rows < self.ntargets then return false end
      for _, r in ipairs(rows) do
         if tonumber(r.value) <= t0 then return false end
      end
      return true
   end, secs or 10)
   assert(ok, "Prometheus did not scrape again: " .. tostring(proc.read_file(self.log)):sub(-2000))
end

--- p:stop(): the Prometheus process group gone (SIGTERM, then SIGKILL).
function P:stop()
   if self.pid then
      proc.kill(self.pid, "TERM")
      if not proc.wait_gone(self.pid, 5) then proc.reap(self.pid) end
      self.pid = nil
   end
end

return M
