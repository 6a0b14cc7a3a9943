-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testing.traffic: traffic a test makes itself, so it knows exactly what to expect:
-- TCP over loopback in this process with known byte counts both ways (connections come from
-- sockhost.demo.tcp_pair, the one loopback generator the scripts' demos use too), UDP
-- datagrams, ping and UDP from inside a network namespace, openat() calls for tracepoint
-- tests. Pure Lua 5.4 + LuaSocket; ping(8) and ip(8) for the namespace side.
local socket = require "socket"
local demo = require "sockhost.demo"
local proc = require "sockhost.testing.proc"

local traffic = {}

local quote = proc.quote

local function ns_name(ns)
   return type(ns) == "table" and ns.name or ns
end

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
   return got
end

--- One TCP connection over loopback in this process: listen on host:port (port 0 or nil:
-- any), connect, accept, client sends `send` bytes, server reads them all, server replies
-- `reply` bytes, client reads them all, both ends close. opts: port, send (0), reply (0),
-- host ("127.0.0.1" or "::1"), timeout (10 s). Returns {client_port=, server_port=, sent=,
-- received=} (sent: bytes the server read, received: bytes the client read).
function traffic.tcp_exchange(opts)
   local cli, conn = demo.tcp_pair(opts.host, opts.port)
   if not cli then error("tcp_exchange: " .. conn, 2) end
   local _, client_port = cli:getsockname()
   local _, server_port = conn:getsockname()
   cli:settimeout(0)
   conn:settimeout(0)
   local deadline = socket.gettime() + (opts.timeout or 10)
   local pok, sent, received = pcall(function()
      return pump(cli, conn, opts.send or 0, deadline), pump(conn, cli, opts.reply or 0, deadline)
   end)
   cli:close()
   conn:close()
   if not pok then
      error(sent, 0)
   end
   return { client_port = math.tointeger(tonumber(client_port)),
      server_port = math.tointeger(tonumber(server_port)), sent = sent, received = received }
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

--- n openat() calls of this process (io.open("/dev/null") and close), for tracepoint tests.
function traffic.open_files(n)
   for _ = 1, n do
      assert(io.open("/dev/null")):close()
   end
end

--- ping(ns, dst, n [, opts]) -> received, transmitted: n ICMP echo requests from inside
-- namespace ns (a name or a scratch guard; nil: this namespace) to dst, opts.size payload
-- bytes each (default 56), opts.interval seconds apart (default 0.02), waiting up to
-- opts.wait seconds (default 2) for each reply. Raises when ping prints no summary.
function traffic.ping(ns, dst, n, opts)
   opts = opts or {}
   local cmd = ("ping -q -n -c %d -s %d -i %s -W %s %s 2>&1"):format(n, opts.size or 56,
      opts.interval or 0.02, opts.wait or 2, quote(dst))
   if ns then cmd = "ip netns exec " .. quote(ns_name(ns)) .. " " .. cmd end
   local _, out = proc.sh(cmd)
   local tx, rx = out:match("(%d+) packets transmitted, (%d+) received")
   if not tx then error(("ping printed no summary: %s\n%s"):format(cmd, out), 2) end
   return math.tointeger(tonumber(rx)), math.tointeger(tonumber(tx))
end

--- A UDP socket bound to address ip (port 0: any); returns it and its port.
function traffic.udp_sink(ip)
   local u = assert(ip:find(":", 1, true) and socket.udp6() or socket.udp4())
   assert(u:setsockname(ip, 0))
   local _, port = u:getsockname()
   return u, math.tointeger(tonumber(port))
end

--- Receive from u until n datagrams came or nothing came for `idle` seconds (default 1);
-- returns the count and the total bytes.
function traffic.drain(u, n, idle)
   local got, bytes = 0, 0
   u:settimeout(idle or 1)
   while got < n do
      local d = u:receive()
      if not d then break end
      got, bytes = got + 1, bytes + #d
   end
   return got, bytes
end

--- udp_from_ns(ns, src_ip, dst_ip, port, n, size) -> source port: n UDP datagrams of size
-- bytes from one socket bound to src_ip inside namespace ns to dst_ip:port (lua5.4 with
-- LuaSocket, run by ip netns exec).
function traffic.udp_from_ns(ns, src_ip, dst_ip, port, n, size)
   local code = ([[
local socket = require "socket"
local u = assert(socket.udp4())
assert(u:setsockname(%q, 0))
for _ = 1, %d do assert(u:sendto(string.rep("u", %d), %q, %d)) end
local _, p = u:getsockname()
io.write(p)
]]):format(src_ip, n, size, dst_ip, port)
   local out = proc.must(("ip netns exec %s lua5.4 -e %s"):format(quote(ns_name(ns)), quote(code)))
   return assert(math.tointeger(tonumber(out)), "UDP sender printed no port: " .. out)
end

return traffic
