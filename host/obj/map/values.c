// SPDX-License-Identifier: GPL-2.0
/*
 * obj/map/values.c: keys and values of sockhost.map between Lua and the bytes the kernel reads and
 * writes. BTF codecs (resolved once per handle in map.c) do the work when the map has BTF of
 * the right size; otherwise values are raw byte strings (or integers for 1/2/4/8-byte slots).
 * On top of that:
 *  - per-CPU maps: one 8-byte aligned slot per possible CPU; reads are summed through
 *    sh_codec_sum unless the caller asks for the per-CPU sequence;
 *  - LPM tries with the usual {u32 prefixlen; 4 or 16 address bytes} key take and give
 *    "10.0.0.0/8" and "2001:db8::/32" strings (host bits cleared, so a prefix has one
 *    spelling);
 *  - sockmap/sockhash values are sockets, prog array values are program handles.
 * Encoders push their scratch userdata and return it; nothing here writes to the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include "base/error.h"
#include "btf/codec.h"
#include "obj/map/map_int.h"
#include "base/sockfd.h"
#include "obj/program.h"

size_t sh_map_percpu_stride(const struct sh_map *m)
{
	return (m->value_size + 7) & ~(size_t)7;
}

size_t sh_map_value_bytes(const struct sh_map *m)
{
	if (sh_map_is_percpu(m->type))
		return sh_map_percpu_stride(m) * (size_t)libbpf_num_possible_cpus();
	return m->value_size;
}

/* Raw bytes: a string of the exact size, or an integer for 1/2/4/8-byte slots. */
static void encode_raw(lua_State *L, int idx, void *out, size_t size, const char *what,
		       struct sh_map *m)
{
	size_t len;
	const char *s;

	if (lua_isinteger(L, idx) && (size == 1 || size == 2 || size == 4 || size == 8)) {
		lua_Integer v = lua_tointeger(L, idx);
		uint8_t u8 = v;
		uint16_t u16 = v;
		uint32_t u32 = v;

		if (size < 8 && (v < 0 || (uint64_t)v >> (8 * size)))
			luaL_error(L, "map '%s' %s: integer %I out of range for %d bytes", m->name,
				   what, (LUAI_UACINT)v, (int)size);
		memcpy(out,
		       size == 1 ? (void *)&u8 :
		       size == 2 ? (void *)&u16 :
		       size == 4 ? (void *)&u32 :
				   (void *)&v,
		       size);
		return;
	}
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "map '%s' %s: expected a %d-byte string (the map has no BTF), got %s",
			   m->name, what, (int)size, luaL_typename(L, idx));
	s = lua_tolstring(L, idx, &len);
	if (len != size)
		luaL_error(L, "map '%s' %s: expected a %d-byte string, got %d bytes", m->name, what,
			   (int)size, (int)len);
	memcpy(out, s, size);
}

/* ---- LPM prefixes ------------------------------------------------------------------------- */

static bool is_lpm_prefix_key(const struct sh_map *m)
{
	return m->type == BPF_MAP_TYPE_LPM_TRIE && (m->key_size == 8 || m->key_size == 20);
}

/* "10.0.0.0/8", "2001:db8::/32", or an address alone (a full-length prefix: the longest
 * match for a lookup) into {u32 prefixlen; addr}. */
static void encode_lpm(lua_State *L, struct sh_map *m, int idx, unsigned char *out)
{
	unsigned int alen = m->key_size - 4, bits = alen * 8;
	const char *s = lua_tostring(L, idx), *slash = strchr(s, '/');
	bool v6 = strchr(s, ':') != NULL;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bytes[16];
	unsigned long plen = bits;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	__u32 p32;

	if (n >= sizeof(addr) || !n)
		goto bad;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bytes) != 1)
		goto bad;
	if ((v6 ? 16u : 4u) != alen)
		luaL_error(L,
			   "map '%s' key: '%s' is an IPv%d prefix, the map's keys hold %d-byte "
			   "addresses",
			   m->name, s, v6 ? 6 : 4, (int)alen);
	memcpy(out + 4, bytes, alen);
	if (slash) {
		char *end;

		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || plen > bits)
			luaL_error(L,
				   "map '%s' key: '%s': prefix length out of range for an IPv%d "
				   "prefix (0-%d)",
				   m->name, s, v6 ? 6 : 4, (int)bits);
	}
	/* clear host bits: the trie matches on prefixlen bits but stores the rest as given */
	for (unsigned int i = 0; i < alen; i++) {
		unsigned int keep = plen > i * 8 ? (unsigned int)plen - i * 8 : 0;

		if (keep < 8)
			out[4 + i] &= (unsigned char)(0xff00u >> keep);
	}
	p32 = (__u32)plen;
	memcpy(out, &p32, 4);
	return;
bad:
	luaL_error(L,
		   "map '%s' key: '%s' is not an IP address or prefix (like 10.0.0.0/8 or "
		   "2001:db8::/32)",
		   m->name, s);
}

static void push_lpm(lua_State *L, struct sh_map *m, const unsigned char *key)
{
	char addr[INET6_ADDRSTRLEN];
	__u32 plen;

	memcpy(&plen, key, 4);
	inet_ntop(m->key_size == 8 ? AF_INET : AF_INET6, key + 4, addr, sizeof(addr));
	lua_pushfstring(L, "%s/%d", addr, (int)plen);
}

/* ---- keys --------------------------------------------------------------------------------- */

static bool codec_fits(const struct sh_codec *c, size_t size)
{
	return c && sh_codec_size(c) == size;
}

void *sh_map_encode_key(lua_State *L, struct sh_map *m, int idx)
{
	void *key;

	idx = lua_absindex(L, idx);
	key = lua_newuserdatauv(L, m->key_size ? m->key_size : 1, 0);
	memset(key, 0, m->key_size);
	if (is_lpm_prefix_key(m) && lua_type(L, idx) == LUA_TSTRING) {
		encode_lpm(L, m, idx, key);
	} else if (codec_fits(m->key_codec, m->key_size)) {
		sh_codec_encode(L, idx, m->key_codec, key, m->what_key);
	} else {
		encode_raw(L, idx, key, m->key_size, "key", m);
	}
	return key;
}

void sh_map_push_key(lua_State *L, struct sh_map *m, const void *key)
{
	if (is_lpm_prefix_key(m))
		push_lpm(L, m, key);
	else if (codec_fits(m->key_codec, m->key_size))
		sh_codec_push(L, m->key_codec, key);
	else
		lua_pushlstring(L, key, m->key_size);
}

/* ---- values ------------------------------------------------------------------------------- */

static void encode_one(lua_State *L, struct sh_map *m, int idx, void *out, const char *what)
{
	if (codec_fits(m->value_codec, m->value_size))
		sh_codec_encode(L, idx, m->value_codec, out, what);
	else
		encode_raw(L, idx, out, m->value_size, "value", m);
}

static void encode_percpu(lua_State *L, struct sh_map *m, int idx, char *val, bool percpu)
{
	size_t stride = sh_map_percpu_stride(m);
	int ncpu = libbpf_num_possible_cpus();
	char what[96];

	if (!percpu) {
		encode_one(L, m, idx, val, m->what_value); /* CPU 0; the others stay zero */
		return;
	}
	if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != (lua_Unsigned)ncpu)
		luaL_error(L,
			   "map '%s' value: with percpu = true, expected a sequence of %d values "
			   "(one per possible CPU), got %s",
			   m->name, ncpu,
			   lua_type(L, idx) == LUA_TTABLE ?
				   lua_pushfstring(L, "%d", (int)lua_rawlen(L, idx)) :
				   luaL_typename(L, idx));
	for (int c = 0; c < ncpu; c++) {
		lua_rawgeti(L, idx, c + 1);
		snprintf(what, sizeof(what), "map '%s' value [CPU %d]", m->name, c);
		encode_one(L, m, -1, val + c * stride, what);
		lua_pop(L, 1);
	}
}

void *sh_map_encode_value(lua_State *L, struct sh_map *m, int idx, bool percpu)
{
	size_t size = sh_map_value_bytes(m);
	char what[96];
	void *val;

	idx = lua_absindex(L, idx);
	val = lua_newuserdatauv(L, size ? size : 1, 0);
	memset(val, 0, size);
	if (m->type == BPF_MAP_TYPE_SOCKMAP || m->type == BPF_MAP_TYPE_SOCKHASH) {
		snprintf(what, sizeof(what), "map '%s' (%s) value", m->name,
			 sh_map_type_name(m->type));
		__u64 fd = (__u64)sh_check_sockfd(L, idx, what);

		memcpy(val, &fd, m->value_size < 8 ? m->value_size : 8);
	} else if (m->type == BPF_MAP_TYPE_PROG_ARRAY) {
		__u32 fd;

		if (!luaL_testudata(L, idx, SH_PROGRAM_MT))
			luaL_error(L,
				   "map '%s' (prog_array) value: expected a program handle, got %s",
				   m->name, luaL_typename(L, idx));
		fd = (__u32)sh_program_fd(L, sh_program_check(L, idx));
		memcpy(val, &fd, sizeof(fd));
	} else if (sh_map_is_percpu(m->type)) {
		encode_percpu(L, m, idx, val, percpu);
	} else {
		encode_one(L, m, idx, val, m->what_value);
	}
	return val;
}

static void push_one(lua_State *L, struct sh_map *m, const void *val)
{
	if (codec_fits(m->value_codec, m->value_size))
		sh_codec_push(L, m->value_codec, val);
	else
		lua_pushlstring(L, val, m->value_size);
}

void sh_map_push_value(lua_State *L, struct sh_map *m, const void *val, bool percpu, void *acc)
{
	size_t stride;
	int ncpu;

	if (!sh_map_is_percpu(m->type)) {
		push_one(L, m, val);
		return;
	}
	stride = sh_map_percpu_stride(m);
	ncpu = libbpf_num_possible_cpus();
	if (percpu || !codec_fits(m->value_codec, m->value_size)) {
		/* without BTF there is nothing to sum by: the per-CPU byte strings */
		lua_createtable(L, ncpu, 0);
		for (int c = 0; c < ncpu; c++) {
			push_one(L, m, (const char *)val + c * stride);
			lua_rawseti(L, -2, c + 1);
		}
		return;
	}
	if (!acc) {
		acc = lua_newuserdatauv(L, m->value_size, 0);
		sh_map_push_value(L, m, val, false, acc);
		lua_remove(L, -2);
		return;
	}
	memcpy(acc, val, m->value_size);
	for (int c = 1; c < ncpu; c++)
		sh_codec_sum(m->value_codec, acc, (const char *)val + c * stride);
	push_one(L, m, acc);
}

const struct sh_codec *sh_map_key_plan(const struct sh_map *m)
{
	return !is_lpm_prefix_key(m) && codec_fits(m->key_codec, m->key_size) ? m->key_codec : NULL;
}

const struct sh_codec *sh_map_value_plan(const struct sh_map *m)
{
	return !sh_map_is_percpu(m->type) && codec_fits(m->value_codec, m->value_size) ?
		       m->value_codec :
		       NULL;
}

/* ---- options ------------------------------------------------------------------------------ */

static const char *const opt_names[] = { "percpu", "batch", "chunk", NULL };

void sh_map_opts(lua_State *L, struct sh_map *m, int idx, struct sh_map_opts *o,
		 const char *allowed)
{
	o->percpu = false;
	o->batch = true;
	o->chunk = 0;
	if (lua_isnoneornil(L, idx))
		return;
	idx = lua_absindex(L, idx);
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int i = 0;

		while (k && opt_names[i] && strcmp(k, opt_names[i]))
			i++;
		if (!k || !opt_names[i] || !strstr(allowed, k))
			luaL_error(L, "map '%s': unknown option %s (valid: %s)", m->name,
				   k ? lua_pushfstring(L, "'%s'", k) : luaL_tolstring(L, -2, NULL),
				   allowed);
		if (i == 0) {
			o->percpu = lua_toboolean(L, -1);
		} else if (i == 1) {
			o->batch = lua_toboolean(L, -1);
		} else {
			lua_Integer n = lua_tointeger(L, -1);

			if (!lua_isinteger(L, -1) || n < 1 || n > 1 << 24)
				luaL_error(L, "map '%s': chunk must be an integer between 1 and %d",
					   m->name, 1 << 24);
			o->chunk = (__u32)n;
		}
		lua_pop(L, 1);
	}
	if (o->percpu && !sh_map_is_percpu(m->type))
		luaL_error(L, "map '%s': percpu = true, but it is a %s map, not a per-CPU one",
			   m->name, sh_map_type_name(m->type));
}
