-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.metrics.http: a registry served over HTTP from sockhost's own loop
-- (sockhost.serve_http: libmicrohttpd driven by the loop, no thread touches the Lua state).
--
--   local mhttp = require "sockhost.metrics.http"
--   local srv <close> = mhttp.serve("127.0.0.1:9100", { registry = reg, builtin = true })
--   sockhost.run()
--
-- GET /metrics renders the registry per scrape: Prometheus text format 0.0.4, or OpenMetrics
-- 1.0 when the Accept header asks for it (metrics.content_type). Any other path is a 404;
-- other methods get 405 from the server itself. A scrape never raises: render() counts a
-- failing bound family in sockhost_metrics_errors_total instead. opts.builtin adds the
-- families of sockhost.metrics.builtin (the loss ledger, BPF run statistics of
-- opts.programs, build info, process metrics). The other opts go to sockhost.serve_http
-- (max_connections, timeout, max_request_bytes).
local sockhost = require "sockhost"
local metrics = require "sockhost.metrics"

local M = {}

--- serve(addr, opts) -> the server handle (srv.port, srv.requests, srv.errors, srv:close()).
function M.serve(addr, opts)
   opts = opts or {}
   local reg = opts.registry or metrics.default
   local server_opts = {}
   for _, k in ipairs({ "max_connections", "timeout", "max_request_bytes" }) do
      server_opts[k] = opts[k]
   end
   -- listening first: a bad address takes nothing (the built-ins hold the BPF statistics on)
   local srv = sockhost.serve_http(addr, function(req)
      if req.path ~= "/metrics" then return 404, "text/plain; charset=utf-8", "not found\n" end
      local format, ctype = metrics.content_type(req.accept)
      return 200, ctype, reg:render(format)
   end, server_opts)
   if opts.builtin then
      local ok, err = pcall(require("sockhost.metrics.builtin").register, reg,
         { programs = opts.programs })
      if not ok then
         srv:close()
         error(err, 0)
      end
   end
   return srv
end

return M
