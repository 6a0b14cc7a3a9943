-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/kernel.lua: what specs need from the kernel around sockhost — their own
-- cgroups, network namespaces, sockets and traffic, processes, and bpftool's view of what is
-- attached. Pure Lua 5.4 + LuaSocket (+ lua-cjson for bpftool's JSON); shell commands through
-- io.popen/os.execute. Everything a helper creates carries "sockhost-spec" and this process's
-- pid in its name, so leftovers are easy to find; the spec removes what it made in
-- finally/teardown. Nothing here touches the root cgroup except moving this process back to
-- where it came from.

local socket = require "socket"
local cjson = require "cjson.safe"

local kernel = {}

local counter = 0

local function next_id()
   counter = counter + 1
   return counter
end

--- Quote s for /bin/sh.
function kernel.quote(s)
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = kernel.quote

--- Run a shell command. Returns ok (exit status 0), its stdout, and the exit code (or the
-- signal number when it was killed). stderr is not captured: append 2>&1 to get it.
function kernel.sh(cmd)
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local ok, _, code = p:close()
   return ok == true, out, code
end
local sh = kernel.sh

--- Like sh, but raises with the command and its output when it fails; returns stdout.
function kernel.must(cmd)
   local ok, out, code = sh(cmd .. " 2>&1")
   if not ok then
      error(string.format("command failed (%s): %s\n%s", tostring(code), cmd, out), 2)
   end
   return out
end
local must = kernel.must

--- The whole content of a file, or nil when it cannot be opened.
function kernel.read_file(path)
   local f = io.open(path, "r")
   if not f then
      return nil
   end
   local s = f:read("a")
   f:close()
   return s
end
local read_file = kernel.read_file

--- Call fn every 20 ms until it returns a true value (which is returned), at most secs
-- seconds (default 10); nil when time ran out.
function kernel.wait_for(fn, secs)
   local deadline = socket.gettime() + (secs or 10)
   while socket.gettime() < deadline do
      local v = fn()
      if v then return v end
      socket.sleep(0.02)
   end
   return nil
end

--- Run sockhost's loop (sockhost.poll(20), the caller's sockhost module) until fn() returns a
-- true value (which is returned), at most secs seconds (default 2); nil when time ran out.
-- Errors the loop raises (a callback's) go to the caller.
function kernel.poll_until(sockhost, fn, secs)
   local deadline = socket.gettime() + (secs or 2)
   repeat
      sockhost.poll(20)
      local v = fn()
      if v then return v end
   until socket.gettime() > deadline
   return nil
end

--- n openat() calls of this process (io.open("/dev/null") and close), for tracepoint specs.
function kernel.open_files(n)
   for _ = 1, n do
      assert(io.open("/dev/null")):close()
   end
end

--- Number of possible CPUs (/sys/devices/system/cpu/possible): the per-CPU map width and the
-- bound of bpf_get_smp_processor_id().
function kernel.possible_cpus()
   local s = assert(read_file("/sys/devices/system/cpu/possible"))
   local n = 0
   for range in s:gmatch("[^,\n]+") do
      local a, b = range:match("^(%d+)%-(%d+)$")
      n = n + (a and (tonumber(b) - tonumber(a) + 1) or 1)
   end
   return n
end

--- The records of an NDJSON text (one JSON value a line, blank lines skipped), decoded, in
-- order; nil text gives none. Raises on a line that is not JSON, naming it.
function kernel.records(text)
   local out = {}
   for line in (text or ""):gmatch("[^\n]+") do
      local v, err = cjson.decode(line)
      if v == nil then error(("not a JSON line: %s (%s)"):format(line, tostring(err)), 2) end
      out[#out + 1] = v
   end
   return out
end

local function write_file(path, data)
   local f, err = io.open(path, "w")
   if not f then
      return nil, err
   end
   local ok, werr = f:write(data)
   -- cgroup files report errors (EBUSY, EINVAL) when the buffer is flushed
   local cok, cerr = f:close()
   if not ok then
      return nil, werr
   end
   if not cok then
      return nil, cerr
   end
   return true
end

--- A new empty directory with an os.tmpname() path; returns the path. The caller removes it
-- (kernel.sh("rm -rf " .. kernel.quote(dir))).
function kernel.tmpdir()
   local dir = os.tmpname()
   os.remove(dir)
   must("mkdir -p " .. quote(dir))
   return dir
end

--- This process's pid (the first field of /proc/self/stat, read by the Lua process itself).
function kernel.pid()
   return math.tointeger(read_file("/proc/self/stat"):match("^(%d+)"))
end

--- Unescape a /proc/mounts field (\040 for space and the like).
local function unoctal(s)
   return (s:gsub("\\(%d%d%d)", function(o)
      return string.char(tonumber(o, 8))
   end))
end

--- Mount point of the cgroup2 hierarchy, from /proc/mounts (nil when none is mounted).
function kernel.cgroup2_root()
   for line in io.lines("/proc/mounts") do
      local dir, fstype = line:match("^%S+ (%S+) (%S+)")
      if fstype == "cgroup2" then
         return unoctal(dir)
      end
   end
   return nil
end

local function cgroup_root()
   return assert(kernel.cgroup2_root(), "no cgroup2 mount in /proc/mounts")
end

--- Make an empty child cgroup <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>; returns its path.
function kernel.new_cgroup(tag)
   local path = string.format("%s/sockhost-spec-%s-%d-%d", cgroup_root(), tag or "x",
      kernel.pid(), next_id())
   must("mkdir " .. quote(path))
   return path
end

--- Remove a cgroup made by new_cgroup (rmdir only: kills nothing, moves nothing; move your
-- processes out first, e.g. by leaving in_cgroup). Returns true, or nil and the error text.
function kernel.remove_cgroup(path)
   if not path:find("/sockhost%-spec%-[^/]+$") then
      error("refusing to remove a cgroup not made by new_cgroup: " .. path, 2)
   end
   local ok, out = sh("rmdir " .. quote(path) .. " 2>&1")
   if not ok then
      return nil, out
   end
   return true
end

--- Path of the cgroup2 directory this process is in now ("0::/x" in /proc/self/cgroup).
function kernel.current_cgroup()
   local rel = read_file("/proc/self/cgroup"):match("0::([^\n]*)")
   assert(rel, "this process has no cgroup2 membership line in /proc/self/cgroup")
   local root = cgroup_root()
   if rel == "/" then
      return root
   end
   return root .. rel
end

--- Run fn() with this process inside the cgroup at path, then move it back to the cgroup it
-- was in, also when fn raises (the error is re-raised). Returns fn's results.
function kernel.in_cgroup(path, fn)
   local home = kernel.current_cgroup()
   local pid = tostring(kernel.pid())
   assert(write_file(path .. "/cgroup.procs", pid))
   local res = table.pack(pcall(fn))
   local ok, err = write_file(home .. "/cgroup.procs", pid)
   if not res[1] then
      error(res[2], 0)
   end
   assert(ok, string.format("cannot move back to %s: %s", home, tostring(err)))
   return table.unpack(res, 2, res.n)
end

-- socket.tcp()/udp() have no fd until bind/connect (family unknown), so options fail on them
local function tcp_for(host)
   if host:find(":", 1, true) then
      return assert(socket.tcp6())
   end
   return assert(socket.tcp4())
end

local function udp_for(host)
   if host:find(":", 1, true) then
      return assert(socket.udp6())
   end
   return assert(socket.udp4())
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
function kernel.tcp_exchange(opts)
   local host = opts.host or "127.0.0.1"
   local srv = tcp_for(host)
   assert(srv:setoption("reuseaddr", true))
   assert(srv:bind(host, opts.port or 0))
   assert(srv:listen(8))
   local _, server_port = srv:getsockname()
   server_port = math.tointeger(tonumber(server_port))
   local cli = tcp_for(host)
   cli:settimeout(5)
   local ok, err = cli:connect(host, server_port)
   if not ok then
      srv:close()
      cli:close()
      error("tcp_exchange: connect failed: " .. tostring(err), 2)
   end
   srv:settimeout(5)
   local conn, aerr = srv:accept()
   srv:close()
   if not conn then
      cli:close()
      error("tcp_exchange: accept failed: " .. tostring(aerr), 2)
   end
   local _, client_port = cli:getsockname()
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
   return { client_port = math.tointeger(tonumber(client_port)), server_port = server_port }
end

--- A connected TCP pair over loopback in this process (LuaSocket objects, blocking): the
-- client and the server's accepted socket, both established (what a sockmap takes). host:
-- "127.0.0.1" (default) or "::1". The caller closes both.
function kernel.tcp_pair(host)
   host = host or "127.0.0.1"
   local srv = tcp_for(host)
   assert(srv:bind(host, 0))
   assert(srv:listen(4))
   local _, port = srv:getsockname()
   local cli = tcp_for(host)
   cli:settimeout(5)
   local ok, err = cli:connect(host, math.tointeger(tonumber(port)))
   if not ok then
      srv:close()
      cli:close()
      error("tcp_pair: connect failed: " .. tostring(err), 2)
   end
   srv:settimeout(5)
   local conn, aerr = srv:accept()
   srv:close()
   if not conn then
      cli:close()
      error("tcp_pair: accept failed: " .. tostring(aerr), 2)
   end
   cli:settimeout(nil)
   return cli, conn
end

--- Send n UDP datagrams of size bytes each to host:port from one unconnected socket.
-- Returns the number of datagrams the kernel accepted.
function kernel.udp_send(host, port, n, size)
   local u = udp_for(host)
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

--- Create a network namespace sockhost-spec-<tag>-<pid>-<n> with its loopback up; returns
-- its name.
function kernel.netns_create(tag)
   local name = string.format("sockhost-spec-%s-%d-%d", tag or "x", kernel.pid(), next_id())
   must("ip netns add " .. quote(name))
   must("ip -n " .. quote(name) .. " link set lo up")
   return name
end

--- Delete a namespace made by netns_create (its interfaces go with it).
function kernel.netns_delete(name)
   if not name:find("^sockhost%-spec%-") then
      error("refusing to delete a namespace not made by netns_create: " .. name, 2)
   end
   return sh("ip netns delete " .. quote(name) .. " 2>&1")
end

--- Run a shell command inside namespace name; returns ok, stdout, code as sh does.
function kernel.netns_exec(name, cmd)
   return sh("ip netns exec " .. quote(name) .. " sh -c " .. quote(cmd))
end

--- A veth pair with one end in this namespace and its peer in namespace ns, both up and
-- addressed (opts.host_addr / opts.ns_addr in CIDR form; default a 10.199.x.y/30 from pid,
-- used only between these two ends). Returns {host_if=, ns_if=, host_ip=, ns_ip=, ns=};
-- remove it with veth_delete.
function kernel.veth_pair(ns, opts)
   opts = opts or {}
   local n = next_id()
   local tag = string.format("%d%d", kernel.pid() % 100000, n % 100)
   local host_if, ns_if = "shh" .. tag, "shp" .. tag -- at most 10 of IFNAMSIZ's 15
   -- a /30 derived from pid and counter, so concurrent spec processes never share a subnet
   local slot = (kernel.pid() * 7 + n) % 16384
   local base = string.format("10.199.%d.%d", slot // 64, (slot % 64) * 4)
   local host_addr = opts.host_addr or base:gsub("%d+$", function(x) return tostring(x + 1) end) .. "/30"
   local ns_addr = opts.ns_addr or base:gsub("%d+$", function(x) return tostring(x + 2) end) .. "/30"
   must(string.format("ip link add %s type veth peer name %s", host_if, ns_if))
   local ok, err = pcall(function()
      must(string.format("ip link set %s netns %s", ns_if, quote(ns)))
      must(string.format("ip addr add %s dev %s", host_addr, host_if))
      must(string.format("ip link set %s up", host_if))
      must(string.format("ip -n %s addr add %s dev %s", quote(ns), ns_addr, ns_if))
      must(string.format("ip -n %s link set %s up", quote(ns), ns_if))
   end)
   if not ok then
      sh("ip link delete " .. host_if .. " 2>/dev/null")
      error(err, 0)
   end
   return {
      host_if = host_if,
      ns_if = ns_if,
      host_ip = host_addr:match("^[^/]+"),
      ns_ip = ns_addr:match("^[^/]+"),
      ns = ns,
   }
end

--- Delete a pair made by veth_pair (deleting one end removes both).
function kernel.veth_delete(pair)
   return sh("ip link delete " .. quote(pair.host_if) .. " 2>&1")
end

--- Start cmd in the background in a process group of its own (setsid sh -c 'cmd' &, output
-- to /dev/null unless cmd redirects it); returns its pid, which is also the group id, so kill
-- and wait_gone reach the children cmd starts too.
function kernel.spawn(cmd)
   local ok, out = sh("setsid sh -c " .. quote(cmd) .. " </dev/null >/dev/null 2>&1 & echo $!")
   local pid = ok and math.tointeger(tonumber(out:match("%d+")))
   assert(pid, "spawn failed: " .. cmd)
   return pid
end

--- Send signal sig ("TERM", "SIGKILL", "INT", a number; default TERM) to the process group
-- of a spawned pid. Returns true when at least one process got it.
function kernel.kill(pid, sig)
   local name = tostring(sig or "TERM"):gsub("^SIG", "")
   return (sh(string.format("kill -%s -%d 2>/dev/null", name, math.tointeger(pid))))
end

local function state(pid)
   local stat = io.open(string.format("/proc/%d/stat", pid), "r")
   if not stat then
      return nil
   end
   local s = stat:read("a")
   stat:close()
   return s:match("^%d+ %b() (%a) %d+ (%d+)")
end

--- Is pid, or any process of its group, still running (zombies count as gone)?
function kernel.alive(pid)
   pid = math.tointeger(pid)
   local st = state(pid)
   if st and st ~= "Z" then
      return true
   end
   local ok, out = sh("pgrep -g " .. pid)
   if not ok then
      return false
   end
   for p in out:gmatch("%d+") do
      local s, pgrp = state(math.tointeger(tonumber(p)))
      if s and s ~= "Z" and tonumber(pgrp) == pid then
         return true
      end
   end
   return false
end

--- Wait until pid and its group are gone, at most timeout seconds (default 5). Returns true
-- when they went.
function kernel.wait_gone(pid, timeout)
   local deadline = socket.gettime() + (timeout or 5)
   while kernel.alive(pid) do
      if socket.gettime() > deadline then
         return false
      end
      socket.sleep(0.02)
   end
   return true
end

local function bpftool_json(args)
   local ok, out = sh("bpftool -j " .. args .. " 2>/dev/null")
   if not ok then
      return nil, "bpftool " .. args .. " failed"
   end
   if out:match("^%s*$") then
      return {} -- bpftool prints nothing when nothing is attached
   end
   local v, err = cjson.decode(out)
   if v == nil then
      return nil, "bpftool " .. args .. ": bad JSON: " .. tostring(err)
   end
   return v
end

--- Sorted ids of the programs attached directly to the cgroup at path (bpftool -j cgroup
-- show), and bpftool's entries ({id=, attach_type=, name=, ...}) as second result.
function kernel.prog_ids_attached_to_cgroup(path)
   local entries = assert(bpftool_json("cgroup show " .. quote(path)))
   local ids = {}
   for _, e in ipairs(entries) do
      ids[#ids + 1] = math.tointeger(e.id)
   end
   table.sort(ids)
   return ids, entries
end

--- Does a BPF program with this id exist (bpftool prog show id)?
function kernel.prog_exists(id)
   return (sh("bpftool prog show id " .. id .. " >/dev/null 2>&1"))
end

--- Number of BPF links (bpftool -j link show) whose program is named name (kernel program
-- names are cut at 15 characters; name is cut the same way).
function kernel.link_count_for_prog_name(name)
   local short = name:sub(1, 15)
   local progs = assert(bpftool_json("prog show"))
   local ids = {}
   for _, p in ipairs(progs) do
      if p.name == short then
         ids[p.id] = true
      end
   end
   local links = assert(bpftool_json("link show"))
   local n = 0
   for _, l in ipairs(links) do
      if ids[l.prog_id] then
         n = n + 1
      end
   end
   return n
end

return kernel
