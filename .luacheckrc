-- luacheck configuration for the whole tree (run by ctest when luacheck is installed)
std = "lua54"
max_line_length = 140
files["spec"] = { std = "+busted" }
-- to-be-closed handles (`local link <close> = ...`) are held for their scope, never read
ignore = { "211/link", "211/raw", "211/pinned", "211/events", "211/stats", "211/.*_guard" }
