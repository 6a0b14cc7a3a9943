-- SPDX-License-Identifier: GPL-2.0
-- sockhost.serve_http: libmicrohttpd driven from sockhost's own loop. The server runs in a
-- sockhost process of its own (spec/fixtures/http/server.lua under sockhost.run, with a 50 ms
-- sockhost.every timer whose ticks it records) and this process is the client: curl, and
-- LuaSocket for clients that misbehave. Address errors are checked in this process.
local sockhost = require "sockhost"
local socket = require "socket"
local cjson = require "cjson"
local proc = require "helpers.proc"

local quote = proc.quote

-- Start the fixture server on addr; returns {pid=, dir=, port=, address=}.
local function start(addr, max_connections, timeout, evgen_pid)
   local dir = proc.tmpdir()
   local cmd = string.format("%s %s %s %s %s %s %s >%s/out 2>&1",
      quote(proc.env("SOCKHOST_BIN")),
      quote(proc.env("SOCKHOST_SOURCE_DIR") .. "/spec/fixtures/http/server.lua"), quote(dir),
      quote(addr), tostring(max_connections or 32), tostring(timeout or 10),
      tostring(evgen_pid or ""), dir)
   local s = { pid = proc.spawn(cmd), dir = dir }
   local line = proc.wait_for(function() return proc.read_file(dir .. "/port") end, 10)
   assert(line, "server did not start: " .. tostring(proc.read_file(dir .. "/out")))
   local port, address = line:match("^(%d+) (%S+)")
   s.port, s.address = math.tointeger(tonumber(port)), address
   s.base = address:find(":") and ("http://[" .. address .. "]:" .. port)
      or ("http://" .. address .. ":" .. port)
   return s
end

-- curl: status (number, 0 when no HTTP answer came), headers (lowercase names), body, and
-- curl's exit code.
local function curl(url, args)
   local _, out, code = proc.sh(string.format("curl -s -m 5 -D - %s %s", args or "", quote(url)))
   local head, body = out:match("^(.-)\r\n\r\n(.*)$")
   local headers, status = {}, 0
   if head then
      status = math.tointeger(tonumber(head:match("^HTTP/%S+ (%d+)")))
      for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[k:lower()] = v end
   end
   return status, headers, body, code
end

-- Ask the server to stop; returns its stats once it has exited.
local function stop(s)
   local status = curl(s.base .. "/stop")
   assert.equal(200, status)
   assert.is_true(proc.wait_gone(s.pid, 10))
   local stats = cjson.decode((assert(proc.read_file(s.dir .. "/stats.json"),
      proc.read_file(s.dir .. "/out"))))
   proc.sh("rm -rf " .. quote(s.dir))
   return stats
end

describe("sockhost.serve_http #kernel", function()
   local s
   after_each(function()
      if s then
         proc.reap(s.pid)
         proc.sh("rm -rf " .. quote(s.dir))
         s = nil
      end
   end)

   it("answers GET with the handler's status, content type and exact body", function()
      s = start(":0")
      assert.equal("127.0.0.1", s.address) -- ":PORT" is loopback
      local status, headers, body = curl(s.base .. "/metrics", "-H 'Accept: text/plain'")
      assert.equal(200, status)
      assert.equal("text/plain; version=0.0.4", headers["content-type"])
      assert.equal("up 1\naccept text/plain\n", body)
      assert.equal(tostring(#body), headers["content-length"])
      status, headers, body = curl(s.base .. "/nothing-here")
      assert.equal(404, status)
      assert.equal("text/plain", headers["content-type"])
      assert.equal("no such path: /nothing-here\n", body)
      -- the query string is not part of the path
      status, headers, body = curl(s.base .. "/metrics?x=1")
      assert.same({ 200, "16" }, { status, headers["content-length"] })
      assert.equal("up 1\naccept */*\n", body)
      local st = stop(s)
      s = nil
      assert.same({ 4, 0, "stopped" }, { st.requests, st.errors, st.reason })
   end)

   it("keeps a connection open for the next request, and drops a GET's body", function()
      s = start(":0")
      local _, out = proc.sh(string.format("curl -s -m 5 -w '%%{http_code} %%{num_connects}\\n' "
         .. "-o /dev/null %s -o /dev/null %s -o /dev/null %s", quote(s.base .. "/metrics"),
         quote(s.base .. "/nothing"), quote(s.base .. "/metrics")))
      assert.equal("200 1\n404 0\n200 0\n", out) -- one connect for three requests
      local status, _, body = curl(s.base .. "/method", "-X GET -d " .. quote(("b"):rep(5000)))
      assert.same({ 200, "GET" }, { status, body })
      local st = stop(s)
      s = nil
      assert.same({ 5, 0 }, { st.requests, st.errors })
   end)

   it("refuses every method but GET and HEAD with 405 and Allow, without the handler", function()
      s = start(":0")
      for _, m in ipairs { "POST", "PUT", "DELETE", "OPTIONS" } do
         local status, headers, body = curl(s.base .. "/metrics", "-X " .. m .. " -d abc")
         assert.equal(405, status, m)
         assert.equal("GET, HEAD", headers.allow, m)
         assert.equal("method not allowed\n", body, m)
      end
      -- HEAD runs the handler (it sees method HEAD) and MHD sends no body
      local status, headers, body = curl(s.base .. "/method", "-I -o /dev/null")
      assert.equal(200, status)
      assert.equal("4", headers["content-length"])
      assert.equal("", body)
      status, headers, body = curl(s.base .. "/method")
      assert.same({ 200, "3", "GET" }, { status, headers["content-length"], body })
      local st = stop(s)
      s = nil
      assert.same({ 7, 0 }, { st.requests, st.errors })
   end)

   it("turns a handler error or a bad return into 500, counts it and keeps serving", function()
      s = start(":0")
      for _ = 1, 3 do
         local status, _, body = curl(s.base .. "/boom")
         assert.same({ 500, "internal server error\n" }, { status, body })
      end
      assert.equal(500, (curl(s.base .. "/badstatus")))
      assert.equal(500, (curl(s.base .. "/nobody")))
      local status, _, body = curl(s.base .. "/metrics")
      assert.same({ 200, "up 1\naccept */*\n" }, { status, body })
      local st = stop(s)
      s = nil
      assert.same({ 7, 5, "stopped" }, { st.requests, st.errors, st.reason })
      assert.matches("sockhost.serve_http: handler returned a nil body, expected a string",
         st.last_error, 1, true)
   end)

   it("rejects headers larger than max_request_bytes with 431, not reaching the handler", function()
      s = start(":0")
      local big = string.rep("a", 40000)
      local status = curl(s.base .. "/metrics", "-H " .. quote("X-Big: " .. big))
      assert.equal(431, status)
      assert.equal(200, (curl(s.base .. "/metrics", "-H " .. quote("X-Small: " .. big:sub(1, 1000)))))
      local st = stop(s)
      s = nil
      assert.same({ 2, 0 }, { st.requests, st.errors })
   end)

   it("serves [::1]:PORT", function()
      s = start("[::1]:0")
      assert.equal("::1", s.address)
      local status, _, body = curl(s.base .. "/metrics")
      assert.same({ 200, "up 1\naccept */*\n" }, { status, body })
      stop(s)
      s = nil
   end)

   it("keeps the loop's timer on pace while slow clients and a reader that does not read hold "
      .. "connections, and times them out",
      function()
         s = start(":0", 32, 2)
         local slow = {}
         for i = 1, 4 do
            local c = assert(socket.connect("127.0.0.1", s.port))
            -- half a request line and headers, then silence (a slowloris client)
            assert(c:send(i % 2 == 0 and "GET /metrics HTTP/1.1\r\nHost: x\r\n" or ""))
            slow[i] = c
         end
         -- and one that asks for 32 MiB (more than loopback socket buffers hold) and never reads it
         local reader = assert(socket.connect("127.0.0.1", s.port))
         assert(reader:send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
         local t0 = socket.gettime()
         -- other clients are served while the slow ones wait
         for _ = 1, 5 do
            local t = socket.gettime()
            assert.equal(200, (curl(s.base .. "/metrics")))
            local took = socket.gettime() - t
            assert.is_true(took < 1, "a request took " .. took .. " s")
            socket.sleep(0.1)
         end
         -- the server closes them after its 2 s timeout: EOF here, within 2 s + slack
         for _, c in ipairs(slow) do
            c:settimeout(5)
            local data, err, partial = c:receive("*a")
            -- nothing was answered, and the end came before our 5 s timeout
            assert.same({ "" }, { data or partial })
            assert.is_not.equal("timeout", err)
            c:close()
         end
         local waited = socket.gettime() - t0
         assert.is_true(waited > 1.5 and waited < 4, "slow clients closed after " .. waited)
         -- the reader, idle for longer than the timeout, was cut off: it gets the start of
         -- its answer and the end, long before 32 MiB
         socket.sleep(math.max(0, t0 + 3 - socket.gettime()))
         reader:settimeout(5)
         local data, _, partial = reader:receive("*a")
         reader:close()
         data = data or partial
         assert.matches("^HTTP/1%.1 200 OK\r\n", data)
         assert.is_true(#data < 32 << 20, "the reader got " .. #data .. " bytes")
         local st = stop(s)
         s = nil
         -- every 50 ms over >= 2 s: no gap near the 2 s a stalled loop would show, ticks kept coming
         assert.is_true(st.maxgap < 0.25, "longest gap between ticks " .. st.maxgap)
         assert.is_true(st.ticks >= 30, "ticks " .. st.ticks)
         assert.same({ 7, 0 }, { st.requests, st.errors })
      end)

   it("delivers every ring record while slow clients hold connections", function()
      -- the server's evgen ring counts this process's openat() calls
      s = start(":0", 32, 5, sockhost.pid())
      local slow = {}
      for i = 1, 8 do
         slow[i] = assert(socket.connect("127.0.0.1", s.port))
         assert(slow[i]:send("GET /events HTTP/1.1\r\nHost: x\r\n"))
      end
      local t0 = socket.gettime()
      for round = 1, 4 do
         for _ = 1, 50 do assert(io.open("/dev/null")):close() end
         -- asked over HTTP while the slow clients still wait: every record the kernel made
         -- (calls, one record each; this process makes a few more openat() calls of its
         -- own) has been received
         local last
         local ok = proc.wait_for(function()
            local status, _, body = curl(s.base .. "/events")
            last = status .. " " .. tostring(body)
            local r, c = (body or ""):match("^(%d+) (%d+)$")
            return status == 200 and r == c and tonumber(c) >= 50 * round
         end, 2)
         assert.is_true(ok, "round " .. round .. ": " .. last)
      end
      assert.is_true(socket.gettime() - t0 < 4, "before the slow clients time out")
      for _, c in ipairs(slow) do c:close() end
      local st = stop(s)
      s = nil
      assert.equal(0, st.errors)
   end)

   it("accepts at most max_connections at once; the next waits for a free one", function()
      s = start(":0", 3, 10)
      local idle = {}
      for i = 1, 3 do idle[i] = assert(socket.connect("127.0.0.1", s.port)) end
      socket.sleep(0.2)
      -- the fourth stays in the kernel's backlog: MHD does not accept it, nothing answers
      local c = assert(socket.connect("127.0.0.1", s.port))
      assert(c:send("GET /metrics HTTP/1.0\r\n\r\n"))
      c:settimeout(0.5)
      assert.same({ nil, "timeout", "" }, { c:receive("*a") })
      -- a free slot: it is served
      idle[1]:close()
      c:settimeout(3)
      local data = c:receive("*a")
      c:close()
      assert.matches("^HTTP/1%.[01] 200 OK\r\n", data)
      assert.matches("\r\n\r\nup 1\naccept nil\n$", data)
      for i = 2, 3 do idle[i]:close() end
      socket.sleep(0.2)
      local st = stop(s)
      s = nil
      assert.same({ 2, 0 }, { st.requests, st.errors })
   end)

   it("stops for srv:close() from inside its own handler", function()
      s = start(":0")
      local status, _, body = curl(s.base .. "/close")
      assert.same({ 200, "closing\n" }, { status, body })
      -- the listener is gone: connection refused (curl 7)
      local _, _, _, code = curl(s.base .. "/metrics")
      assert.equal(7, code)
      proc.kill(s.pid, "TERM")
      assert.is_true(proc.wait_gone(s.pid, 10))
      local st = cjson.decode((assert(proc.read_file(s.dir .. "/stats.json"))))
      assert.same({ 1, true, "signal" }, { st.requests, st.closed, st.reason })
   end)

   it("is stopped by closing the Lua state (os.exit(0, true)) without a crash", function()
      local code = [[
         local sockhost = require "sockhost"
         local srv = sockhost.serve_http(":0", function() return 200, "text/plain", "x" end)
         sockhost.run { duration = 0.05 }
         io.write(tostring(srv), "\n")
         os.exit(0, true)
      ]]
      local ok, out = proc.sh(quote(proc.env("SOCKHOST_BIN")) .. " -e " .. quote(code) .. " 2>&1")
      assert.is_true(ok, out)
      assert.matches("^sockhost.http_server 127%.0%.0%.1:%d+\n$", out)
   end)
end)

describe("sockhost.serve_http in this process #kernel", function()
   local function handler() return 200, "text/plain", "x" end

   local function err_of(addr, opts)
      local ok, err = pcall(sockhost.serve_http, addr, handler, opts)
      assert.is_false(ok)
      return (tostring(err):gsub("^[^:]+:%d+: ", ""))
   end

   it("raises for a malformed address, naming it", function()
      for _, a in ipairs { "localhost:9100", "127.0.0.1", "9100", "[::1", "[::1]9100",
         "1.2.3.4:", "127.0.0.1:12ab", "127.0.0.1:-1", "::1:9100", "[]:9100", "[127.0.0.1]:9100",
         "300.1.1.1:9100", "" } do
         assert.equal("sockhost.serve_http: malformed address '" .. a
            .. "' (expected IPv4:PORT, [IPv6]:PORT or :PORT)", err_of(a), a)
      end
   end)

   it("raises for a port out of range", function()
      assert.equal("sockhost.serve_http: port 65536 out of range in '127.0.0.1:65536' "
         .. "(0-65535; 0 picks a free one)", err_of("127.0.0.1:65536"))
      assert.equal("sockhost.serve_http: port 99999999999999999999 out of range in "
         .. "'[::1]:99999999999999999999' (0-65535; 0 picks a free one)",
         err_of("[::1]:99999999999999999999"))
   end)

   it("raises EADDRINUSE for a port another socket listens on", function()
      local l <close> = setmetatable({ s = assert(socket.bind("127.0.0.1", 0)) },
         { __close = function(t) t.s:close() end })
      local _, port = l.s:getsockname()
      assert.equal("sockhost.serve_http: cannot listen on ':" .. port .. "': Address already "
         .. "in use (EADDRINUSE: another socket listens on it)", err_of(":" .. port))
   end)

   it("raises EADDRNOTAVAIL for an address that is not this machine's", function()
      assert.equal("sockhost.serve_http: cannot listen on '192.0.2.1:9100': Cannot assign "
         .. "requested address (EADDRNOTAVAIL: not an address of this machine)",
         err_of("192.0.2.1:9100"))
   end)

   it("raises EACCES for a privileged port as non-root", function()
      local code = [[
         local ok, err = pcall(require("sockhost").serve_http, "127.0.0.1:80",
            function() end)
         io.write(tostring(ok), " ", tostring(err))
      ]]
      local _, out = proc.sh("setpriv --reuid=65534 --regid=65534 --clear-groups "
         .. quote(proc.env("SOCKHOST_BIN")) .. " -e " .. quote(code) .. " 2>&1")
      assert.equal("false sockhost.serve_http: cannot listen on '127.0.0.1:80': Permission "
         .. "denied (EACCES: port 80 is privileged (below 1024, "
         .. "net.ipv4.ip_unprivileged_port_start) and this process lacks CAP_NET_BIND_SERVICE)",
         (out:gsub("false [^:]+:%d+: ", "false ")))
   end)

   it("raises for bad handlers and options", function()
      local ok, err = pcall(sockhost.serve_http, ":0", 42)
      assert.is_false(ok)
      assert.matches("sockhost.serve_http: handler must be callable, got number", err, 1, true)
      assert.equal("sockhost.serve_http: max_connections must be an integer from 1 to 4096, "
         .. "got 0", err_of(":0", { max_connections = 0 }))
      assert.equal("sockhost.serve_http: timeout must be an integer from 1 to 3600, got 1.5",
         err_of(":0", { timeout = 1.5 }))
      assert.equal("sockhost.serve_http: unknown option 'nope' (valid: max_connections, "
         .. "timeout, max_request_bytes)", err_of(":0", { nope = 1 }))
   end)

   it("closes with :close() and says so", function()
      local srv = sockhost.serve_http(":0", handler)
      local port = srv.port
      assert.equal("sockhost.http_server 127.0.0.1:" .. port, tostring(srv))
      local c = assert(socket.connect("127.0.0.1", port))
      c:close()
      srv:close()
      srv:close() -- idempotent
      assert.equal("sockhost.http_server (closed)", tostring(srv))
      assert.same({ nil, "connection refused" }, { socket.connect("127.0.0.1", port) })
      assert.same({ 0, 0 }, { srv.requests, srv.errors })
   end)
end)
