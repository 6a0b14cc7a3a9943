-- SPDX-License-Identifier: GPL-2.0
-- README's "Fleet: Prometheus metrics", tried as written where this machine allows it (it has
-- no systemd manager, so no unit starts): the scrape config passes `promtool check config` as
-- printed; every tool of the ports table runs with the table's arguments, as its unit would
-- run it (as a user of its own with exactly the unit's ambient capabilities), changed only
-- where the page names another machine's things (eth0 becomes a veth end of the spec's own,
-- /var/log/sockhost a scratch directory, 0.0.0.0:PORT 127.0.0.1:0, and hello-sockops and
-- redirect get a cgroup of the spec's own instead of the cgroup2 root); a real Prometheus
-- scrapes them with the page's jobs (targets pointed at them, a 1 s interval); the spec makes
-- traffic; then every query of the page's table returns what it says: a positive value for
-- each tool's, nothing for each alert.
local proc = require "helpers.proc"
local testbed = require "helpers.testbed"
local traffic = require "helpers.traffic"
local cgroups = require "helpers.cgroup"
local prometheus = require "helpers.prometheus"
local readme = require "helpers.readme"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")
local q = proc.quote

-- the page's parts: tools = {{name, port, args}}, queries = {{tool, expr}}, yaml, sh
local function page()
   local s = readme.section("Fleet: Prometheus metrics")
   local p = { tools = {}, queries = {} }
   p.yaml = assert(s:match("```yaml\n(.-)```"), "no yaml block")
   p.sh = assert(s:match("```sh\n(.-)```"), "no sh block")
   for name, port, args in s:gmatch("\n| ([%w-]+) | (%d+) | `([^`]+)` |") do
      p.tools[#p.tools + 1] = { name = name, port = tonumber(port), args = args }
   end
   for tool, expr in s:gmatch("\n| ([%w-]+) | `([^`]+)` |") do
      p.queries[#p.queries + 1] = { tool = tool, expr = expr }
   end
   return p
end

-- The unit's ambient capabilities, lower case, comma-separated (capsh's spelling).
local function unit_caps()
   local unit = proc.read_file(src .. "/dist/sockhost@.service.in")
   return assert(unit:match("\nAmbientCapabilities=([^\n]*)")):lower():gsub(" ", ",")
end

describe("README fleet page #tools", function()
   it("lists every shipped tool once, with its own port, and one query each", function()
      local p = page()
      local names, ports = {}, {}
      for _, t in ipairs(p.tools) do
         assert.is_nil(names[t.name], t.name)
         assert.is_nil(ports[t.port], tostring(t.port))
         names[t.name], ports[t.port] = true, true
         assert.matches("^%-%-metrics 0%.0%.0%.0:" .. t.port .. " ", t.args)
      end
      local listed = proc.must(q(bin) .. " --list")
      for name in listed:gmatch("\n?(%S+)[^\n]*") do
         if name:match("^[%w-]+$") then assert.is_true(names[name], name .. " missing") end
      end
      local queried = {}
      for _, x in ipairs(p.queries) do queried[x.tool] = true end
      assert.is_true(queried.alert)
      for name in pairs(names) do assert.is_true(queried[name], name .. " has no query") end
      -- the sh block's configuration files say what the table says
      for name, args in p.sh:gmatch("/etc/sockhost/([%w-]+)%.conf <<'CONF'\nSOCKHOST_ARGS=\"([^\"]*)\"") do
         local row
         for _, t in ipairs(p.tools) do if t.name == name then row = t end end
         assert.equal(row and row.args, args)
      end
   end)

   it("passes promtool check config as printed", function()
      local dir = proc.tmpdir()
      finally(function() proc.sh("rm -rf " .. q(dir)) end)
      local f = assert(io.open(dir .. "/prometheus.yml", "w"))
      f:write(page().yaml)
      f:close()
      local ok, out = proc.sh("promtool check config " .. q(dir .. "/prometheus.yml") .. " 2>&1")
      assert.is_true(ok, out)
      assert.matches("SUCCESS", out)
   end)

   it("runs each tool as its unit would, and every query answers from a real Prometheus",
      function()
      local p = page()
      local bed = testbed.create("fleet")
      local dir = proc.tmpdir()
      local cg = cgroups.new("fleet")
      local pids, sink = {}, nil
      -- the one finally of this test (busted keeps only the last one given)
      finally(function()
         if sink then sink:close() end
         for _, pid in ipairs(pids) do
            proc.kill(pid, "INT")
            if not proc.wait_gone(pid, 10) then proc.reap(pid) end
         end
         testbed.remove(bed)
         cgroups.remove(cg)
         proc.sh("rm -rf " .. q(dir))
      end)
      proc.must("chown nobody " .. q(dir))
      local caps = unit_caps()
      local jobs = {}
      for _, t in ipairs(p.tools) do
         local args = t.args:gsub("0%.0%.0%.0:%d+", "127.0.0.1:0"):gsub("%-%-iface eth0",
            "--iface " .. bed.host_if):gsub("/var/log/sockhost/", dir .. "/")
         if t.name == "hello-sockops" or t.name == "redirect" then
            args = args .. " --cgroup " .. q(cg)
         end
         local err = ("%s/%s.err"):format(dir, t.name)
         local cmd = ("%s %s %s"):format(q(bin), t.name, args)
         pids[#pids + 1] = proc.spawn(("exec capsh --caps=%s --keep=1 --user=nobody --addamb=%s "
            .. "-- -c %s >%s/%s.out 2>%s"):format(q(caps .. "+eip cap_setpcap,cap_setuid,"
            .. "cap_setgid+ep"), caps, q("exec " .. cmd), q(dir), t.name, q(err)))
         jobs["sockhost-" .. t.name] = "127.0.0.1:" .. prometheus.tool_port(err)
         -- the unit has no CAP_SYS_ADMIN: no BPF run statistics unless the sysctl has them on
         local note = (": --metrics: no sockhost_program_run_* families: enable_stats: "
            .. "Operation not permitted (BPF_ENABLE_STATS needs root or CAP_SYS_ADMIN); "
            .. "sysctl kernel.bpf_stats_enabled=1 turns them on for every program\n")
         local stats_on = proc.read_file("/proc/sys/kernel/bpf_stats_enabled"):match("^1")
         assert.equal(not stats_on, (proc.read_file(err):find(t.name .. note, 1, true)) ~= nil,
            proc.read_file(err))
      end
      -- the page's jobs, each pointed at the tool running here, every second
      local yaml = p.yaml:gsub("scrape_interval: 15s", "scrape_interval: 1s")
         :gsub("(job_name: ([%w-]+)\n%s+static_configs:\n%s+%- targets: )%b[]", function(head, job)
            return head .. ('["%s"]'):format(assert(jobs[job], "no tool for job " .. job))
         end)
      local targets = {}
      for _, t in pairs(jobs) do targets[#targets + 1] = t end
      local prom = prometheus.start(dir, targets, { config = yaml })
      pids[#pids + 1] = prom.pid
      prom:wait_up()

      -- traffic each tool sees: frames on the veth end, TCP in the cgroup (conntrace sees
      -- those too); twice, a scrape apart, so that a series born in the first round (a tool
      -- exports most only once they count something) has risen within rate()'s window
      local port
      sink, port = testbed.udp_sink(bed)
      for _ = 1, 2 do
         testbed.ping(bed, 5, 100)
         testbed.udp_from_ns(bed, port, 7, 200)
         assert.equal(7, testbed.drain(sink, 7))
         cgroups.within(cg, function()
            for _ = 1, 3 do traffic.tcp_exchange { send = 1000, reply = 2000 } end
         end)
         prom:after_scrape()
      end

      for _, x in ipairs(p.queries) do
         local rows = prom:query(x.expr)
         assert(rows, "query failed: " .. x.expr)
         if x.tool == "alert" then
            -- nothing is lost, refused or cut here
            assert.same({}, rows, x.expr)
         else
            local positive = false
            for _, r in ipairs(rows) do positive = positive or tonumber(r.value) > 0 end
            assert.is_true(positive, ("%s: %s gave nothing positive"):format(x.tool, x.expr))
         end
      end
   end)
end)
