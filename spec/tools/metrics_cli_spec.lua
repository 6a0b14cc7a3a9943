-- SPDX-License-Identifier: GPL-2.0
-- A shipped tool's --metrics and --metrics-limit given bad values (sockex1 on a veth pair
-- into the spec's own namespace; the messages come from cli.serve_metrics and
-- sockhost.serve_http): each ends the tool with exit status 1 and exactly one line on stderr,
-- before the filter is attached (sockex1 says "counting ..." once it is). Two tools on one
-- port: the second stops, the first keeps serving and counting. A privileged port as a user
-- that has the tool's capabilities but not CAP_NET_BIND_SERVICE fails on the port.
local proc = require "helpers.proc"
local testbed = require "helpers.testbed"
local prometheus = require "helpers.prometheus"

local q = proc.quote
local N, PING_SIZE = 4, 64

local function tool_cmd(bed, extra)
   return ("%s %s --iface %s %s"):format(q(proc.env("SOCKHOST_BIN")),
      q(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/sockex1.lua"), bed.host_if, extra)
end

describe("sockex1 --metrics given bad values #tools", function()
   local bed, dir, pids
   setup(function() bed = testbed.create("sxmcli") end)
   teardown(function() if bed then testbed.remove(bed) end end)
   before_each(function()
      dir = proc.tmpdir()
      pids = {}
   end)
   after_each(function()
      for _, pid in ipairs(pids) do proc.reap(pid) end
      proc.sh("rm -rf " .. q(dir))
   end)

   -- run sockex1 with extra (and --duration 5: a run that gets past the options would end)
   -- to its end, under prefix (a command that execs the rest); exit code, stdout, stderr
   local function run(extra, prefix)
      local _, out, code = proc.sh(("%s%s --duration 5 2>%s/err"):format(prefix or "",
         tool_cmd(bed, extra), q(dir)))
      return code, out, proc.read_file(dir .. "/err")
   end

   local function fails_with(extra, msg, prefix)
      assert.same({ 1, "", msg .. "\n" }, { run(extra, prefix) }, extra)
   end

   it("malformed addresses and ports out of range: the address in the message", function()
      for _, a in ipairs { "localhost:9100", "9100", "127.0.0.1", "[::1", "127.0.0.1:", "" } do
         fails_with("--metrics " .. q(a), "sockex1: --metrics: malformed address '" .. a
            .. "' (expected IPv4:PORT, [IPv6]:PORT or :PORT)")
      end
      fails_with("--metrics 127.0.0.1:65536", "sockex1: --metrics: port 65536 out of range in "
         .. "'127.0.0.1:65536' (0-65535; 0 picks a free one)")
   end)

   it("an address that is not this machine's: EADDRNOTAVAIL", function()
      fails_with("--metrics 192.0.2.1:9100", "sockex1: --metrics: cannot listen on "
         .. "'192.0.2.1:9100': Cannot assign requested address (EADDRNOTAVAIL: not an "
         .. "address of this machine)")
   end)

   it("--metrics-limit without --metrics, and limits that are not a number of series",
      function()
      fails_with("--metrics-limit 5", "sockex1: --metrics-limit needs --metrics")
      for _, v in ipairs { "x", "1.5", "1e3", "2000000000", "" } do
         local code, out, err = run("--metrics 127.0.0.1:0 --metrics-limit " .. q(v))
         assert.same({ 1, "" }, { code, out }, v)
         assert.equal("Error: --metrics-limit wants a number of series (0 to 1000000000), "
            .. "got '" .. v .. "'", err:match("\n(Error: [^\n]*)\n$"), v)
         assert.matches("^Usage: sockhost sockex1 ", err)
      end
      -- a negative number: with '=' the option's own message; apart, argparse reads it as
      -- an option of its own
      local code, _, err = run("--metrics 127.0.0.1:0 --metrics-limit=-1")
      assert.same({ 1, "Error: --metrics-limit wants a number of series (0 to 1000000000), "
         .. "got '-1'" }, { code, err:match("\n(Error: [^\n]*)\n$") })
      code, _, err = run("--metrics 127.0.0.1:0 --metrics-limit -1")
      assert.same({ 1, "Error: unknown option '-1'" }, { code, err:match("\n(Error: [^\n]*)\n") })
   end)

   it("two tools on one port: the second stops with EADDRINUSE, the first serves on", function()
      local err1 = dir .. "/first.err"
      local pid = proc.spawn(("exec %s >%s/first.out 2>%s"):format(
         tool_cmd(bed, "--direction both --metrics 127.0.0.1:0"), q(dir), q(err1)))
      pids[#pids + 1] = pid
      local port = prometheus.tool_port(err1)
      assert(proc.wait_for(function()
         return (proc.read_file(err1) or ""):find("counting", 1, true)
      end, 10), "never attached: " .. tostring(proc.read_file(err1)))
      fails_with("--metrics 127.0.0.1:" .. port, "sockex1: --metrics: cannot listen on "
         .. "'127.0.0.1:" .. port .. "': Address already in use (EADDRINUSE: another socket "
         .. "listens on it)")
      -- the first one counts and serves what the spec sends after the second one failed
      testbed.ping(bed, N, PING_SIZE)
      local text = proc.must(("curl -sf http://127.0.0.1:%d/metrics"):format(port))
      assert.same({ tostring(2 * N), tostring(2 * N * testbed.icmp_frame(PING_SIZE)) }, {
         text:match('\nsockhost_sockex1_packets_total{protocol="icmp"} (%d+)\n'),
         text:match('\nsockhost_sockex1_bytes_total{protocol="icmp"} (%d+)\n') })
      proc.kill(pid, "INT")
      assert.is_true(proc.wait_gone(pid, 10))
      assert.matches(("icmp %d bytes in %d packets"):format(2 * N * testbed.icmp_frame(PING_SIZE),
         2 * N), proc.read_file(err1), 1, true)
   end)

   it("a privileged port as a user with the tool's capabilities but not "
      .. "CAP_NET_BIND_SERVICE: EACCES, nothing attached", function()
      local start = math.tointeger(tonumber(proc.read_file(
         "/proc/sys/net/ipv4/ip_unprivileged_port_start")))
      assert.is_true(start > 80, "port 80 is not privileged here (ip_unprivileged_port_start "
         .. tostring(start) .. ")")
      -- uid/gid nobody with CAP_BPF and CAP_NET_RAW (what sockex1 needs: README "Daemon
      -- mode") inherited and ambient, so the tool gets them and nothing else
      local as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups "
         .. "--inh-caps=-all,+bpf,+net_raw --ambient-caps=-all,+bpf,+net_raw -- "
      fails_with("--metrics 127.0.0.1:80", ("sockex1: --metrics: cannot listen on "
         .. "'127.0.0.1:80': Permission denied (EACCES: port 80 is privileged (below %d, "
         .. "net.ipv4.ip_unprivileged_port_start) and this process lacks "
         .. "CAP_NET_BIND_SERVICE)"):format(start), as_nobody)
      -- the same user and capabilities on a free port: served and attached, without the BPF
      -- run statistics (BPF_ENABLE_STATS needs CAP_SYS_ADMIN), which it says
      local err = dir .. "/nobody.err"
      local pid = proc.spawn(("exec %s%s >/dev/null 2>%s"):format(as_nobody,
         tool_cmd(bed, "--metrics 127.0.0.1:0"), q(err)))
      pids[#pids + 1] = pid
      local port = prometheus.tool_port(err)
      assert(proc.wait_for(function()
         return (proc.read_file(err) or ""):find("counting", 1, true)
      end, 10), "never attached: " .. tostring(proc.read_file(err)))
      assert.equal(("sockex1: metrics on http://127.0.0.1:%d/metrics\n"
         .. "sockex1: --metrics: no sockhost_program_run_* families: enable_stats: Operation not "
         .. "permitted (BPF_ENABLE_STATS needs root or CAP_SYS_ADMIN); sysctl "
         .. "kernel.bpf_stats_enabled=1 turns them on for every program\n"
         .. "sockex1: counting out packets on %s\n"):format(port, bed.host_if),
         proc.read_file(err))
      local text = proc.must(("curl -sf http://127.0.0.1:%d/metrics"):format(port))
      assert.truthy(text:find("\n# TYPE sockhost_sockex1_packets_total counter\n", 1, true), text)
      assert.truthy(text:find("\nprocess_open_fds ", 1, true), text)
      assert.is_nil(text:find("sockhost_program_run", 1, true))
      assert.is_nil(text:find("sockhost_metrics_errors_total", 1, true))
      proc.kill(pid, "INT")
      assert.is_true(proc.wait_gone(pid, 10))
   end)
end)
