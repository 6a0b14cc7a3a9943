-- SPDX-License-Identifier: GPL-2.0
--- sockhost.testtool: `sockhost test [busted options] [DIR|FILE...]` runs busted under
-- sockhost's own Lua 5.4, so specs `require "sockhost"` and `sockhost.testing` with the
-- executable's modules and never meet Debian's /usr/bin/busted, a Lua 5.1 script. main.c
-- dispatches the subcommand here; this loads busted's runner from the Lua 5.4 path as
-- /usr/bin/busted does, with arg set to the command's words (busted's ROOT defaults to
-- spec/, and every option, --tags included, is busted's). Exit status is busted's: 0 when
-- everything passed, 1 otherwise (busted exits itself on failures).
--
--   local status = require("sockhost.testtool").main(arg)   -- arg[1..n]: the command's words
local M = {}

--- Run busted with the command's words (args[1..n]); returns 0 when every test passed (on a
-- failure or a bad option busted exits the process with 1).
function M.main(args)
   local ok, runner = pcall(require, "busted.runner")
   if not ok then
      io.stderr:write("sockhost test: busted for Lua 5.4 is not installed (apt-get install "
         .. "lua-busted): " .. tostring(runner):match("^[^\n]*") .. "\n")
      return 1
   end
   local words = { [0] = "sockhost test" }
   for i = 1, #args do words[i] = args[i] end
   _G.arg = words
   -- busted names itself after the chunk that calls it: this one is "sockhost test"
   local run = assert(load("local runner = ...; runner({ standalone = false })", "@sockhost test"))
   run(runner)
   return 0
end

return M
