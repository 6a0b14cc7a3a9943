/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lua/class.h: the handle class every sockhost Lua type is made from (Lua 5.4 liolib's
 * LStream and createmeta), and the few Lua-state helpers every layer shares: weak registry
 * tables, owner tracking, the one message handler. Only lua.h/lauxlib.h below this line.
 *
 * Lifetime rules:
 *  - every handle is a full userdata that starts with struct sh_handle; `live` is its one
 *    closed marker (NULL: closed). sh_handle_new pushes it closed; the caller fills it after
 *    the libbpf call succeeds (liolib's newprefile), so an error half way leaves a handle
 *    that __gc ignores;
 *  - borrowed handles (a program or map of an object) point at their parent's sh_handle and
 *    keep the parent alive through a user value; closing the parent closes them too, as far
 *    as every check is concerned;
 *  - one function serves __gc, __close and :close(); it calls the class's close once.
 */
#ifndef SOCKHOST_LUA_CLASS_H
#define SOCKHOST_LUA_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>

struct sh_handle {
	void *live; /* what the handle holds; NULL once closed */
	const struct sh_handle *parent; /* borrowed handles are closed with their parent */
};

struct sh_class {
	const char *name; /* metatable name: "sockhost.map" */
	/* Release what h (the userdata at stack index idx) holds. Called at most once, with
	 * h->live set; the class then sets h->live to NULL. */
	void (*close)(lua_State *L, int idx, struct sh_handle *h);
	/* __gc when it must differ from close (a dropped socket filter link stays attached);
	 * NULL: close. It decides itself whether to clear h->live. */
	void (*collect)(lua_State *L, int idx, struct sh_handle *h);
	/* Push what __tostring shows after the name of an open handle ("'conns' (hash, 128
	 * entries)"). NULL: the name alone. */
	void (*describe)(lua_State *L, struct sh_handle *h);
	const luaL_Reg *methods; /* the __index table; "close" is added unless present */
	/* Extra metamethods, set after the generic ones (so they may replace them). An
	 * __index here serves fields and finds methods with sh_class_method. */
	const luaL_Reg *meta;
};

/* Create the metatable of cls (idempotent per state). */
void sh_class_register(lua_State *L, const struct sh_class *cls);
/* Add fns to the method table of the class named mt, registered before: a layer above adds
 * its verbs to a class below (program:attach, obj:subscribe) instead of the class calling up. */
void sh_class_add_methods(lua_State *L, const char *mt, const luaL_Reg *fns);
/* Push cls's method k for the handle at idx (nil when none); for custom __index functions. */
int sh_class_method(lua_State *L, int idx, const char *k);

/* Push a new zeroed userdata of size bytes (a struct starting with struct sh_handle) with nuv
 * user values, closed, with cls's metatable. */
void *sh_handle_new(lua_State *L, const struct sh_class *cls, size_t size, int nuv);
/* Closed itself, or any parent closed. */
bool sh_handle_closed(const struct sh_handle *h);
/* The handle at idx, raising "attempt to use a closed <name>" when closed. */
void *sh_handle_check(lua_State *L, int idx, const struct sh_class *cls);
/* Close the handle at idx now (what :close() does). */
void sh_handle_close(lua_State *L, int idx, const struct sh_class *cls);

/* Push registry[key], a table with weak keys or values (mode "k" or "v") made on first use. */
void sh_push_weak_registry(lua_State *L, const char *key, const char *mode);

/* Owner tracking: the handle at owner_idx (whose user value 1 is a table) closes the handle
 * at child_idx when it closes itself (links, subscriptions). Weak: a collected child is gone. */
void sh_owner_track(lua_State *L, int owner_idx, int child_idx);
/* __close every tracked child of the owner at owner_idx that is still alive. */
void sh_owner_close_children(lua_State *L, int owner_idx);

/* lua.c's msghandler: a string message gets a traceback (unless it has one already: an error
 * a callback raised that the loop re-raises), an object with __tostring becomes that string
 * (a script's deliberate clean message), anything else "(error object is a <type> value)"
 * with a traceback. */
int sh_msghandler(lua_State *L);
/* lua_pcall of the function below nargs arguments with sh_msghandler. */
int sh_pcall(lua_State *L, int nargs, int nresults);
/* The same for callbacks the loop runs: their error is stored and raised later, far from
 * where it happened, so error objects with __tostring get the traceback too. */
int sh_pcall_traced(lua_State *L, int nargs, int nresults);

/* "a, b, c" lists for messages that say what exists. */
struct sh_names {
	luaL_Buffer b;
	int n;
};
void sh_names_init(lua_State *L, struct sh_names *nm);
void sh_names_add(struct sh_names *nm, const char *name);
/* Push the list ("" when empty). */
void sh_names_push(struct sh_names *nm);

#endif
