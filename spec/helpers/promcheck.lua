-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/promcheck.lua: the exposition checkers the metrics specs hold rendered text
-- to, both from Debian packages (scripts/install-deps.sh):
--   promtool(text) -> exit code, output of `promtool check metrics` (prometheus; text 0.0.4)
--   openmetrics(text) -> "name:type name:type ...\n" of the families prometheus_client's
--       strict OpenMetrics parser read (python3-prometheus-client), or its traceback
--   have_promtool(), have_openmetrics() -> whether each is installed
local M = {}

local function with_file(text, fn)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
   local ok, a, b = pcall(fn, path)
   os.remove(path)
   assert(ok, a)
   return a, b
end

function M.have_promtool()
   return os.execute("command -v promtool >/dev/null") == true
end

function M.have_openmetrics()
   return os.execute("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") == true
end

function M.promtool(text)
   return with_file(text, function(path)
      local p = io.popen("promtool check metrics < " .. path .. " 2>&1")
      local out = p:read("a")
      local ok, _, code = p:close()
      return ok and 0 or code, out
   end)
end

-- /usr/bin/python3: Debian's, which has the package (a python3 earlier on PATH may not)
local PARSE = "import sys\n"
   .. "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
   .. "print(' '.join(m.name + ':' + m.type for m in p(open(sys.argv[1]).read())))"

function M.openmetrics(text)
   return (with_file(text, function(path)
      local p = io.popen(("/usr/bin/python3 -c \"%s\" %s 2>&1"):format(PARSE, path))
      local out = p:read("a")
      p:close()
      return out
   end))
end

return M
