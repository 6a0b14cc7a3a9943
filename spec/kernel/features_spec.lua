-- SPDX-License-Identifier: GPL-2.0
-- sockhost.features(): real answers about this kernel, checked against what the machine
-- itself shows (/proc/mounts, tracefs, the perf PMUs), and no trace of the probing left.

local proc = require "helpers.proc"
local cgroup = require "helpers.cgroup"
local bpftool = require "helpers.bpftool"
local sockhost = require "sockhost"

local KPROBE_REASON = "kernel built without CONFIG_KPROBES (no kprobe_events in tracefs)"
local KPROBE_INSTEAD = "use a tracepoint or tp_btf"
local DENIED = "BPF not permitted: run as root or grant CAP_BPF+CAP_PERFMON "
   .. "(Operation not permitted)"

local bin = proc.env("SOCKHOST_BIN")

local function exists(path)
   return proc.read_file(path) ~= nil
end

-- Where this machine's kprobes would come from, looked at without sockhost.
local function kernel_has_kprobes()
   local tracefs
   for line in io.lines("/proc/mounts") do
      local dir, fstype = line:match("^%S+ (%S+) (%S+)")
      if fstype == "tracefs" then
         tracefs = dir
      end
   end
   return exists("/sys/kernel/tracing/kprobe_events")
      or (tracefs ~= nil and exists(tracefs .. "/kprobe_events"))
      or exists("/sys/bus/event_source/devices/kprobe/type")
end

describe("sockhost.features() #kernel", function()
   local features

   setup(function()
      features = sockhost.features()
   end)

   it("answers every kind with ok, and a reason whenever ok is false", function()
      assert.is_table(features)
      local n = 0
      for kind, f in pairs(features) do
         n = n + 1
         assert.is_string(kind)
         assert.is_boolean(f.ok, kind)
         if not f.ok then
            assert.is_string(f.reason, kind)
            assert.is_true(#f.reason > 0, kind)
         end
      end
      assert.is_true(n >= 20)
   end)

   it("finds the socket, sockmap and tracepoint support this machine has", function()
      assert.is_true(features.bpf.ok)
      for _, kind in ipairs({ "socket_filter", "sock_ops", "sk_msg", "sk_skb", "tracepoint",
         "raw_tracepoint", "cgroup_skb", "ringbuf", "sockmap", "sockhash", "cgroup_link",
         "test_run", "btf" }) do
         assert.is_table(features[kind], kind)
         assert.are.same({ kind, true }, { kind, features[kind].ok })
      end
   end)

   it("reports kprobes exactly as the kernel offers them", function()
      local kp = features.kprobe
      if kernel_has_kprobes() then
         assert.is_true(kp.ok)
      else
         assert.are.same({ ok = false, reason = KPROBE_REASON, instead = KPROBE_INSTEAD },
            { ok = kp.ok, reason = kp.reason, instead = kp.instead })
         assert.are.same({ false, KPROBE_REASON }, { features.kretprobe.ok,
            features.kretprobe.reason })
      end
   end)

   it("says why fentry is missing, with tp_btf as the way out when it works", function()
      local fe = features.fentry
      if fe.ok then
         -- a working kind carries no reason and no way out
         assert.are.same({ what = "program type", ok = true }, fe)
      else
         assert.matches("^fentry/fexit %a+ refused: .+", fe.reason)
         assert.are.equal(features.tp_btf.ok and "use tp_btf or a tracepoint"
            or "use a tracepoint", fe.instead)
      end
   end)

   it("gives the cgroup2 mount point from /proc/mounts", function()
      local root = cgroup.root()
      assert.is_string(root)
      assert.are.same({ ok = true, path = root },
         { ok = features.cgroup2.ok, path = features.cgroup2.path })
   end)

   it("leaves no probe cgroup and nothing attached to one behind", function()
      local root = cgroup.root()
      local function probe_dirs(pid)
         local _, out = proc.sh("ls -d " .. proc.quote(root) .. "/sockhost-probe-" .. pid
            .. "* 2>/dev/null")
         return out
      end
      -- this process probed in setup
      assert.are.equal("", probe_dirs(proc.pid()))
      -- probing runs once per process (cached): a fresh child probes for real, and the root
      -- cgroup itself never gets a program from its probes
      local before = bpftool.prog_ids_attached_to_cgroup(root)
      local ok, out = proc.sh(("%s -e %s 2>&1"):format(proc.quote(bin), proc.quote(
         "print(sockhost.pid()); assert(sockhost.features().cgroup_link.ok)")))
      assert.is_true(ok, out)
      local child = out:match("^(%d+)\n$")
      assert.is_string(child, out)
      assert.are.equal("", probe_dirs(child))
      assert.are.same(before, bpftool.prog_ids_attached_to_cgroup(root))
   end)

   it("hands out a fresh table each call, from the per-process cache", function()
      features.socket_filter.ok = "changed"
      features.kprobe = nil
      local again = sockhost.features()
      assert.is_true(again.socket_filter.ok)
      assert.is_table(again.kprobe)
      assert.are_not.equal(features, again)
   end)

   it("gives one clear message when the process may not use BPF", function()
      local ok = proc.sh("command -v setpriv >/dev/null")
      assert.is_true(ok, "setpriv (util-linux) is needed for this spec")
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write([[
local features, denied = require("sockhost").features()
print(denied)
print(features.socket_filter.ok, features.socket_filter.reason)
print(features.cgroup_link.ok, features.cgroup_link.reason)
print(features.cgroup2.ok)
]])
      f:close()
      -- through the sockhost executable (the sanitizer build's is the instrumented one)
      local cmd = string.format("chmod 644 %s && LUA_PATH=%s LUA_CPATH=%s setpriv --reuid=65534 "
         .. "--regid=65534 --clear-groups --inh-caps=-all %s %s 2>&1", proc.quote(script),
         proc.quote(package.path), proc.quote(package.cpath), proc.quote(bin),
         proc.quote(script))
      local rok, out = proc.sh(cmd)
      os.remove(script)
      assert.is_true(rok, out)
      assert.are.equal(table.concat({ DENIED, "false\t" .. DENIED, "false\t" .. DENIED, "true" },
         "\n") .. "\n", out)
   end)
end)
