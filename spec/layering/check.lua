-- SPDX-License-Identifier: GPL-2.0
-- spec/layering/check.lua: the layering rules of shared/STYLE.md and README's Layout, checked
-- over the #include lines of host/ and the require calls of lua/, scripts/ and bench/. Run
-- from the source root by ctest ("layering"); prints every broken rule and exits 1, or
-- prints "layering: N files checked, 0 violations" and exits 0.
--
-- C: a file's layer is its folder under host/ (host/* are the top: module.c, module_so.c,
-- embed.c, and the executable's main.c, repl.c, cli.h). A quoted include "X/..." names layer X; "sockhost.h" is the embedding API;
-- "sockhost/..." is the BPF SDK in include/sockhost. Each layer may include only the layers
-- listed for it below, so the folders form no cycle.

local root = arg[1] or "."

local allowed = {
   base = { base = true },
   btf = { btf = true },
   lua = { lua = true },
   features = { features = true, base = true },
   cc = { cc = true, base = true },
   obj = { obj = true, base = true, btf = true, lua = true, cc = true },
   attach = { attach = true, base = true, lua = true, obj = true, features = true },
   events = { events = true, base = true, btf = true, lua = true, obj = true, loop = true,
      sdk = true },
   loop = { loop = true, base = true, lua = true },
   net = { net = true, base = true, lua = true, loop = true },
   include = {},
}
local layers = { "base", "btf", "lua", "features", "cc", "obj", "attach", "events", "loop", "net" }
-- top-level files: what each may name
local top = {
   ["module.c"] = "all",
   ["module_so.c"] = { api = true },
   -- the C API: the loop (forced signal), the message handler, the exit ledger (events)
   ["embed.c"] = { api = true, events = true, loop = true, lua = true },
   -- the executable sees sockhost.h only, and cli.h, the header its two files share
   ["main.c"] = { api = true, cli = true },
   ["repl.c"] = { api = true, cli = true },
   ["cli.h"] = { api = true },
}
-- angle-bracket includes a layer must not use
local banned_angle = {
   base = { ["lua/"] = false },
   btf = { ["bpf/libbpf.h"] = true, ["bpf/bpf.h"] = true },
   lua = { ["bpf/"] = true },
   features = {},
   loop = { ["bpf/"] = true },
   net = { ["bpf/"] = true },
   cc = { ["bpf/"] = true, ["lua"] = true, ["lauxlib"] = true },
}

local violations, checked = {}, 0

local function violation(fmt, ...)
   violations[#violations + 1] = string.format(fmt, ...)
end

local function files(dir, pattern)
   local list = {}
   local p = io.popen("find '" .. root .. "/" .. dir .. "' -type f 2>/dev/null | sort")
   for line in p:lines() do
      if line:match(pattern) then
         list[#list + 1] = line
      end
   end
   p:close()
   return list
end

local function read(path)
   local f = assert(io.open(path, "r"))
   local s = f:read("a")
   f:close()
   return s
end

local function rel(path)
   return path:sub(#root + 2)
end

-- the layer a quoted include names
local function target_of(inc)
   if inc == "sockhost.h" then return "api" end
   if inc == "cli.h" then return "cli" end
   local dir = inc:match("^([%w_]+)/")
   if dir == "sockhost" then return "sdk" end
   if dir then return dir end
   return nil -- same-folder include without a folder
end

for _, path in ipairs(files("host", "%.[ch]$")) do
   checked = checked + 1
   local r = rel(path)
   local sub = r:match("^host/(.*)$")
   local layer = sub:match("^([%w_]+)/")
   local rules
   if layer then
      rules = allowed[layer]
      if not rules then
         violation("%s: host/%s/ is not a known layer (known: %s)", r, layer,
            table.concat(layers, ", "))
         rules = {}
      end
   else
      rules = top[sub]
      if not rules then
         violation("%s: a file at the top of host/ must be one of module.c, module_so.c, embed.c, main.c, repl.c, cli.h", r)
         rules = {}
      end
   end
   local named = {}
   for kind, inc in read(path):gmatch('#%s*include%s*([<"])([^>"]+)[>"]') do
      if kind == '"' then
         local t = target_of(inc)
         if not t then
            violation('%s: #include "%s": name the header by its folder ("layer/x.h")', r, inc)
         elseif rules ~= "all" and not rules[t] and not (layer and t == layer) then
            violation('%s: #include "%s": %s may not include %s', r, inc,
               layer and ("host/" .. layer .. "/") or sub, t == "api" and "sockhost.h" or t)
         end
         named[t or "?"] = true
      else
         for prefix, bad in pairs(banned_angle[layer] or {}) do
            if bad and inc:sub(1, #prefix) == prefix then
               violation("%s: #include <%s>: host/%s/ may not use <%s...>", r, inc, layer, prefix)
            end
         end
         if (sub == "main.c" or sub == "repl.c") and inc:match("^bpf/") then
            violation("%s: #include <%s>: the CLI sees only sockhost.h", r, inc)
         end
         if layer == "btf" and inc:match("^bpf/") and inc ~= "bpf/btf.h" then
            violation("%s: #include <%s>: btf/ uses <bpf/btf.h> only", r, inc)
         end
      end
   end
   if layer and layer ~= "include" then
      local n = 0
      for _, l in ipairs(layers) do
         if named[l] then n = n + 1 end
      end
      if n == #layers then
         violation("%s: names every layer; only module.c may", r)
      end
   end
end

-- Lua: pure helpers never reach the C core; scripts reach the project only through sockhost;
-- benchmarks never reach into spec/.
local pure = { net = true, fmt = true, tab = true, hist = true, interval = true, ndjson = true,
   inspect = true, man = true, complete = true, metrics = true,
   ["metrics.exposition"] = true }

-- the modules a Lua file requires, comments left out (a comment may mention a require)
local function requires(path)
   local list = {}
   local s = read(path):gsub("%-%-%[(=*)%[.-%]%1%]", ""):gsub("%-%-[^\n]*", "")
   for name in s:gmatch('require%s*%(?%s*["\']([%w_%.%-]+)["\']') do
      list[#list + 1] = name
   end
   return list, s
end

local module_requires = {}
for _, path in ipairs(files("lua", "%.lua$")) do
   checked = checked + 1
   local name = rel(path):match("^lua/(.*)%.lua$"):gsub("/init$", ""):gsub("/", ".")
   module_requires[name] = requires(path)
end

-- does module name reach sockhost.core (or sockhost itself), directly or not?
local function reaches_core(name, seen)
   seen = seen or {}
   if seen[name] then return nil end
   seen[name] = true
   for _, dep in ipairs(module_requires[name] or {}) do
      if dep == "sockhost.core" or dep == "sockhost" then
         return { name, dep }
      end
      local via = reaches_core(dep, seen)
      if via then
         table.insert(via, 1, name)
         return via
      end
   end
   return nil
end

for mod in pairs(pure) do
   local chain = reaches_core("sockhost." .. mod)
   if chain then
      violation("lua/sockhost/%s.lua: a pure helper reaches the C core (%s)", mod,
         table.concat(chain, " -> "))
   end
end

local function project(name)
   return name == "sockhost" or name:match("^sockhost%.") or name:match("^helpers[%.]?")
      or name:match("^spec[%.]?")
end

for _, path in ipairs(files("scripts", "%.lua$")) do
   checked = checked + 1
   for _, dep in ipairs((requires(path))) do
      if project(dep) and not (dep == "sockhost" or (dep:match("^sockhost%.") and dep ~= "sockhost.core")) then
         violation('%s: require "%s": scripts use only "sockhost" and "sockhost.*"', rel(path), dep)
      end
   end
end

for _, dir in ipairs({ "bench", "scripts/bench" }) do
   for _, path in ipairs(files(dir, "%.lua$")) do
      checked = checked + 1
      local deps, text = requires(path)
      for _, dep in ipairs(deps) do
         if dep:match("^helpers[%.]?") or dep:match("^spec[%.]?") then
            violation('%s: require "%s": benchmarks never require spec/', rel(path), dep)
         end
      end
      if text:match("[\"'/]spec/") then
         violation("%s: names a path under spec/: benchmarks never reach into spec/", rel(path))
      end
   end
end

for _, v in ipairs(violations) do
   io.stderr:write("layering: ", v, "\n")
end
print(string.format("layering: %d files checked, %d violations", checked, #violations))
os.exit(#violations == 0 and 0 or 1)
