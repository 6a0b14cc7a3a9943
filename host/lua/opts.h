/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lua/opts.h: option tables and numeric arguments checked like arguments: an unknown key
 * names itself and lists the valid ones, a wrong type or range names the option, before any
 * conversion can go wrong (a float to time_t, say).
 */
#ifndef SOCKHOST_LUA_OPTS_H
#define SOCKHOST_LUA_OPTS_H

#include <lua.h>

/* Longest duration or interval sockhost takes, in seconds (about 31 years). */
#define SH_SECONDS_MAX 1e9

/* The value at idx must be nil/none or a table whose keys are all in names (NULL-ended);
 * raises "<fname>: unknown option 'x' (valid: a, b, c)" or "<fname>: options must be a
 * table, got <type>". Returns whether there is a table. */
int sh_opts_check(lua_State *L, int idx, const char *fname, const char *const names[]);
/* Push opts[key] (idx a table) and raise "<fname>: option '<key>' must be <want>, got
 * <type>" unless its type is type (nil always passes). Returns the type pushed. */
int sh_opt_get(lua_State *L, int idx, const char *fname, const char *key, int type,
	       const char *want);
/* A number of seconds at idx in (0, SH_SECONDS_MAX], or raise "<what> must be > 0 seconds,
 * got x" / "<what> must be at most 1e+09 seconds, got x". */
double sh_check_seconds(lua_State *L, int idx, const char *what);
/* An integer at idx in [lo, hi], or raise "<what> must be an integer from lo to hi, got x". */
lua_Integer sh_check_range(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *what);

#endif
