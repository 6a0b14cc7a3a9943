// SPDX-License-Identifier: GPL-2.0
/*
 * obj/map/map.c: sockhost.map (obj/map.h). This file owns the handle: creation, the BTF
 * codecs resolved once per handle, fields, metamethods and the single-element operations
 * (lookup, update, delete, lookup_and_delete). Keys and values are converted in values.c,
 * walks live in walk.c and what only some kinds have in kinds.c (map_int.h lists them);
 * pinning is obj/pin.c.
 *
 * A handle whose object was closed, or that was closed itself, raises "attempt to use a
 * closed sockhost.map" on every use except tostring and the name field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "btf/names.h"
#include "btf/validate.h"
#include "obj/map/map_int.h"
#include "obj/object.h"

const char *sh_map_type_name(enum bpf_map_type t)
{
	const char *s = libbpf_bpf_map_type_str(t);

	return s ? s : "unknown";
}

bool sh_map_is_closed(const struct sh_map *m)
{
	return sh_handle_closed(&m->h);
}

int sh_map_fd(lua_State *L, struct sh_map *m)
{
	int fd;

	if (m->owned)
		return m->fd;
	fd = bpf_map__fd(m->map);
	if (fd < 0)
		luaL_error(L, "map '%s' is not loaded yet (call obj:load() first)", m->name);
	return fd;
}

static void resolve_codecs(lua_State *L, struct sh_map *m, struct sh_codec_cache *cache)
{
	char err[256];

	if (!cache)
		return;
	if (m->btf_key_id) {
		m->key_codec = sh_codec_get(cache, m->btf_key_id, err, sizeof(err));
		if (!m->key_codec)
			luaL_error(L, "map '%s' key: %s", m->name, err);
	}
	if (m->btf_value_id) {
		m->value_codec = sh_codec_get(cache, m->btf_value_id, err, sizeof(err));
		if (!m->value_codec)
			luaL_error(L, "map '%s' value: %s", m->name, err);
	}
}

struct sh_map *sh_map_check(lua_State *L, int idx)
{
	struct sh_map *m = sh_handle_check(L, idx, &sh_map_class);

	if (!m->owned) {
		/* sizes may change until load (resize), so read them from libbpf each time */
		m->max_entries = bpf_map__max_entries(m->map);
	}
	return m;
}

struct sh_codec_cache *sh_map_codecs(struct sh_map *m)
{
	return m->owned ? m->own_codecs : (m->parent ? m->parent->codecs : NULL);
}

const struct btf *sh_map_btf(struct sh_map *m)
{
	return m->owned ? m->own_btf : (m->parent ? m->parent->btf : NULL);
}

/* The codec's error prefixes for this map, made once per handle. */
static void sh_map_name_prefixes(struct sh_map *m)
{
	snprintf(m->what_key, sizeof(m->what_key), "map '%s' key", m->name);
	snprintf(m->what_value, sizeof(m->what_value), "map '%s' value", m->name);
}

/*
 * libbpf 1.1 creates sockmap/sockhash (and a few other kinds) without BTF and reports key and
 * value type id 0, but the object's own BTF still describes the map definition: the .maps
 * DATASEC holds a var named after the map whose struct has `key` and `value` members that
 * point to the declared types (__type(key, T) is `typeof(T) *key`). Recover them from there.
 */
static __u32 maps_member_type(const struct btf *btf, const char *map, const char *member)
{
	__s32 sec = btf__find_by_name_kind(btf, ".maps", BTF_KIND_DATASEC);
	const struct btf_var_secinfo *vs;
	const struct btf_type *t;

	if (sec < 0)
		return 0;
	t = btf__type_by_id(btf, sec);
	vs = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);
		const struct btf_type *def;
		const struct btf_member *m;

		if (strcmp(btf__name_by_offset(btf, var->name_off), map))
			continue;
		__u32 def_id = var->type;

		def = sh_btf_peel(btf, &def_id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);
		if (!def || !btf_is_struct(def))
			return 0;
		m = btf_members(def);
		for (int j = 0; j < btf_vlen(def); j++, m++) {
			const struct btf_type *ptr = btf__type_by_id(btf, m->type);

			if (!strcmp(btf__name_by_offset(btf, m->name_off), member) &&
			    btf_is_ptr(ptr))
				return ptr->type;
		}
		return 0;
	}
	return 0;
}

void sh_push_map(lua_State *L, int obj_idx, struct bpf_map *map)
{
	struct sh_map *m;

	obj_idx = lua_absindex(L, obj_idx);
	m = sh_handle_new(L, &sh_map_class, sizeof(*m), 1);
	m->fd = -1;
	lua_pushvalue(L, obj_idx);
	lua_setiuservalue(L, -2, 1);
	m->parent = sh_object_check(L, obj_idx);
	m->h.parent = &m->parent->h;
	m->map = map;
	m->type = bpf_map__type(map);
	m->key_size = bpf_map__key_size(map);
	m->value_size = bpf_map__value_size(map);
	m->max_entries = bpf_map__max_entries(map);
	m->map_flags = bpf_map__map_flags(map);
	m->btf_key_id = bpf_map__btf_key_type_id(map);
	m->btf_value_id = bpf_map__btf_value_type_id(map);
	snprintf(m->name, sizeof(m->name), "%s", bpf_map__name(map));
	sh_map_name_prefixes(m);
	m->h.live = m;
	if (m->parent->btf && !m->btf_key_id && !m->btf_value_id) {
		m->btf_key_id = maps_member_type(m->parent->btf, m->name, "key");
		m->btf_value_id = maps_member_type(m->parent->btf, m->name, "value");
	}
	resolve_codecs(L, m, m->parent->codecs);
}

void sh_push_owned_map(lua_State *L, int fd, const struct bpf_map_info *info)
{
	struct sh_map *m;

	m = sh_handle_new(L, &sh_map_class, sizeof(*m), 1);
	m->fd = fd;
	m->owned = true;
	m->h.live = m;
	m->type = info->type;
	m->key_size = info->key_size;
	m->value_size = info->value_size;
	m->max_entries = info->max_entries;
	m->map_flags = info->map_flags;
	snprintf(m->name, sizeof(m->name), "%s", info->name);
	sh_map_name_prefixes(m);
	if (info->btf_id) {
		char why[256];

		m->own_btf = btf__load_from_kernel_by_id(info->btf_id);
		if (m->own_btf && sh_btf_validate(m->own_btf, why, sizeof(why)))
			luaL_error(L, "map '%s': malformed BTF: %s", m->name, why);
		if (m->own_btf) {
			m->btf_key_id = info->btf_key_type_id;
			m->btf_value_id = info->btf_value_type_id;
			m->own_codecs = sh_codec_cache_new(m->own_btf);
			resolve_codecs(L, m, m->own_codecs);
		}
	}
}

/* ---- single elements ---------------------------------------------------------------------- */

static int map_lookup(lua_State *L, struct sh_map *m, int kidx, bool percpu)
{
	int fd = sh_map_fd(L, m);
	void *key, *val;

	sh_map_require(L, m, SH_MAP_OP_LOOKUP, "look up");
	key = sh_map_encode_key(L, m, kidx);
	val = lua_newuserdatauv(L, sh_map_value_bytes(m) ? sh_map_value_bytes(m) : 1, 0);
	if (bpf_map_lookup_elem(fd, key, val) < 0) {
		if (errno == ENOENT) {
			lua_pushnil(L);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': lookup", m->name);
	}
	sh_map_push_value(L, m, val, percpu, NULL);
	return 1;
}

static int parse_flags(lua_State *L, int idx)
{
	static const char *const names[] = { "any", "noexist", "exist", NULL };
	static const int flags[] = { BPF_ANY, BPF_NOEXIST, BPF_EXIST };

	return flags[luaL_checkoption(L, idx, "any", names)];
}

/* Encode everything first: a bad key or value raises before the map is touched. */
static int map_update(lua_State *L, struct sh_map *m, int kidx, int vidx, int flags, bool percpu)
{
	int fd = sh_map_fd(L, m);
	void *key, *val;

	sh_map_require(L, m, SH_MAP_OP_UPDATE, "update");
	vidx = lua_absindex(L, vidx);
	key = sh_map_encode_key(L, m, kidx);
	sh_map_check_index(L, m, key, "update");
	val = sh_map_encode_value(L, m, vidx, percpu);
	if (bpf_map_update_elem(fd, key, val, flags) < 0)
		return sh_map_update_failed(L, m, errno, flags, vidx);
	return 0;
}

static int map_delete(lua_State *L, struct sh_map *m, int kidx)
{
	int fd = sh_map_fd(L, m);
	void *key;

	sh_map_require(L, m, SH_MAP_OP_DELETE, "delete");
	key = sh_map_encode_key(L, m, kidx);
	sh_map_check_index(L, m, key, "delete");
	if (bpf_map_delete_elem(fd, key) < 0) {
		/* an empty sockmap slot answers EINVAL, not ENOENT */
		if (errno == ENOENT || (errno == EINVAL && m->type == BPF_MAP_TYPE_SOCKMAP)) {
			lua_pushboolean(L, 0);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': delete", m->name);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* m:lookup(k [, {percpu = true}]) -> value or nil */
static int l_lookup(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	luaL_checkany(L, 2);
	sh_map_opts(L, m, 3, &o, "percpu");
	return map_lookup(L, m, 2, o.percpu);
}

/* m:update(k, v [, "any"|"noexist"|"exist" [, {percpu = true}]]) */
static int l_update(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	sh_map_opts(L, m, 5, &o, "percpu");
	map_update(L, m, 2, 3, parse_flags(L, 4), o.percpu);
	return 0;
}

static int l_delete(lua_State *L)
{
	luaL_checkany(L, 2);
	return map_delete(L, sh_map_check(L, 1), 2);
}

/* m:lookup_and_delete(k [, {percpu = true}]) -> value or nil, atomically */
static int l_lookup_and_delete(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;
	void *key, *val;
	int fd;

	luaL_checkany(L, 2);
	sh_map_opts(L, m, 3, &o, "percpu");
	sh_map_require(L, m, SH_MAP_OP_LOOKUP_DELETE, "look up and delete");
	fd = sh_map_fd(L, m);
	key = sh_map_encode_key(L, m, 2);
	val = lua_newuserdatauv(L, sh_map_value_bytes(m), 0);
	if (bpf_map_lookup_and_delete_elem(fd, key, val) < 0) {
		if (errno == ENOENT) {
			lua_pushnil(L);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': lookup_and_delete", m->name);
	}
	sh_map_push_value(L, m, val, o.percpu, NULL);
	return 1;
}

static int l_resize(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	lua_Integer n = luaL_checkinteger(L, 2);

	if (m->owned || bpf_map__fd(m->map) >= 0)
		return luaL_error(L, "map '%s': resize only works before load", m->name);
	if (n <= 0 || n > UINT32_MAX)
		return luaL_error(L, "map '%s': max_entries %I out of range", m->name, n);
	if (bpf_map__set_max_entries(m->map, (__u32)n))
		return sh_raise_errno(L, errno, NULL, "map '%s': resize", m->name);
	m->max_entries = (__u32)n;
	lua_settop(L, 1);
	return 1;
}

/* ---- metamethods -------------------------------------------------------------------------- */

static int l_index(lua_State *L)
{
	struct sh_map *m = luaL_checkudata(L, 1, SH_MAP_MT);

	if (lua_type(L, 2) == LUA_TSTRING) {
		const char *k = lua_tostring(L, 2);

		/* methods and fields win over string keys: use m:lookup(k) for those */
		if (sh_class_method(L, 1, k) != LUA_TNIL)
			return 1;
		lua_pop(L, 1);
		if (!strcmp(k, "name")) {
			lua_pushstring(L, m->name);
			return 1;
		}
		sh_map_check(L, 1);
		if (!strcmp(k, "type")) {
			lua_pushstring(L, sh_map_type_name(m->type));
			return 1;
		} else if (!strcmp(k, "key_size")) {
			lua_pushinteger(L, m->key_size);
			return 1;
		} else if (!strcmp(k, "value_size")) {
			lua_pushinteger(L, m->value_size);
			return 1;
		} else if (!strcmp(k, "max_entries")) {
			lua_pushinteger(L, m->max_entries);
			return 1;
		} else if (!strcmp(k, "fd")) {
			lua_pushinteger(L, sh_map_fd(L, m));
			return 1;
		}
	}
	return map_lookup(L, sh_map_check(L, 1), 2, false);
}

static int l_newindex(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);

	if (lua_isnil(L, 3)) {
		map_delete(L, m, 2);
		return 0;
	}
	return map_update(L, m, 2, 3, BPF_ANY, false);
}

static void map_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_map *m = (struct sh_map *)h;

	if (m->owned && m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	sh_codec_cache_free(m->own_codecs);
	m->own_codecs = NULL;
	btf__free(m->own_btf);
	m->own_btf = NULL;
	m->key_codec = m->value_codec = NULL;
}

static void map_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_map *m = (struct sh_map *)h;

	lua_pushfstring(L, "'%s' (%s, %d entries)", m->name, sh_map_type_name(m->type),
			(int)(m->owned ? m->max_entries : bpf_map__max_entries(m->map)));
}

struct bpf_map *sh_map_sibling(struct sh_map *m, const char *name)
{
	if (!m->parent || sh_handle_closed(&m->parent->h))
		return NULL;
	return bpf_object__find_map_by_name(sh_object_bpf(m->parent), name);
}

static const luaL_Reg map_meta[] = {
	{ "__index", l_index },
	{ "__newindex", l_newindex },
	{ "__pairs", sh_map_pairs },
	{ NULL, NULL },
};

static const luaL_Reg map_methods[] = {
	{ "lookup", l_lookup },	   { "update", l_update },
	{ "delete", l_delete },	   { "lookup_and_delete", l_lookup_and_delete },
	{ "pairs", sh_map_pairs }, { "snapshot", sh_map_snapshot },
	{ "count", sh_map_count }, { "clear", sh_map_clear },
	{ "resize", l_resize },	   { NULL, NULL },
};

const struct sh_class sh_map_class = {
	.name = SH_MAP_MT,
	.close = map_close,
	.describe = map_describe,
	.methods = map_methods,
	.meta = map_meta,
};

int sh_map_open(lua_State *L)
{
	sh_class_register(L, &sh_map_class);
	sh_class_add_methods(L, SH_MAP_MT, sh_mapkinds_methods);
	sh_mapwalk_open(L);
	return 0;
}
