// SPDX-License-Identifier: GPL-2.0
/*
 * obj/object.c: sockhost.object (obj/object.h): sockhost.open, the options applied between
 * open and load, the child handles (programs, maps) it hands out and caches, fields and
 * close. Path resolution is obj/path.c, BPF C (a name ending in ".c") obj/compile.c, globals
 * obj/globals.c, loading obj/load.c.
 *
 * Closing an object first closes what it owns (links, subscriptions: sh_owner_track) while
 * their fds are still valid, then the bpf_object; cached children then read as closed
 * through their h.parent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/libbpf_log.h"
#include "btf/codec.h"
#include "btf/validate.h"
#include "lua/class.h"
#include "lua/opts.h"
#include "obj/compile.h"
#include "obj/globals.h"
#include "obj/guard.h"
#include "obj/load.h"
#include "obj/map.h"
#include "obj/object.h"
#include "obj/path.h"
#include "obj/program.h"
#include "obj/ringsize.h"

struct sh_object *sh_object_check(lua_State *L, int idx)
{
	return sh_handle_check(L, idx, &sh_object_class);
}

static const char *object_name(struct sh_object *o)
{
	return bpf_object__name(sh_object_bpf(o));
}

/* uv[field] of the object at idx, pushed (creating an empty table on first use). */
static void push_uv_table(lua_State *L, int idx, const char *field)
{
	idx = lua_absindex(L, idx);
	lua_getiuservalue(L, idx, 1);
	if (lua_getfield(L, -1, field) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, field);
	}
	lua_remove(L, -2);
}

/* ---- children ------------------------------------------------------------------------------ */

static void push_program_names(lua_State *L, struct sh_object *o)
{
	struct bpf_program *p;
	struct sh_names nm;

	sh_names_init(L, &nm);
	bpf_object__for_each_program(p, sh_object_bpf(o))
		sh_names_add(&nm, bpf_program__name(p));
	sh_names_push(&nm);
}

static void push_map_names(lua_State *L, struct sh_object *o)
{
	struct bpf_map *m;
	struct sh_names nm;

	sh_names_init(L, &nm);
	bpf_object__for_each_map(m, sh_object_bpf(o))
		if (!bpf_map__is_internal(m))
			sh_names_add(&nm, bpf_map__name(m));
	sh_names_push(&nm);
}

static struct bpf_program *find_program(lua_State *L, struct sh_object *o, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(sh_object_bpf(o), name);

	if (!p) {
		push_program_names(L, o);
		luaL_error(L, "object '%s' has no program '%s' (programs: %s)", object_name(o),
			   name, lua_tostring(L, -1));
	}
	return p;
}

static struct bpf_map *find_map(lua_State *L, struct sh_object *o, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(sh_object_bpf(o), name);

	if (!m || bpf_map__is_internal(m)) {
		push_map_names(L, o);
		luaL_error(L, "object '%s' has no map '%s' (maps: %s)", object_name(o), name,
			   lua_tostring(L, -1));
	}
	return m;
}

/* Cached child handle uv[kind][name], made by push when absent or closed by the script (then
 * a fresh one is handed out). */
static void push_child(lua_State *L, const char *kind, const char *name,
		       void (*push)(lua_State *, int, void *), void *child)
{
	push_uv_table(L, 1, kind);
	if (lua_getfield(L, -1, name) == LUA_TNIL || sh_handle_closed(lua_touserdata(L, -1))) {
		lua_pop(L, 1);
		push(L, 1, child);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, name);
	}
	lua_remove(L, -2);
}

static void push_prog_cb(lua_State *L, int obj_idx, void *p)
{
	sh_push_program(L, obj_idx, p);
}

static void push_map_cb(lua_State *L, int obj_idx, void *m)
{
	sh_push_map(L, obj_idx, m);
}

static int l_program(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	const char *name = luaL_checkstring(L, 2);

	push_child(L, "progs", name, push_prog_cb, find_program(L, o, name));
	return 1;
}

static int l_map(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	const char *name = luaL_checkstring(L, 2);

	push_child(L, "maps", name, push_map_cb, find_map(L, o, name));
	return 1;
}

static int l_programs(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	struct bpf_program *p;
	int i = 0;

	lua_newtable(L);
	bpf_object__for_each_program(p, sh_object_bpf(o)) {
		push_child(L, "progs", bpf_program__name(p), push_prog_cb, p);
		lua_rawseti(L, -2, ++i);
	}
	return 1;
}

static int l_maps(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	struct bpf_map *m;
	int i = 0;

	lua_newtable(L);
	bpf_object__for_each_map(m, sh_object_bpf(o)) {
		if (bpf_map__is_internal(m))
			continue;
		push_child(L, "maps", bpf_map__name(m), push_map_cb, m);
		lua_rawseti(L, -2, ++i);
	}
	return 1;
}

/* ---- options applied between open and load ------------------------------------------------ */

static void apply_programs(lua_State *L, int obj_idx, int list_idx)
{
	struct sh_object *o = sh_object_check(L, obj_idx);
	struct bpf_program *p;
	lua_Integer n = luaL_len(L, list_idx);

	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, list_idx, i);
		find_program(L, o, luaL_checkstring(L, -1));
		lua_pop(L, 1);
	}
	bpf_object__for_each_program(p, sh_object_bpf(o)) {
		bool want = false;

		for (lua_Integer i = 1; i <= n && !want; i++) {
			lua_geti(L, list_idx, i);
			want = !strcmp(lua_tostring(L, -1), bpf_program__name(p));
			lua_pop(L, 1);
		}
		bpf_program__set_autoload(p, want);
	}
}

static void apply_maps(lua_State *L, int obj_idx, int tbl_idx)
{
	struct sh_object *o = sh_object_check(L, obj_idx);

	static const char *const map_opts[] = { "max_entries", NULL };

	lua_pushnil(L);
	while (lua_next(L, tbl_idx)) {
		struct bpf_map *m = find_map(L, o, luaL_checkstring(L, -2));
		int v = lua_gettop(L);
		const char *fname =
			lua_pushfstring(L, "sockhost.open: maps['%s']", bpf_map__name(m));

		if (!lua_istable(L, v))
			luaL_error(L, "%s must be a table such as {max_entries = n}, got %s", fname,
				   luaL_typename(L, v));
		sh_opts_check(L, v, fname, map_opts);
		lua_pop(L, 1); /* fname */
		if (lua_getfield(L, v, "max_entries") != LUA_TNIL) {
			lua_Integer n;

			lua_pushfstring(L, "sockhost.open: maps['%s'].max_entries",
					bpf_map__name(m));
			n = sh_check_range(L, -2, 1, UINT32_MAX, lua_tostring(L, -1));
			lua_pop(L, 1);
			if (bpf_map__set_max_entries(m, (__u32)n))
				sh_raise_errno(L, errno, NULL, "map '%s': max_entries",
					       bpf_map__name(m));
		}
		lua_pop(L, 2);
	}
}

static void apply_globals(lua_State *L, struct sh_object *o, int tbl_idx)
{
	lua_pushnil(L);
	while (lua_next(L, tbl_idx)) {
		sh_globals_set(L, o, luaL_checkstring(L, -2), lua_gettop(L));
		lua_pop(L, 1);
	}
}

/* Apply opts (at opts_idx, checked) to the object at obj_idx; false when opts.load is false. */
static bool apply_opts(lua_State *L, int obj_idx, int opts_idx)
{
	bool load;

	if (sh_opt_get(L, opts_idx, "sockhost.open", "programs", LUA_TTABLE,
		       "a table of program names") != LUA_TNIL)
		apply_programs(L, obj_idx, lua_gettop(L));
	lua_pop(L, 1);
	if (sh_opt_get(L, opts_idx, "sockhost.open", "maps", LUA_TTABLE,
		       "a table of {max_entries = n} by map name") != LUA_TNIL)
		apply_maps(L, obj_idx, lua_gettop(L));
	lua_pop(L, 1);
	if (sh_opt_get(L, opts_idx, "sockhost.open", "globals", LUA_TTABLE,
		       "a table of values by global name") != LUA_TNIL)
		apply_globals(L, lua_touserdata(L, obj_idx), lua_gettop(L));
	lua_pop(L, 1);
	load = sh_opt_get(L, opts_idx, "sockhost.open", "load", LUA_TBOOLEAN, "a boolean") ==
		       LUA_TNIL ||
	       lua_toboolean(L, -1);
	lua_pop(L, 1);
	return load;
}

/* ---- open ---------------------------------------------------------------------------------- */

static int l_open(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	struct bpf_object *obj;
	struct sh_object *o;
	char path[PATH_MAX];
	int obj_idx, err;
	bool builtin;

	static const char *const open_opts[] = { "programs", "maps", "globals", "load", NULL };

	sh_opts_check(L, 2, "sockhost.open", open_opts);
	lua_settop(L, 2);
	/* BPF C: the object compiled from it, or found in the compile cache */
	if (sh_object_is_source(name)) {
		sh_object_compile(L, name, path, sizeof(path));
		builtin = false;
	} else {
		builtin = sh_object_resolve(L, name, path, sizeof(path));
	}
	/* closed handle first, then the libbpf call (liolib's newprefile); it takes the path's
	 * bytes only, not PATH_MAX of them */
	o = sh_handle_new(L, &sh_object_class, sizeof(*o) + strlen(path) + 1, 1);
	memcpy(o->path, path, strlen(path) + 1);
	obj_idx = lua_gettop(L);
	lua_newtable(L);
	lua_setiuservalue(L, obj_idx, 1);
	sh_object_check_elf(L, o->path);
	if (!builtin) {
		char why[512];
		int rc = sh_object_trial_open(o->path, &err, why, sizeof(why));

		if (rc < 0)
			return luaL_error(L, "object '%s': malformed object: %s", o->path, why);
		if (rc > 0)
			return sh_raise_errno(L, err, sh_libbpf_hint(why),
					      "object '%s': cannot open%s%s", o->path,
					      *why ? ": " : "", why);
	}

	sh_libbpf_log_reset();
	obj = bpf_object__open_file(o->path, &oopts);
	err = errno;
	if (!obj) {
		const char *last = sh_libbpf_last_log();

		return sh_raise_errno(L, err, sh_libbpf_hint(last), "object '%s': cannot open%s%s",
				      o->path, *last ? ": " : "", last);
	}
	o->h.live = obj;
	o->btf = bpf_object__btf(obj);
	if (o->btf) {
		char why[256];

		/* every byte of the BTF is the object's to choose: check what sockhost relies on
		 * before the codec, the globals or the names code index memory with it */
		if (sh_btf_validate(o->btf, why, sizeof(why)))
			return luaL_error(L, "object '%s': malformed BTF: %s", o->path, why);
		o->codecs = sh_codec_cache_new(o->btf);
	}

	if (sh_rings_autosize(obj))
		return luaL_error(L,
				  "object '%s': SOCKHOST_RING_SIZE must be a power of 2 from %d "
				  "to 2147483648 bytes, got '%s'",
				  o->path, (int)sysconf(_SC_PAGESIZE),
				  getenv("SOCKHOST_RING_SIZE"));
	if (lua_istable(L, 2) && !apply_opts(L, obj_idx, 2))
		return 1;
	sh_object_load(L, obj_idx);
	lua_settop(L, obj_idx);
	return 1;
}

/* ---- methods and fields -------------------------------------------------------------------- */

static int l_load(lua_State *L)
{
	sh_object_load(L, 1);
	lua_settop(L, 1);
	return 1;
}

static void object_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_object *o = (struct sh_object *)h;

	/* detach links and end subscriptions made from this object before its fds go away */
	sh_owner_close_children(L, idx);
	sh_globals_unmap(o);
	bpf_object__close(sh_object_bpf(o));
	sh_codec_cache_free(o->codecs);
	o->codecs = NULL;
	o->btf = NULL;
}

static void object_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_object *o = (struct sh_object *)h;

	lua_pushfstring(L, "'%s' (%s, %s)", object_name(o), o->path,
			o->loaded ? "loaded" : "not loaded");
}

static int l_index(lua_State *L)
{
	struct sh_object *o = luaL_checkudata(L, 1, SH_OBJECT_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "globals")) {
		sh_object_check(L, 1);
		sh_globals_push_proxy(L, 1);
	} else if (!strcmp(k, "name")) {
		sh_object_check(L, 1);
		lua_pushstring(L, object_name(o));
	} else if (!strcmp(k, "path")) {
		lua_pushstring(L, o->path);
	} else if (!strcmp(k, "loaded")) {
		lua_pushboolean(L, o->h.live && o->loaded);
	} else {
		sh_class_method(L, 1, k);
	}
	return 1;
}

static const luaL_Reg object_methods[] = {
	{ "load", l_load },	    { "program", l_program }, { "map", l_map },
	{ "programs", l_programs }, { "maps", l_maps },	      { NULL, NULL },
};

static const luaL_Reg object_meta[] = {
	{ "__index", l_index },
	{ NULL, NULL },
};

const struct sh_class sh_object_class = {
	.name = SH_OBJECT_MT,
	.close = object_close,
	.describe = object_describe,
	.methods = object_methods,
	.meta = object_meta,
};

int sh_object_open(lua_State *L)
{
	sh_class_register(L, &sh_object_class);
	lua_pushcfunction(L, l_open);
	lua_setfield(L, -2, "open");
	return 0;
}
