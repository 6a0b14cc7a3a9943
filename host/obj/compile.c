// SPDX-License-Identifier: GPL-2.0
/*
 * obj/compile.c: the Lua face of the compile cache (obj/compile.h). sockhost.open hands a
 * ".c" name here and opens the cached object instead; sockhost.compile(source [, name
 * [, opts]]) does the same for C text in a script or at the REPL; sockhost.cc(path) only
 * compiles and returns the cached object's path (what `sockhost cc` copies out). The
 * messages come from cc/ whole; this file only raises them, freeing them first.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "cc/cc.h"
#include "obj/compile.h"

bool sh_object_is_source(const char *name)
{
	size_t n = strlen(name);

	return n > 2 && !strcmp(name + n - 2, ".c");
}

static int raise_msg(lua_State *L, char *msg)
{
	luaL_where(L, 1);
	lua_pushstring(L, msg ? msg : "compile failed");
	free(msg);
	lua_concat(L, 2);
	return lua_error(L);
}

void sh_object_compile(lua_State *L, const char *src, char *path, size_t len)
{
	char *msg = NULL;

	if (sh_cc_file(src, path, len, &msg))
		raise_msg(L, msg);
	free(msg);
}

static int l_cc(lua_State *L)
{
	const char *src = luaL_checkstring(L, 1);
	char path[PATH_MAX];

	sh_object_compile(L, src, path, sizeof(path));
	lua_pushstring(L, path);
	return 1;
}

/* sockhost.compile(source [, name [, opts]]): upvalue 1 is sockhost.open */
static int l_compile(lua_State *L)
{
	size_t n;
	const char *text = luaL_checklstring(L, 1, &n);
	const char *name = luaL_optstring(L, 2, "inline");
	char path[PATH_MAX], *msg = NULL;

	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	lua_settop(L, 3);
	if (sh_cc_source(text, n, name, path, sizeof(path), &msg))
		return raise_msg(L, msg);
	free(msg);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushstring(L, path);
	lua_pushvalue(L, 3);
	lua_call(L, 2, 1);
	return 1;
}

int sh_compile_open(lua_State *L)
{
	lua_pushcfunction(L, l_cc);
	lua_setfield(L, -2, "cc");
	lua_getfield(L, -1, "open");
	lua_pushcclosure(L, l_compile, 1);
	lua_setfield(L, -2, "compile");
	return 0;
}
