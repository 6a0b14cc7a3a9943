-- SPDX-License-Identifier: GPL-2.0
-- The tools' --json output against their own documentation: every record parsed by python3's
-- json and by jq, its keys exactly the ones --help lists, in that order, with the documented
-- JSON types. The tools run their --demo (their own cgroup and loopback connections).
local proc = require "helpers.proc"

local bin = proc.env("SOCKHOST_BIN")
local src = proc.env("SOCKHOST_SOURCE_DIR")

-- COLUMNS: --help unwrapped, one documented field a line
local function tool(name)
   return ("COLUMNS=1000 %s %s"):format(proc.quote(bin),
      proc.quote(src .. "/scripts/" .. name .. ".lua"))
end

local python_shapes = proc.json_shapes

-- stdout of cmd (stderr, the tool's summary, apart); raises when it fails.
local function stdout_of(cmd)
   local ok, out, code = proc.sh(cmd .. " 2>/dev/null")
   assert(ok, ("%s: exit %s\n%s"):format(cmd, tostring(code), out))
   return out
end

local function keys_of(shape)
   local keys = {}
   for k in shape:gmatch("([^,:]+):[^,]+") do keys[#keys + 1] = k end
   return keys
end

describe("the tools' --json output #tools", function()
   it("conntrace: the fields its --help lists, in order, with their types", function()
      local help = proc.must(tool("conntrace") .. " --help")
      local section = help:match("in this order:\n(.-)\nByte counts")
      assert.is_truthy(section, help)
      local documented = {}
      for line in section:gmatch("[^\n]+") do
         local names = line:match("^  (%S.-)%s%s+")
         for name in names:gmatch("[^, ]+") do documented[#documented + 1] = name end
      end
      assert.same({ "type", "ts", "pid", "comm", "role", "family", "saddr", "sport", "daddr",
         "dport", "bytes_sent", "bytes_received", "duration_us", "states", "cgroup_id" },
         documented)
      local out = stdout_of(tool("conntrace") .. " --demo --json --duration 2")
      local shapes, jqkeys = python_shapes(out)
      assert.is_true(#shapes >= 4, out)
      local want = "type:str,ts:float,pid:int,comm:str,role:str,family:str,saddr:str,sport:int,"
         .. "daddr:str,dport:int,bytes_sent:int,bytes_received:int,duration_us:int,"
         .. "states:list,cgroup_id:int"
      for i, shape in ipairs(shapes) do
         assert.equal(want, shape)
         assert.equal('["' .. table.concat(keys_of(shape), '","') .. '"]', jqkeys[i])
      end
      assert.same(documented, keys_of(shapes[1]))
   end)

   it("hello-sockops: the keys its --help lists, in order; state changes add two", function()
      local help = proc.must(tool("hello-sockops") .. " --help")
      local text = help:match("%-%-json%s+(One JSON object.-)\n%s*%-%-")
      assert.is_truthy(text, help)
      text = text:gsub("%s+", " ")
      assert.is_truthy(text:find('type ("sockops"), ts (wall-clock seconds, microseconds), pid, '
         .. 'op (callback name, e.g. "active_established_cb"), family ("inet"/"inet6"), laddr, '
         .. 'lport, raddr, rport, state (TCP state name); old_state and new_state on state_cb.',
         1, true), text)
      local out = stdout_of(tool("hello-sockops") .. " --demo --json")
      local shapes = python_shapes(out)
      assert.is_true(#shapes >= 6, out)
      local base = "type:str,ts:float,pid:int,op:str,family:str,laddr:str,lport:int,raddr:str,"
         .. "rport:int,state:str"
      local state_cbs = 0
      for _, shape in ipairs(shapes) do
         if shape == base .. ",old_state:str,new_state:str" then
            state_cbs = state_cbs + 1
         else
            assert.equal(base, shape)
         end
      end
      assert.is_true(state_cbs > 0, out)
   end)
end)
