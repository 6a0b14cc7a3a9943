-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/wire.lua: hand-built frames on a real interface, and tshark's reading of
-- them, for the specs that hold the sockex tools to what the wire carries. A network namespace
-- of the spec's own holds both ends of a veth pair (a and b: nothing in this namespace sees
-- a frame); build/spec/framesend puts frames on either end from a raw AF_PACKET socket (this
-- machine has no 8021q, gre or ipip module to make VLAN, GRE or IPIP traffic), tshark
-- captures on a, and wire.dissect turns the capture into one list of layers per frame, the
-- way tshark dissected it. Built on helpers.proc and helpers.netns.
local proc = require "helpers.proc"
local netns = require "helpers.netns"
local socket = require "socket"

local wire = {}

local quote = proc.quote

--- Namespace + veth pair, both ends in it (a and b), IPv6 off before they come up (no
-- neighbour discovery, no MLD) and no addresses (no ARP): the only frames on the pair are the
-- ones the spec sends. Returns {ns=, a=, b=}; remove it with wire.remove.
function wire.create(tag)
   local ns = netns.create(tag)
   local bed = { ns = ns, a = "wa", b = "wb" }
   local ok, err = pcall(function()
      proc.must(("ip -n %s link add name %s type veth peer name %s"):format(quote(ns), bed.a, bed.b))
      for _, i in ipairs({ bed.a, bed.b }) do
         proc.must(("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=1"):format(quote(ns), i))
         proc.must(("ip -n %s link set %s up"):format(quote(ns), i))
      end
   end)
   if not ok then
      netns.delete(ns)
      error(err, 0)
   end
   return bed
end

--- Remove the namespace (and the pair with it).
function wire.remove(bed)
   netns.delete(bed.ns)
end

--- cmd run inside the bed's namespace (a command line for proc.sh or proc.spawn).
function wire.exec(bed, cmd)
   return ("ip netns exec %s %s"):format(quote(bed.ns), cmd)
end

local function hex(s)
   return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- Send frames (a sequence of byte strings) out of interface ifname of the bed, in order,
-- with build/spec/framesend; raises unless all went.
function wire.send(bed, ifname, frames)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   for _, frame in ipairs(frames) do f:write(hex(frame), "\n") end
   f:close()
   local bin = proc.env("SOCKHOST_BUILD_DIR") .. "/spec/framesend"
   local ok, out = proc.sh(wire.exec(bed, ("%s %s %s 2>&1"):format(quote(bin), ifname, quote(path))))
   os.remove(path)
   assert(ok and out == ("sent %d\n"):format(#frames), "framesend: " .. out)
end

-- Start cmd in the background with stderr to a file; wait until that file holds `ready`.
local function start(cmd, ready, what)
   local err = os.tmpname()
   local pid = proc.spawn(("exec %s 2>%s"):format(cmd, quote(err)))
   local up = proc.wait_for(function()
      if not proc.alive(pid) then return "dead" end
      return (proc.read_file(err) or ""):find(ready, 1, true) and "up"
   end, 15)
   if up ~= "up" then
      proc.reap(pid)
      local text = proc.read_file(err)
      os.remove(err)
      error(("%s did not start: %s"):format(what, tostring(text)), 3)
   end
   return pid, err
end

--- Start tshark capturing on interface ifname of the bed into a pcapng file of its own;
-- returns once it captures (dumpcap said "Capturing on"). wire.stop ends it.
function wire.capture(bed, ifname)
   local file = os.tmpname()
   local pid, err = start(wire.exec(bed, ("tshark -i %s -w %s -q"):format(ifname, quote(file))),
      "Capturing on", "tshark")
   return { pid = pid, err = err, file = file }
end

--- Stop a capture (SIGINT: dumpcap writes out what it has) and return its file's path; the
-- caller removes it.
function wire.stop(cap)
   proc.kill(cap.pid, "INT")
   assert(proc.wait_gone(cap.pid, 10), "tshark did not stop")
   os.remove(cap.err)
   return cap.file
end

--- Start scripts/<name>.lua --iface <ifname> <args> in the bed's namespace, stdout to a file;
-- returns once it attached ("counting" on stderr). wire.finish ends it.
function wire.tool(bed, name, ifname, args)
   local bin = proc.env("SOCKHOST_BIN")
   local src = proc.env("SOCKHOST_SOURCE_DIR")
   local out = os.tmpname()
   local pid, err = start(wire.exec(bed, ("%s %s --iface %s %s >%s"):format(quote(bin),
      quote(src .. "/scripts/" .. name .. ".lua"), ifname, args or "", quote(out))),
      "counting", name)
   return { pid = pid, err = err, out = out, name = name }
end

--- Stop a tool with SIGINT, as Ctrl-C would; returns its stdout and stderr.
function wire.finish(t)
   proc.kill(t.pid, "INT")
   assert(proc.wait_gone(t.pid, 10), t.name .. " did not stop")
   local out, err = proc.read_file(t.out), proc.read_file(t.err)
   os.remove(t.out)
   os.remove(t.err)
   return out, err
end

-- Per layer tshark names in frame.protocols, the fields each occurrence of it has, in the
-- order wire.dissect asks for them (every field with all its occurrences, comma-separated).
local LAYERS = {
   { "eth", { src = "eth.src" } },
   { "ip", { src = "ip.src", dst = "ip.dst", proto = "ip.proto", mf = "ip.flags.mf",
      offset = "ip.frag_offset" } },
   { "ipv6", { src = "ipv6.src", dst = "ipv6.dst", nxt = "ipv6.nxt" } },
   { "ipv6.hopopts", { nxt = "ipv6.hopopts.nxt" } },
   { "ipv6.routing", { nxt = "ipv6.routing.nxt" } },
   { "ipv6.dstopts", { nxt = "ipv6.dstopts.nxt" } },
   { "ipv6.fraghdr", { nxt = "ipv6.fraghdr.nxt", offset = "ipv6.fraghdr.offset" } },
   { "ah", { nxt = "ah.next_header" } },
   { "udp", { sport = "udp.srcport", dport = "udp.dstport" } },
   { "tcp", { sport = "tcp.srcport", dport = "tcp.dstport" } },
}

--- The frames of a capture file as tshark dissects them, without IP reassembly (each
-- fragment is read as the frame it is): a sequence of { len = frame.len, malformed = bool,
-- layers = { { name = "eth", src = }, { name = "vlan" }, { name = "ip", src =, dst =, proto
-- =, mf =, offset = }, { name = "ipv6", src =, dst =, nxt = }, { name = "ipv6.fraghdr", nxt
-- =, offset = }, ..., { name = "udp", sport =, dport = }, ... } } (numbers as numbers), in
-- capture order. Layers are frame.protocols' names without "ethertype" and "data"; 802.1ad
-- tags read as "vlan" too.
function wire.dissect(file)
   local fields, where = { "frame.len", "frame.protocols", "_ws.malformed" }, {}
   for _, l in ipairs(LAYERS) do
      where[l[1]] = {}
      for k, f in pairs(l[2]) do
         fields[#fields + 1] = f
         where[l[1]][k] = #fields
      end
   end
   local cmd = ("tshark -r %s -o ip.defragment:FALSE -o ipv6.defragment:FALSE -T fields "
      .. "-E separator=/t -E occurrence=a -E aggregator=, -e %s 2>/dev/null"):format(quote(file),
      table.concat(fields, " -e "))
   local ok, out, code = proc.sh(cmd)
   assert(ok, ("tshark -r failed (%s): %s"):format(tostring(code), cmd))
   local frames = {}
   for line in out:gmatch("[^\n]+") do
      local cols = {}
      for c in (line .. "\t"):gmatch("(.-)\t") do cols[#cols + 1] = c end
      local values = {}
      for i, c in ipairs(cols) do
         local list = {}
         for v in (c .. ","):gmatch("(.-),") do if v ~= "" then list[#list + 1] = v end end
         values[i] = list
      end
      local seen, layers = {}, {}
      for name in cols[2]:gmatch("[^:]+") do
         if name == "vlan" or name == "ieee8021ad" then
            layers[#layers + 1] = { name = "vlan" }
         elseif name ~= "ethertype" and name ~= "data" then
            local layer = { name = name }
            seen[name] = (seen[name] or 0) + 1
            for k, col in pairs(where[name] or {}) do
               local v = values[col][seen[name]]
               layer[k] = tonumber(v) and math.tointeger(tonumber(v)) or v
            end
            layers[#layers + 1] = layer
         end
      end
      frames[#frames + 1] = { len = math.tointeger(tonumber(cols[1])), layers = layers,
         malformed = cols[3] ~= "" }
   end
   return frames
end

--- Sleep a little: long enough for a frame put on a veth end to have reached every packet
-- socket of both ends (the receiving end's backlog runs in softirq, not in the sender).
function wire.settle()
   socket.sleep(0.3)
end

return wire
