-- SPDX-License-Identifier: GPL-2.0
--- sockhost.demo: what a script's --demo needs to show real traffic on a fresh machine
-- without touching anyone else's: a temporary child cgroup under the cgroup2 root that the
-- process can step into while it opens its own sockets (a socket belongs to the cgroup its
-- creator was in), and that is removed again however the script ends (sockhost.cgroup does
-- the work); and loopback TCP connections inside this one process (demo.tcp_pair), the one
-- traffic generator the scripts' demos and the specs' helpers share.
local cgroup = require "sockhost.cgroup"

local demo = {}

--- The cgroup v2 directory this process is in now (sockhost.cgroup.current).
demo.current_cgroup = cgroup.current

--- demo.cgroup(tag) -> guard: makes <cgroup2 root>/sockhost-<tag>-<pid>. guard.path is its
-- path; guard.enter() moves this process in, guard.leave() back to where it was,
-- guard.within(fn, ...) runs fn inside. Use it as a to-be-closed variable: closing leaves and
-- removes the directory whatever happened (so does collecting it, should a signal land before
-- the caller took it); what fails then is said on stderr. A sockhost-<tag>-<pid> cgroup that
-- a killed run left behind (dead pid, no tasks) is removed first, and said so.
function demo.cgroup(tag)
   local prefix = ("sockhost-%s-"):format(tag)
   -- what a killed run (SIGKILL) of this demo left: its pid is gone and its cgroup empty
   for _, stale in ipairs(cgroup.sweep(prefix)) do
      io.stderr:write(("sockhost demo: removed %s/%s, left by a run that was killed\n")
         :format(cgroup.root(), stale))
   end
   local name = prefix .. cgroup.pid()
   local ok, guard = pcall(cgroup.scratch, name, function(msg)
      io.stderr:write(("sockhost demo: %s\n"):format(msg))
   end)
   if not ok then
      error(("cannot create demo cgroup %s/%s"):format(cgroup.root() or "?", name), 0)
   end
   return guard
end

-- socket.tcp()/udp() have no fd until bind/connect (family unknown), so options fail on them
local function tcp_for(socket, host)
   if host:find(":", 1, true) then return socket.tcp6() end
   return socket.tcp4()
end

--- demo.tcp_pair(host [, port]) -> client, server: one TCP connection over loopback in this
-- process (LuaSocket objects, both established and blocking): listen on
-- host:port (port 0 or nil: any; SO_REUSEADDR), connect, accept, close the listener. host:
-- "127.0.0.1" (default) or "::1". The caller closes both. On failure: nil and what failed
-- ("bind 127.0.0.1: address already in use", "connect ...", "accept ..."), e.g. no ::1 where
-- IPv6 is off.
function demo.tcp_pair(host, port)
   local socket = require "socket"
   host = host or "127.0.0.1"
   local srv, err = tcp_for(socket, host)
   if not srv then return nil, "socket: " .. tostring(err) end
   srv:setoption("reuseaddr", true)
   local ok
   ok, err = srv:bind(host, port or 0)
   if ok then ok, err = srv:listen(32) end
   if not ok then
      srv:close()
      return nil, ("bind %s: %s"):format(host, tostring(err))
   end
   local _, sport = srv:getsockname()
   local cli
   cli, err = tcp_for(socket, host)
   if not cli then
      srv:close()
      return nil, "socket: " .. tostring(err)
   end
   cli:settimeout(5)
   ok, err = cli:connect(host, math.tointeger(tonumber(sport)))
   if not ok then
      srv:close()
      cli:close()
      return nil, ("connect %s port %s: %s"):format(host, sport, tostring(err))
   end
   srv:settimeout(5) -- connect and accept give up after 5 s
   local conn
   conn, err = srv:accept()
   srv:close()
   if not conn then
      cli:close()
      return nil, "accept: " .. tostring(err)
   end
   cli:settimeout(nil)
   return cli, conn
end

return demo
