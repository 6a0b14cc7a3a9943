// SPDX-License-Identifier: GPL-2.0
/*
 * lua/opts.c: option tables and ranged numbers at the Lua boundary (lua/opts.h). Stateless;
 * messages are built on the Lua stack, so a raise leaks nothing.
 */
#include <math.h>
#include <string.h>
#include <lauxlib.h>
#include "lua/class.h"
#include "lua/opts.h"

static void push_valid(lua_State *L, const char *const names[])
{
	struct sh_names nm;

	sh_names_init(L, &nm);
	for (int i = 0; names[i]; i++)
		sh_names_add(&nm, names[i]);
	sh_names_push(&nm);
}

int sh_opts_check(lua_State *L, int idx, const char *fname, const char *const names[])
{
	if (lua_isnoneornil(L, idx))
		return 0;
	idx = lua_absindex(L, idx);
	if (!lua_istable(L, idx))
		return luaL_error(L, "%s: options must be a table, got %s", fname,
				  luaL_typename(L, idx));
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int i = 0;

		while (k && names[i] && strcmp(k, names[i]))
			i++;
		if (!k || !names[i]) {
			const char *key = k ? lua_pushfstring(L, "'%s'", k) :
					      luaL_tolstring(L, -2, NULL);

			push_valid(L, names);
			return luaL_error(L, "%s: unknown option %s (valid: %s)", fname, key,
					  lua_tostring(L, -1));
		}
		lua_pop(L, 1);
	}
	return 1;
}

int sh_opt_get(lua_State *L, int idx, const char *fname, const char *key, int type,
	       const char *want)
{
	int t = lua_getfield(L, idx, key);

	if (t != LUA_TNIL && t != type)
		luaL_error(L, "%s: option '%s' must be %s, got %s", fname, key, want,
			   luaL_typename(L, -1));
	return t;
}

double sh_check_seconds(lua_State *L, int idx, const char *what)
{
	double secs = luaL_checknumber(L, idx);

	if (!(secs > 0))
		luaL_error(L, "%s must be > 0 seconds, got %f", what, secs);
	if (!(secs <= SH_SECONDS_MAX))
		luaL_error(L, "%s must be at most %d seconds (about 31 years), got %f", what,
			   (int)SH_SECONDS_MAX, secs);
	return secs;
}

lua_Integer sh_check_range(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *what)
{
	int isint = 0;
	lua_Integer n = lua_tointegerx(L, idx, &isint);

	if (!isint || n < lo || n > hi)
		luaL_error(L, "%s must be an integer from %I to %I, got %s", what, (LUAI_UACINT)lo,
			   (LUAI_UACINT)hi, luaL_tolstring(L, idx, NULL));
	return n;
}
