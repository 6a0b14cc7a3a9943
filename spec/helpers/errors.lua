-- SPDX-License-Identifier: GPL-2.0
--- Error assertions for specs. sockhost raises like Lua's own libraries do: the message is
-- prefixed with the caller's "file:line: ", which these helpers strip so specs compare the
-- message itself, whole.
local M = {}

--- The message fn raised (location stripped; error tables give .message), or fails the spec.
function M.message(fn, ...)
   local ok, err = pcall(fn, ...)
   assert(not ok, "expected an error, got none")
   if type(err) == "table" then err = err.message end
   assert(type(err) == "string", "error is not a string: " .. tostring(err))
   return (err:gsub("^[^\n:]+:%d+: ", "", 1))
end

--- Assert fn raises exactly expected (after the location prefix).
function M.raises(fn, expected)
   local got = M.message(fn)
   if got ~= expected then
      error(("error message differs\nexpected: %s\n     got: %s"):format(expected, got), 2)
   end
end

return M
