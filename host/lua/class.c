// SPDX-License-Identifier: GPL-2.0
/*
 * lua/class.c: the handle class (lua/class.h). The generic metamethods are closures over the
 * struct sh_class (a static const table of the type's file), so one __gc/__close/__tostring
 * serves every type. Nothing here is per process: metatables and tables live in the state.
 */
#include <string.h>
#include "lua/class.h"

#define OWNED_FIELD "owned" /* in the owner's user value 1 */

static const struct sh_class *upclass(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

bool sh_handle_closed(const struct sh_handle *h)
{
	for (; h; h = h->parent)
		if (!h->live)
			return true;
	return false;
}

void *sh_handle_check(lua_State *L, int idx, const struct sh_class *cls)
{
	struct sh_handle *h = luaL_checkudata(L, idx, cls->name);

	if (sh_handle_closed(h))
		luaL_error(L, "attempt to use a closed %s", cls->name);
	return h;
}

void sh_handle_close(lua_State *L, int idx, const struct sh_class *cls)
{
	struct sh_handle *h = luaL_checkudata(L, idx, cls->name);

	if (!h->live)
		return;
	cls->close(L, lua_absindex(L, idx), h);
	h->live = NULL;
}

void *sh_handle_new(lua_State *L, const struct sh_class *cls, size_t size, int nuv)
{
	struct sh_handle *h = lua_newuserdatauv(L, size, nuv);

	memset(h, 0, size);
	luaL_setmetatable(L, cls->name);
	return h;
}

static int g_close(lua_State *L)
{
	sh_handle_close(L, 1, upclass(L));
	return 0;
}

static int g_gc(lua_State *L)
{
	const struct sh_class *cls = upclass(L);
	struct sh_handle *h = luaL_checkudata(L, 1, cls->name);

	if (!h->live)
		return 0;
	if (cls->collect) {
		cls->collect(L, 1, h);
		return 0;
	}
	cls->close(L, 1, h);
	h->live = NULL;
	return 0;
}

static int g_tostring(lua_State *L)
{
	const struct sh_class *cls = upclass(L);
	struct sh_handle *h = luaL_checkudata(L, 1, cls->name);

	if (sh_handle_closed(h)) {
		lua_pushfstring(L, "%s (closed)", cls->name);
	} else if (cls->describe) {
		lua_pushstring(L, cls->name);
		lua_pushliteral(L, " ");
		cls->describe(L, h);
		lua_concat(L, 3);
	} else {
		lua_pushstring(L, cls->name);
	}
	return 1;
}

void sh_class_register(lua_State *L, const struct sh_class *cls)
{
	static const luaL_Reg generic[] = {
		{ "__gc", g_gc },
		{ "__close", g_close },
		{ "__tostring", g_tostring },
		{ NULL, NULL },
	};

	if (!luaL_newmetatable(L, cls->name)) {
		lua_pop(L, 1);
		return;
	}
	lua_pushlightuserdata(L, (void *)cls);
	luaL_setfuncs(L, generic, 1);
	lua_newtable(L);
	if (cls->methods)
		luaL_setfuncs(L, cls->methods, 0);
	if (lua_getfield(L, -1, "close") == LUA_TNIL) {
		lua_pushlightuserdata(L, (void *)cls);
		lua_pushcclosure(L, g_close, 1);
		lua_setfield(L, -3, "close");
	}
	lua_pop(L, 1);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__index");
	lua_setfield(L, -2, "methods");
	if (cls->meta) {
		lua_pushlightuserdata(L, (void *)cls);
		luaL_setfuncs(L, cls->meta, 1);
	}
	lua_pop(L, 1);
}

void sh_class_add_methods(lua_State *L, const char *mt, const luaL_Reg *fns)
{
	if (luaL_getmetatable(L, mt) != LUA_TTABLE || lua_getfield(L, -1, "methods") != LUA_TTABLE)
		luaL_error(L, "sockhost: class %s is not registered yet", mt);
	luaL_setfuncs(L, fns, 0);
	lua_pop(L, 2);
}

int sh_class_method(lua_State *L, int idx, const char *k)
{
	if (luaL_getmetafield(L, idx, "methods") == LUA_TNIL) {
		lua_pushnil(L);
		return LUA_TNIL;
	}
	int t = lua_getfield(L, -1, k);

	lua_remove(L, -2);
	return t;
}

void sh_push_weak_registry(lua_State *L, const char *key, const char *mode)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushstring(L, mode);
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, key);
}

void sh_owner_track(lua_State *L, int owner_idx, int child_idx)
{
	owner_idx = lua_absindex(L, owner_idx);
	child_idx = lua_absindex(L, child_idx);
	if (lua_getiuservalue(L, owner_idx, 1) != LUA_TTABLE)
		luaL_error(L, "sockhost: an owner's user value 1 must be a table");
	if (lua_getfield(L, -1, OWNED_FIELD) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "k");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, OWNED_FIELD);
	}
	lua_pushvalue(L, child_idx);
	lua_pushboolean(L, 1);
	lua_settable(L, -3);
	lua_pop(L, 2);
}

void sh_owner_close_children(lua_State *L, int owner_idx)
{
	int top = lua_gettop(L);

	if (lua_getiuservalue(L, owner_idx, 1) == LUA_TTABLE &&
	    lua_getfield(L, -1, OWNED_FIELD) == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			lua_pop(L, 1);
			if (luaL_callmeta(L, -1, "__close"))
				lua_pop(L, 1);
		}
	}
	lua_settop(L, top);
}

/* Upvalue 1 (when present and true): give error objects with __tostring a traceback too. */
int sh_msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
			if (!lua_toboolean(L, lua_upvalueindex(1)))
				return 1; /* that is the message */
			msg = lua_tostring(L, -1);
		} else {
			msg = lua_pushfstring(L, "(error object is a %s value)",
					      luaL_typename(L, 1));
		}
	} else if (strstr(msg, "\nstack traceback:\n")) {
		return 1; /* a callback's error re-raised by the loop already has its traceback */
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static int pcall_with(lua_State *L, int nargs, int nresults, bool trace_objects)
{
	int base = lua_gettop(L) - nargs;
	int status;

	lua_pushboolean(L, trace_objects);
	lua_pushcclosure(L, sh_msghandler, 1);
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	return status;
}

int sh_pcall(lua_State *L, int nargs, int nresults)
{
	return pcall_with(L, nargs, nresults, false);
}

int sh_pcall_traced(lua_State *L, int nargs, int nresults)
{
	return pcall_with(L, nargs, nresults, true);
}

void sh_names_init(lua_State *L, struct sh_names *nm)
{
	luaL_buffinit(L, &nm->b);
	nm->n = 0;
}

void sh_names_add(struct sh_names *nm, const char *name)
{
	if (nm->n++)
		luaL_addstring(&nm->b, ", ");
	luaL_addstring(&nm->b, name);
}

void sh_names_push(struct sh_names *nm)
{
	luaL_pushresult(&nm->b);
}
