// SPDX-License-Identifier: GPL-2.0
/*
 * lmap.c: sockhost.map, one map of an object (borrowed: user value 1 keeps the object
 * alive) or a map opened from a pin (owns its fd and the kernel BTF it was created with).
 * Keys and values cross as Lua values through the map's BTF codecs, resolved once per
 * handle; maps without BTF take and give raw byte strings. sockmap/sockhash values are
 * sockets and prog array values are programs. Ring buffers have no elements to look up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static const char *mtype(enum bpf_map_type t)
{
	const char *s = libbpf_bpf_map_type_str(t);

	return s ? s : "unknown";
}

static bool is_closed(struct sh_map *m)
{
	return m->closed || (m->parent && !m->parent->obj);
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

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool has_no_elements(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_RINGBUF || t == BPF_MAP_TYPE_USER_RINGBUF ||
	       t == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
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
	struct sh_map *m = luaL_checkudata(L, idx, SH_MAP_MT);

	if (is_closed(m))
		luaL_error(L, "attempt to use a closed %s", SH_MAP_MT);
	if (!m->owned) {
		/* sizes may change until load (resize), so read them from libbpf each time */
		m->max_entries = bpf_map__max_entries(m->map);
	}
	return m;
}

const struct sh_codec *sh_map_value_codec(struct sh_map *m)
{
	return m->value_codec;
}

struct sh_codec_cache *sh_map_codecs(struct sh_map *m)
{
	return m->owned ? m->own_codecs : (m->parent ? m->parent->codecs : NULL);
}

const struct btf *sh_map_btf(struct sh_map *m)
{
	return m->owned ? m->own_btf : (m->parent ? m->parent->btf : NULL);
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
		def = btf__type_by_id(btf, var->type);
		while (def && (btf_is_typedef(def) || btf_is_const(def) || btf_is_volatile(def)))
			def = btf__type_by_id(btf, def->type);
		if (!def || !btf_is_struct(def))
			return 0;
		m = btf_members(def);
		for (int j = 0; j < btf_vlen(def); j++, m++) {
			const struct btf_type *ptr = btf__type_by_id(btf, m->type);

			if (!strcmp(btf__name_by_offset(btf, m->name_off), member) && btf_is_ptr(ptr))
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
	m = lua_newuserdatauv(L, sizeof(*m), 1);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->closed = true;
	luaL_setmetatable(L, SH_MAP_MT);
	lua_pushvalue(L, obj_idx);
	lua_setiuservalue(L, -2, 1);
	m->parent = sh_object_check(L, obj_idx);
	m->map = map;
	m->type = bpf_map__type(map);
	m->key_size = bpf_map__key_size(map);
	m->value_size = bpf_map__value_size(map);
	m->max_entries = bpf_map__max_entries(map);
	m->map_flags = bpf_map__map_flags(map);
	m->btf_key_id = bpf_map__btf_key_type_id(map);
	m->btf_value_id = bpf_map__btf_value_type_id(map);
	snprintf(m->name, sizeof(m->name), "%s", bpf_map__name(map));
	m->closed = false;
	if (m->parent->btf && !m->btf_key_id && !m->btf_value_id) {
		m->btf_key_id = maps_member_type(m->parent->btf, m->name, "key");
		m->btf_value_id = maps_member_type(m->parent->btf, m->name, "value");
	}
	resolve_codecs(L, m, m->parent->codecs);
}

void sh_push_owned_map(lua_State *L, int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	struct sh_map *m;

	m = lua_newuserdatauv(L, sizeof(*m), 1);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->closed = true;
	luaL_setmetatable(L, SH_MAP_MT);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		int err = errno;

		close(fd);
		sh_raise_errno(L, err, NULL, "map info");
	}
	m->fd = fd;
	m->owned = true;
	m->closed = false;
	m->type = info.type;
	m->key_size = info.key_size;
	m->value_size = info.value_size;
	m->max_entries = info.max_entries;
	m->map_flags = info.map_flags;
	snprintf(m->name, sizeof(m->name), "%s", info.name);
	if (info.btf_id) {
		m->own_btf = btf__load_from_kernel_by_id(info.btf_id);
		if (m->own_btf) {
			m->btf_key_id = info.btf_key_type_id;
			m->btf_value_id = info.btf_value_type_id;
			m->own_codecs = sh_codec_cache_new(m->own_btf);
			resolve_codecs(L, m, m->own_codecs);
		}
	}
}

/* ---- keys and values ---------------------------------------------------------------------- */

static size_t value_bytes(struct sh_map *m)
{
	if (is_percpu(m->type))
		return ((m->value_size + 7) & ~7u) * (size_t)libbpf_num_possible_cpus();
	return m->value_size;
}

/* Raw bytes: a string of the exact size, or an integer for 1/2/4/8-byte slots. */
static void encode_raw(lua_State *L, int idx, void *out, size_t size, const char *what,
		       struct sh_map *m)
{
	if (lua_isinteger(L, idx) && (size == 1 || size == 2 || size == 4 || size == 8)) {
		lua_Integer v = lua_tointeger(L, idx);
		uint8_t u8 = v;
		uint16_t u16 = v;
		uint32_t u32 = v;

		if (size < 8 && (v < 0 || (uint64_t)v >> (8 * size)))
			luaL_error(L, "map '%s' %s: integer %I out of range for %d bytes", m->name,
				   what, v, (int)size);
		memcpy(out, size == 1 ? (void *)&u8 : size == 2 ? (void *)&u16 :
			    size == 4 ? (void *)&u32 : (void *)&v, size);
		return;
	}
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "map '%s' %s: expected a %d-byte string (the map has no BTF), got %s",
			   m->name, what, (int)size, luaL_typename(L, idx));
	size_t len;
	const char *s = lua_tolstring(L, idx, &len);
	if (len != size)
		luaL_error(L, "map '%s' %s: expected a %d-byte string, got %d bytes", m->name, what,
			   (int)size, (int)len);
	memcpy(out, s, size);
}

static void *encode_key(lua_State *L, struct sh_map *m, int idx)
{
	void *key = lua_newuserdatauv(L, m->key_size ? m->key_size : 1, 0);
	char what[96];

	if (m->key_codec && sh_codec_size(m->key_codec) == m->key_size) {
		snprintf(what, sizeof(what), "map '%s' key", m->name);
		sh_codec_encode(L, idx, m->key_codec, key, what);
	} else {
		encode_raw(L, idx, key, m->key_size, "key", m);
	}
	return key;
}

static void *encode_value(lua_State *L, struct sh_map *m, int idx)
{
	size_t size = value_bytes(m);
	void *val = lua_newuserdatauv(L, size, 0);
	char what[96];

	memset(val, 0, size);
	if (m->type == BPF_MAP_TYPE_SOCKMAP || m->type == BPF_MAP_TYPE_SOCKHASH) {
		snprintf(what, sizeof(what), "map '%s' (%s) value", m->name, mtype(m->type));
		__u64 fd = (__u64)sh_check_sockfd(L, idx, what);
		memcpy(val, &fd, m->value_size < 8 ? m->value_size : 8);
		return val;
	}
	if (m->type == BPF_MAP_TYPE_PROG_ARRAY) {
		struct sh_program *p = luaL_testudata(L, idx, SH_PROGRAM_MT);
		__u32 fd;

		if (!p)
			luaL_error(L, "map '%s' (prog_array) value: expected a program handle, got %s",
				   m->name, luaL_typename(L, idx));
		fd = (__u32)sh_program_fd(L, sh_program_check(L, idx));
		memcpy(val, &fd, sizeof(fd));
		return val;
	}
	if (is_percpu(m->type)) {
		/* one value for every CPU; per-CPU tables are issue B's reduction work */
		size_t stride = (m->value_size + 7) & ~7u;
		int ncpu = libbpf_num_possible_cpus();

		snprintf(what, sizeof(what), "map '%s' value", m->name);
		for (int c = 0; c < ncpu; c++) {
			if (m->value_codec)
				sh_codec_encode(L, idx, m->value_codec, (char *)val + c * stride, what);
			else
				encode_raw(L, idx, (char *)val + c * stride, m->value_size, "value", m);
		}
		return val;
	}
	if (m->value_codec && sh_codec_size(m->value_codec) == m->value_size) {
		snprintf(what, sizeof(what), "map '%s' value", m->name);
		sh_codec_encode(L, idx, m->value_codec, val, what);
	} else {
		encode_raw(L, idx, val, m->value_size, "value", m);
	}
	return val;
}

static void push_decoded(lua_State *L, const struct sh_codec *c, const void *data, size_t size)
{
	if (c && sh_codec_size(c) == size)
		sh_codec_push(L, c, data);
	else
		lua_pushlstring(L, data, size);
}

static void push_value(lua_State *L, struct sh_map *m, const void *val)
{
	if (is_percpu(m->type)) {
		size_t stride = (m->value_size + 7) & ~7u;
		int ncpu = libbpf_num_possible_cpus();

		lua_createtable(L, ncpu, 0);
		for (int c = 0; c < ncpu; c++) {
			push_decoded(L, m->value_codec, (const char *)val + c * stride,
				     m->value_size);
			lua_rawseti(L, -2, c + 1);
		}
		return;
	}
	push_decoded(L, m->value_codec, val, m->value_size);
}

static void check_elements(lua_State *L, struct sh_map *m, const char *op)
{
	if (has_no_elements(m->type))
		luaL_error(L, "map '%s' is a %s: it has no elements to %s (subscribe to it with "
			   "sockhost.ringbuf)", m->name, mtype(m->type), op);
}

/* ---- operations --------------------------------------------------------------------------- */

static int map_lookup(lua_State *L, struct sh_map *m, int kidx)
{
	int fd = sh_map_fd(L, m);
	void *key, *val;

	check_elements(L, m, "look up");
	key = encode_key(L, m, kidx);
	val = lua_newuserdatauv(L, value_bytes(m), 0);
	if (bpf_map_lookup_elem(fd, key, val) < 0) {
		if (errno == ENOENT) {
			lua_pushnil(L);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': lookup", m->name);
	}
	push_value(L, m, val);
	return 1;
}

static int parse_flags(lua_State *L, int idx)
{
	static const char *const names[] = { "any", "noexist", "exist", NULL };
	static const int flags[] = { BPF_ANY, BPF_NOEXIST, BPF_EXIST };

	return flags[luaL_checkoption(L, idx, "any", names)];
}

static int map_update(lua_State *L, struct sh_map *m, int kidx, int vidx, int flags)
{
	int fd = sh_map_fd(L, m);
	void *key, *val;

	check_elements(L, m, "update");
	key = encode_key(L, m, kidx);
	val = encode_value(L, m, vidx);
	if (bpf_map_update_elem(fd, key, val, flags) < 0) {
		int err = errno;

		if (err == E2BIG)
			return luaL_error(L, "map '%s': update failed: map full (%d entries)",
					  m->name, (int)m->max_entries);
		if (err == EEXIST && flags == BPF_NOEXIST)
			return luaL_error(L, "map '%s': update with \"noexist\" failed: the key "
					  "already exists", m->name);
		if (err == ENOENT && flags == BPF_EXIST)
			return luaL_error(L, "map '%s': update with \"exist\" failed: no such key",
					  m->name);
		return sh_raise_errno(L, err, NULL, "map '%s': update", m->name);
	}
	return 0;
}

static int map_delete(lua_State *L, struct sh_map *m, int kidx)
{
	int fd = sh_map_fd(L, m);
	void *key;

	check_elements(L, m, "delete");
	key = encode_key(L, m, kidx);
	if (bpf_map_delete_elem(fd, key) < 0) {
		if (errno == ENOENT) {
			lua_pushboolean(L, 0);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': delete", m->name);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_lookup(lua_State *L)
{
	luaL_checkany(L, 2);
	return map_lookup(L, sh_map_check(L, 1), 2);
}

static int l_update(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);

	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	map_update(L, m, 2, 3, parse_flags(L, 4));
	return 0;
}

static int l_delete(lua_State *L)
{
	luaL_checkany(L, 2);
	return map_delete(L, sh_map_check(L, 1), 2);
}

/* pairs(m): get_next_key walk. A key deleted under us is skipped; the walk is bounded so a
 * map the kernel keeps changing cannot keep it going forever. */
static int pairs_next(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, lua_upvalueindex(1));
	void *prev = lua_touserdata(L, lua_upvalueindex(2));
	lua_Integer steps = lua_tointeger(L, lua_upvalueindex(3));
	bool started = lua_toboolean(L, lua_upvalueindex(4));
	int fd = sh_map_fd(L, m);
	void *next = lua_newuserdatauv(L, m->key_size, 0);
	void *val = lua_newuserdatauv(L, value_bytes(m), 0);

	for (;;) {
		if (steps++ > 2 * (lua_Integer)m->max_entries + 16)
			return 0;
		if (bpf_map_get_next_key(fd, started ? prev : NULL, next) < 0) {
			if (errno == ENOENT)
				return 0;
			return sh_raise_errno(L, errno, NULL, "map '%s': iterate", m->name);
		}
		memcpy(prev, next, m->key_size);
		started = true;
		lua_pushinteger(L, steps);
		lua_replace(L, lua_upvalueindex(3));
		lua_pushboolean(L, 1);
		lua_replace(L, lua_upvalueindex(4));
		if (bpf_map_lookup_elem(fd, next, val) == 0)
			break;
		if (errno != ENOENT)
			return sh_raise_errno(L, errno, NULL, "map '%s': lookup", m->name);
	}
	push_decoded(L, m->key_codec, next, m->key_size);
	push_value(L, m, val);
	return 2;
}

static int l_pairs(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	void *prev;

	sh_map_fd(L, m);
	check_elements(L, m, "iterate");
	lua_pushvalue(L, 1);
	prev = lua_newuserdatauv(L, m->key_size ? m->key_size : 1, 0);
	memset(prev, 0, m->key_size);
	lua_pushinteger(L, 0);
	lua_pushboolean(L, 0);
	lua_pushcclosure(L, pairs_next, 4);
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

static int l_pin(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	const char *path = luaL_checkstring(L, 2);

	sh_ensure_bpffs(L, path);
	if (bpf_obj_pin(sh_map_fd(L, m), path) < 0)
		return sh_raise_errno(L, errno, NULL, "map '%s': pin at '%s'", m->name, path);
	lua_settop(L, 1);
	return 1;
}

static int l_unpin(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	const char *path = luaL_checkstring(L, 2);

	if (unlink(path) < 0)
		return sh_raise_errno(L, errno, NULL, "map '%s': unpin '%s'", m->name, path);
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
		luaL_getmetafield(L, 1, "methods");
		if (lua_getfield(L, -1, k) != LUA_TNIL)
			return 1;
		lua_pop(L, 2);
		if (!strcmp(k, "name")) {
			lua_pushstring(L, m->name);
			return 1;
		}
		sh_map_check(L, 1);
		if (!strcmp(k, "type")) {
			lua_pushstring(L, mtype(m->type));
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
	return map_lookup(L, sh_map_check(L, 1), 2);
}

static int l_newindex(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);

	if (lua_isnil(L, 3)) {
		map_delete(L, m, 2);
		return 0;
	}
	return map_update(L, m, 2, 3, BPF_ANY);
}

static int l_close(lua_State *L)
{
	struct sh_map *m = luaL_checkudata(L, 1, SH_MAP_MT);

	if (m->owned && m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	sh_codec_cache_free(m->own_codecs);
	m->own_codecs = NULL;
	btf__free(m->own_btf);
	m->own_btf = NULL;
	m->key_codec = m->value_codec = NULL;
	m->closed = true;
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct sh_map *m = luaL_checkudata(L, 1, SH_MAP_MT);

	if (is_closed(m))
		lua_pushfstring(L, "%s (closed)", SH_MAP_MT);
	else
		lua_pushfstring(L, "%s '%s' (%s, %d entries)", SH_MAP_MT, m->name, mtype(m->type),
				(int)(m->owned ? m->max_entries : bpf_map__max_entries(m->map)));
	return 1;
}

/* sockhost.open_pinned(path) -> program or map */
static int l_open_pinned(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char fdinfo[64], line[128];
	bool is_prog = false, is_map = false;
	FILE *f;
	int fd;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return sh_raise_errno(L, errno, NULL, "open_pinned '%s'", path);
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
	f = fopen(fdinfo, "r");
	while (f && fgets(line, sizeof(line), f)) {
		is_prog |= !strncmp(line, "prog_type:", 10);
		is_map |= !strncmp(line, "map_type:", 9);
	}
	if (f)
		fclose(f);
	if (is_prog)
		sh_push_pinned_program(L, fd);
	else if (is_map)
		sh_push_owned_map(L, fd);
	else {
		close(fd);
		return luaL_error(L, "open_pinned '%s': pinned object is neither a program nor a "
				  "map", path);
	}
	return 1;
}

int sh_map_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", l_index },
		{ "__newindex", l_newindex },
		{ "__pairs", l_pairs },
		{ "__close", l_close },
		{ "__gc", l_close },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "lookup", l_lookup },
		{ "update", l_update },
		{ "delete", l_delete },
		{ "pairs", l_pairs },
		{ "resize", l_resize },
		{ "pin", l_pin },
		{ "unpin", l_unpin },
		{ "close", l_close },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_MAP_MT, meta, methods);
	lua_pushcfunction(L, l_open_pinned);
	lua_setfield(L, -2, "open_pinned");
	return 0;
}
