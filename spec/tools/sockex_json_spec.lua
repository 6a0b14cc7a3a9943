-- SPDX-License-Identifier: GPL-2.0
-- sockex1/2/3 --json against their own --help: every record a tool writes, read by python3's
-- json module (and by jq when it is installed), has exactly the keys its --help lists, in that
-- order, each of the JSON type the help gives it; the nested objects and array items have
-- exactly the keys this spec names (each named in the help too) with their types. The tools
-- run in a network namespace of the spec's own, on a veth pair that carries a few frames so
-- that the arrays and objects have members.
local cjson = require "cjson"
local p = require "helpers.packets"
local proc = require "helpers.proc"
local wire = require "helpers.wire"

-- What the nested values hold: object members (fields) or, for "each", every member of an
-- object keyed by data (sockex1's protocols) or every item of an array.
local COUNTER = { fields = { { "bytes", "integer" }, { "packets", "integer" } } }
local NESTED = {
   sockex1 = {
      protocols = { each = { fields = { { "bytes", "integer" }, { "number", "integer" },
         { "packets", "integer" } } } },
      unparsed = COUNTER,
   },
   sockex2 = {
      destinations = { each = { fields = { { "addr", "string" }, { "bytes", "integer" },
         { "family", "string" }, { "packets", "integer" } } } },
      unparsed = COUNTER,
   },
   sockex3 = {
      flows = { each = { fields = { { "bytes", "integer" }, { "dport", "integer" },
         { "dst", "string" }, { "family", "string" }, { "packets", "integer" },
         { "proto", "string" }, { "sport", "integer" }, { "src", "string" } } } },
      unparsed = COUNTER,
   },
}

-- The checker: NDJSON on stdin, the schema as argv[1]; prints "ok <records>" or the first
-- violation. Types: integer (a JSON number without fraction or exponent), number, string,
-- boolean, object, array. Key order is checked as written (Python 3.7+ dicts keep it).
local PYTHON = [==[
import json, sys
schema = json.loads(sys.argv[1])
def kind(v):
    if isinstance(v, bool): return "boolean"
    if isinstance(v, int): return "integer"
    if isinstance(v, float): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "array"
    if isinstance(v, dict): return "object"
    return "null"
def fits(v, t):
    k = kind(v)
    return k == t or (t == "number" and k == "integer")
def check(v, s, where):
    if "fields" in s:
        keys = [f[0] for f in s["fields"]]
        if list(v.keys()) != keys:
            sys.exit("%s: keys %s, documented %s" % (where, list(v.keys()), keys))
        for name, t in s["fields"]:
            if not fits(v[name], t):
                sys.exit("%s.%s: %s, documented %s" % (where, name, kind(v[name]), t))
        for name, sub in s.get("nested", {}).items():
            check(v[name], sub, where + "." + name)
    if "each" in s:
        items = v.values() if isinstance(v, dict) else v
        for i, item in enumerate(items):
            if kind(item) != "object":
                sys.exit("%s[%d]: %s, not an object" % (where, i, kind(item)))
            check(item, s["each"], "%s[%d]" % (where, i))
n = 0
for line in sys.stdin:
    n += 1
    check(json.loads(line), schema, "record %d" % n)
print("ok %d" % n)
]==]

-- The keys and types --help lists after "Keys, in this order, and their JSON types:".
local function documented(help)
   local fields = {}
   local list = assert(help:match("Keys, in this order, and their JSON types:\n(.*)$"), help)
   for name, t in list:gmatch("\n?  (%l+) +(%l+): ") do fields[#fields + 1] = { name, t } end
   return fields
end

local function help_of(name)
   return proc.must(("%s %s --help"):format(proc.quote(proc.env("SOCKHOST_BIN")),
      proc.quote(proc.env("SOCKHOST_SOURCE_DIR") .. "/scripts/" .. name .. ".lua")))
end

describe("sockex --json records #tools", function()
   local bed
   setup(function() bed = wire.create("sockexjson") end)
   teardown(function() if bed then wire.remove(bed) end end)

   local function frames(from)
      local src = "02:00:00:00:00:" .. from
      local udp = p.ipv4 { src = "10.0.0.1", dst = "10.0.0.2", proto = p.IPPROTO_UDP,
         payload = p.udp { sport = 1, dport = 2, data = "x" } }
      local nine = {}
      for i = 1, 9 do nine[i] = { type = p.IPPROTO_DSTOPTS } end
      return {
         p.eth { src = src, type = p.ETH_P_IP, payload = udp },
         p.eth { src = src, type = p.ETH_P_IP, vlans = { { vid = 3 } }, payload = udp },
         p.eth { src = src, type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1", dst = "fd00::2",
            next = p.IPPROTO_ICMPV6, payload = p.icmp6_echo {} } },
         p.eth { src = src, type = p.ETH_P_IPV6, payload = p.ipv6 { src = "fd00::1", dst = "fd00::2",
            next = p.IPPROTO_UDP, ext = nine, payload = p.udp { sport = 1, dport = 2 } } },
      }
   end

   for _, name in ipairs({ "sockex1", "sockex2", "sockex3" }) do
      it(name .. " writes exactly the keys and types its --help documents", function()
         local help = help_of(name)
         local fields = documented(help)
         assert.equal("type", fields[1][1])
         assert.equal("ts", fields[2][1])
         local nested = {}
         for key, s in pairs(NESTED[name]) do
            nested[key] = s
            -- the help names every nested key it does not list itself
            for _, f in ipairs((s.each or s).fields) do
               assert.truthy(help:find('"' .. f[1] .. '"', 1, true), ("%s: %s.%s undocumented")
                  :format(name, key, f[1]))
            end
         end
         local schema = { fields = fields, nested = nested }

         local t = wire.tool(bed, name, bed.a, "--json" .. (name == "sockex1" and " --direction both" or ""))
         local out, err
         local ok, e = pcall(function()
            wire.send(bed, bed.a, frames("0a"))
            wire.send(bed, bed.b, frames("0b"))
            -- a record every second: wait for one with members, then stop (the final one)
            assert(proc.wait_for(function()
               return (proc.read_file(t.out) or ""):find('"packets":', 1, true)
            end, 5), "no record with counters")
         end)
         out, err = wire.finish(t)
         assert(ok, e)
         assert.matches(name .. ": .*after", err)

         local records = proc.records(out)
         assert.is_true(#records >= 2)
         assert.is_true(records[#records].final)
         for _, r in ipairs(records) do assert.equal(name, r.type) end
         -- ts is the wall clock, with a fraction: within a minute of this process's clock
         assert.is_true(math.abs(records[#records].ts - os.time()) < 60)
         assert.equal(2, records[#records].unparsed.packets) -- the nine-header chains

         local path = os.tmpname()
         local f = assert(io.open(path, "w"))
         f:write(out)
         f:close()
         finally(function() os.remove(path) end)
         local res = proc.must(("python3 -c %s %s <%s"):format(proc.quote(PYTHON),
            proc.quote(cjson.encode(schema)), proc.quote(path)))
         assert.equal(("ok %d\n"):format(#records), res)

         if proc.sh("command -v jq >/dev/null") then
            -- jq reads the same lines: top-level keys in order and their types (jq calls
            -- every number "number"), the nested keys
            local lines = proc.must(("jq -c '[keys_unsorted, [.[] | type]]' <%s"):format(proc.quote(path)))
            local want_keys, want_types = {}, {}
            for i, fd in ipairs(fields) do
               want_keys[i] = fd[1]
               want_types[i] = fd[2] == "integer" and "number" or fd[2]
            end
            local n = 0
            for line in lines:gmatch("[^\n]+") do
               n = n + 1
               assert.same({ want_keys, want_types }, cjson.decode(line))
            end
            assert.equal(#records, n)
            local unparsed = proc.must(("jq -c '.unparsed | keys_unsorted' <%s"):format(proc.quote(path)))
            assert.equal(("[\"bytes\",\"packets\"]\n"):rep(#records), unparsed)
         end
      end)
   end
end)
