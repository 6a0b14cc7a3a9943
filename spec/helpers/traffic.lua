-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/traffic.lua: traffic a spec makes itself, so it knows exactly what to expect:
-- TCP over loopback in this process (connections come from sockhost.demo.tcp_pair, the one
-- loopback generator the scripts' demos use too), UDP datagrams, and openat() calls for
-- tracepoint specs. Pure Lua 5.4 + LuaSocket.

local socket = require "socket"
local demo = require "sockhost.demo"

local traffic = {}

--- A connected TCP pair over loopback in this process (LuaSocket objects, blocking): the
-- client and the server's accepted socket, both established (what a sockmap takes). host:
-- "127.0.0.1" (default) or "::1"; port: the listener's (default any). The caller closes both.
function traffic.tcp_pair(host, port)
   local cli, conn = demo.tcp_pair(host, port)
   if not cli then error("tcp_pair: " .. conn, 2) end
   return cli, conn
end

-- Move exactly n bytes from socket a to socket b, both non-blocking, in one process (large
-- counts would dead-lock a blocking send that waits for a reader in the same thread).
local function pump(a, b, n, deadline)
   local chunk = string.rep("x", 65536)
   local sent, got = 0, 0
   while got < n do
      if sent < n then
         local len = math.min(#chunk, n - sent)
         local last, err, partial = a:send(chunk, 1, len)
         last = last or partial or 0
         if err and err ~= "timeout" then
            error("tcp_exchange: send failed: " .. err, 3)
         end
         sent = sent + last
      end
      local data, err, partial = b:receive(math.min(65536, n - got))
      data = data or partial or ""
      if err and err ~= "timeout" then
         error(string.format("tcp_exchange: receive failed after %d of %d bytes: %s",
            got + #data, n, err), 3)
      end
      got = got + #data
      if #data == 0 then
         if socket.gettime() > deadline then
            error(string.format("tcp_exchange: %d of %d bytes arrived in time", got, n), 3)
         end
         socket.select({ b }, sent < n and { a } or nil, 0.05)
      end
   end
end

--- One TCP connection over loopback in this process: listen on host:port (port 0 or nil:
-- any), connect, accept, client sends `send` bytes, server reads them all, server replies
-- `reply` bytes, client reads them all, both ends close. opts: port, send (0), reply (0),
-- host ("127.0.0.1" or "::1"), timeout (10 s). Returns {client_port=, server_port=}.
function traffic.tcp_exchange(opts)
   local cli, conn = demo.tcp_pair(opts.host, opts.port)
   if not cli then error("tcp_exchange: " .. conn, 2) end
   local _, client_port = cli:getsockname()
   local _, server_port = conn:getsockname()
   cli:settimeout(0)
   conn:settimeout(0)
   local deadline = socket.gettime() + (opts.timeout or 10)
   local pok, perr = pcall(function()
      pump(cli, conn, opts.send or 0, deadline)
      pump(conn, cli, opts.reply or 0, deadline)
   end)
   cli:close()
   conn:close()
   if not pok then
      error(perr, 0)
   end
   return { client_port = math.tointeger(tonumber(client_port)),
      server_port = math.tointeger(tonumber(server_port)) }
end

--- Send n UDP datagrams of size bytes each to host:port from one unconnected socket.
-- Returns the number of datagrams the kernel accepted.
function traffic.udp_send(host, port, n, size)
   local u = assert(host:find(":", 1, true) and socket.udp6() or socket.udp4())
   local payload = string.rep("u", size or 0)
   local sent = 0
   for _ = 1, n or 1 do
      if u:sendto(payload, host, port) then
         sent = sent + 1
      end
   end
   u:close()
   return sent
end

--- n openat() calls of this process (io.open("/dev/null") and close), for tracepoint specs.
function traffic.open_files(n)
   for _ = 1, n do
      assert(io.open("/dev/null")):close()
   end
end

return traffic
