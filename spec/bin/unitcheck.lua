-- SPDX-License-Identifier: GPL-2.0
--- spec/bin/unitcheck.lua: runs the unit specs as they must be able to run, with no root and
-- no kernel facility: ctest starts it under setpriv as user and group 65534 (nobody). It
-- runs `busted --tags=unit` over the unit spec directory and passes only when this process
-- is not root, busted exits 0, nothing failed or errored, and every *_spec.lua file there
-- contributed at least one passing test (so a spec that lost its #unit tag, or a directory
-- that matched nothing, fails instead of passing with nothing run).
--
--   lua5.4 spec/bin/unitcheck.lua <busted> <spec/unit dir>
local cjson = require "cjson"

local busted, dir = arg[1], arg[2]
assert(busted and dir, "usage: unitcheck.lua <busted> <unit spec dir>")

local function quote(s)
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function fail(fmt, ...)
   io.stderr:write(("unitcheck: " .. fmt .. "\n"):format(...))
   os.exit(1)
end

local status = assert(io.open("/proc/self/status")):read("a")
local uid = tonumber(status:match("\nUid:%s+(%d+)"))
if uid == 0 then fail("running as root: the unit specs must pass without it") end

local p = assert(io.popen(("ls %s"):format(quote(dir))))
local files = {}
for name in p:read("a"):gmatch("[^\n]+") do
   if name:match("_spec%.lua$") then files[name] = 0 end
end
p:close()
if next(files) == nil then fail("no *_spec.lua files in %s", dir) end

p = assert(io.popen(("%s %s --output=json --tags=unit %s"):format(quote(arg[-1] or "lua5.4"),
   quote(busted), quote(dir))))
local out = p:read("a")
local ok = p:close()
local res = cjson.decode(out:match("{.*}") or "null")
if type(res) ~= "table" then fail("busted printed no JSON report:\n%s", out) end

for _, kind in ipairs({ "failures", "errors" }) do
   for _, t in ipairs(res[kind]) do
      local e = t.element or {}
      io.stderr:write(("%s: %s: %s: %s\n"):format(kind, tostring(e.trace and e.trace.short_src),
         tostring(t.name), tostring(t.message)))
   end
end
for _, t in ipairs(res.successes) do
   local src = t.element and t.element.trace and t.element.trace.short_src or ""
   local name = src:match("([^/]+)$")
   if files[name] then files[name] = files[name] + 1 end
end
local none = {}
for name, n in pairs(files) do
   if n == 0 then none[#none + 1] = name end
end
table.sort(none)
print(("unitcheck: uid %d: %d passed, %d failed, %d errors, %d pending"):format(uid,
   #res.successes, #res.failures, #res.errors, #res.pendings))
if #res.failures > 0 or #res.errors > 0 or not ok then fail("unit specs failed") end
if #none > 0 then fail("no passing #unit test in %s", table.concat(none, ", ")) end
