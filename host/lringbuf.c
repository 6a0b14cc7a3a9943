// SPDX-License-Identifier: GPL-2.0
/*
 * lringbuf.c: sockhost.ringbuf, a subscription of a Lua function to a BPF ring buffer map.
 * Owns the libbpf ring_buffer; user value 1 is the map (which keeps its object alive), 2
 * the callback. While subscribed it is referenced from the registry, so a script may drop
 * the handle and keep receiving. The libbpf sample callback never raises: it calls Lua under
 * pcall and returns -1 after storing the error, which makes libbpf store the consumer
 * position and return; the loop raises once libbpf is out of the way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

struct sh_ringbuf {
	struct ring_buffer *rb; /* NULL when closed */
	struct sh_source src;
	lua_State *L;           /* the state dispatching right now */
	const struct sh_codec *codec; /* NULL: raw strings */
	size_t min_size;
	int self_ref;
	char name[64];
	char type[96];
	lua_Integer received;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct sh_ringbuf *r = ctx;
	lua_State *L = r->L;

	if (size < r->min_size) {
		lua_pushfstring(L, "ringbuf '%s': record of %d bytes is smaller than %s (%d bytes)",
				r->name, (int)size, r->type, (int)r->min_size);
		sh_loop_fail(L);
		return -1;
	}
	r->received++;
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->self_ref);
	lua_getiuservalue(L, -1, 2);
	if (r->codec)
		sh_codec_push(L, r->codec, data);
	else
		lua_pushlstring(L, data, size);
	int rc = sh_loop_call(L, 1);
	lua_pop(L, 1);
	return rc;
}

static int on_ready(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_ringbuf *r = src->ctx;
	int n;

	r->L = L;
	n = ring_buffer__consume(r->rb);
	if (n < 0 && n != -1 && n != -EINTR) {
		/* -1 is our callback's error, already stored */
		lua_pushfstring(L, "ringbuf '%s': consume failed: %s", r->name, strerror(-n));
		sh_loop_fail(L);
	}
	return n < 0 ? -1 : 0;
}

static void rb_close(lua_State *L, struct sh_ringbuf *r)
{
	if (!r->rb)
		return;
	sh_loop_del(L, &r->src);
	ring_buffer__free(r->rb);
	r->rb = NULL;
	if (r->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, r->self_ref);
	r->self_ref = LUA_NOREF;
}

/* sockhost.ringbuf(map, type_name_or_nil, fn) */
int sh_ringbuf_subscribe(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	const char *tname = luaL_optstring(L, 2, NULL);
	struct sh_ringbuf *r;
	int fd, err;

	if (m->type != BPF_MAP_TYPE_RINGBUF)
		return luaL_error(L, "map '%s' is a %s map, not a ring buffer", m->name,
				  libbpf_bpf_map_type_str(m->type));
	if (!lua_isfunction(L, 3) && !luaL_getmetafield(L, 3, "__call"))
		return luaL_error(L, "ringbuf '%s': callback must be callable, got %s", m->name,
				  luaL_typename(L, 3));
	lua_settop(L, 3);
	fd = sh_map_fd(L, m);

	r = lua_newuserdatauv(L, sizeof(*r), 2);
	memset(r, 0, sizeof(*r));
	r->self_ref = LUA_NOREF;
	luaL_setmetatable(L, SH_RINGBUF_MT);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, 3);
	lua_setiuservalue(L, -2, 2);
	snprintf(r->name, sizeof(r->name), "%s", m->name);
	snprintf(r->type, sizeof(r->type), "raw bytes");
	if (tname) {
		const struct btf *btf = sh_map_btf(m);
		char errbuf[256];
		int id;

		if (!btf)
			return luaL_error(L, "ringbuf '%s': no BTF to decode type '%s' (compile the "
					  "object with clang -g)", m->name, tname);
		id = sh_btf_find_type(btf, tname);
		if (id < 0)
			return luaL_error(L, "ringbuf '%s': type '%s' not found in the object's BTF",
					  m->name, tname);
		r->codec = sh_codec_get(sh_map_codecs(m), (__u32)id, errbuf, sizeof(errbuf));
		if (!r->codec)
			return luaL_error(L, "ringbuf '%s': type '%s': %s", m->name, tname, errbuf);
		r->min_size = sh_codec_size(r->codec);
		snprintf(r->type, sizeof(r->type), "%s", tname);
	}
	r->rb = ring_buffer__new(fd, on_sample, r, NULL);
	err = errno;
	if (!r->rb)
		return sh_raise_errno(L, err, NULL, "ringbuf '%s': subscribe", m->name);
	r->src.fd = ring_buffer__epoll_fd(r->rb);
	r->src.dispatch = on_ready;
	r->src.ctx = r;
	r->L = L;
	sh_loop_add(L, &r->src);
	lua_pushvalue(L, -1);
	r->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_close(lua_State *L)
{
	rb_close(L, luaL_checkudata(L, 1, SH_RINGBUF_MT));
	return 0;
}

static int l_index(lua_State *L)
{
	struct sh_ringbuf *r = luaL_checkudata(L, 1, SH_RINGBUF_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "received")) {
		lua_pushinteger(L, r->received);
	} else if (!strcmp(k, "name")) {
		lua_pushstring(L, r->name);
	} else {
		luaL_getmetafield(L, 1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct sh_ringbuf *r = luaL_checkudata(L, 1, SH_RINGBUF_MT);

	if (!r->rb)
		lua_pushfstring(L, "%s (closed)", SH_RINGBUF_MT);
	else
		lua_pushfstring(L, "%s '%s' (%s, %I received)", SH_RINGBUF_MT, r->name, r->type,
				r->received);
	return 1;
}

int sh_ringbuf_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", l_index },
		{ "__gc", l_close },
		{ "__close", l_close },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "close", l_close },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_RINGBUF_MT, meta, methods);
	lua_pushcfunction(L, sh_ringbuf_subscribe);
	lua_setfield(L, -2, "ringbuf");
	return 0;
}
