// SPDX-License-Identifier: GPL-2.0
/*
 * events/ledger.c: the loss ledger and the counters of event sources. Per source: records
 * received, records dropped in the kernel (the ring's `<map>_drops` per-CPU counter that
 * sockhost/sockhost.bpf.h's sh_ringbuf_reserve() fills, or the perf ring's lost samples) and
 * callback errors; handle:stats(), the handle fields, and sockhost.stats() over every source
 * not yet collected (drain.c lists them in a weak registry table).
 *
 * A closed source keeps its counters: dropped() is read one last time at close.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "events/events.h"
#include "events/source.h"
#include "lua/class.h"
#include "obj/map.h"

__u64 sh_evsrc_dropped(struct sh_evsrc *s)
{
	return s->freed ? s->dropped_final : s->ops->dropped(s);
}

static int l_index(lua_State *L);

/* An event source is a userdata whose class serves fields with l_index (sh_evsrc_meta). */
struct sh_evsrc *sh_evsrc_check(lua_State *L, int idx)
{
	struct sh_evsrc *s = lua_touserdata(L, idx);

	if (!s || !lua_getmetatable(L, idx))
		luaL_typeerror(L, idx, "sockhost event source");
	lua_getfield(L, -1, "__index");
	if (lua_tocfunction(L, -1) != l_index)
		luaL_typeerror(L, idx, "sockhost event source");
	lua_pop(L, 2);
	return s;
}

static void push_stats(lua_State *L, struct sh_evsrc *s)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, s->kind);
	lua_setfield(L, -2, "kind");
	lua_pushstring(L, s->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, s->type);
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, s->received);
	lua_setfield(L, -2, "received");
	lua_pushinteger(L, (lua_Integer)sh_evsrc_dropped(s));
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, s->errors);
	lua_setfield(L, -2, "errors");
	lua_pushinteger(L, s->discarded);
	lua_setfield(L, -2, "discarded");
	lua_pushboolean(L, s->h.live != NULL);
	lua_setfield(L, -2, "open");
	if (s->ops->stats)
		s->ops->stats(L, s);
	if (s->error_ref != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->error_ref);
		lua_setfield(L, -2, "last_error");
	}
}

static int l_stats_method(lua_State *L)
{
	push_stats(L, sh_evsrc_check(L, 1));
	return 1;
}

static int l_index(lua_State *L)
{
	struct sh_evsrc *s = sh_evsrc_check(L, 1);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "received"))
		lua_pushinteger(L, s->received);
	else if (!strcmp(k, "dropped"))
		lua_pushinteger(L, (lua_Integer)sh_evsrc_dropped(s));
	else if (!strcmp(k, "errors"))
		lua_pushinteger(L, s->errors);
	else if (!strcmp(k, "discarded"))
		lua_pushinteger(L, s->discarded);
	else if (!strcmp(k, "name"))
		lua_pushstring(L, s->name);
	else if (!strcmp(k, "type"))
		lua_pushstring(L, s->type);
	else if (!strcmp(k, "kind"))
		lua_pushstring(L, s->kind);
	else
		sh_class_method(L, 1, k);
	return 1;
}

void sh_evsrc_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_evsrc *s = (struct sh_evsrc *)h;

	lua_pushfstring(L, "'%s' (%s%s, %I received, %I dropped, %I errors, %I discarded)", s->name,
			s->type, s->batch ? ", batch" : "", s->received,
			(lua_Integer)sh_evsrc_dropped(s), s->errors, s->discarded);
}

static int cmp_id(const void *a, const void *b)
{
	const struct sh_evsrc *x = *(struct sh_evsrc *const *)a, *y = *(struct sh_evsrc *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* sockhost.stats() -> { {kind=, name=, type=, received=, dropped=, errors=, open=}, ... }
 * in subscription order, for every source not yet collected. */
static int l_stats(lua_State *L)
{
	struct sh_evsrc **v = NULL;
	size_t n = 0, cap = 0;

	lua_newtable(L);
	if (lua_getfield(L, LUA_REGISTRYINDEX, SH_EVSOURCES_KEY) != LUA_TTABLE)
		return 1 + (lua_pop(L, 1), 0);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		if (n == cap) {
			void *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				return luaL_error(L, "sockhost.stats: out of memory");
			}
			v = nv;
		}
		v[n++] = lua_touserdata(L, -1);
	}
	lua_pop(L, 1);
	qsort(v, n, sizeof(*v), cmp_id);
	for (size_t i = 0; i < n; i++) {
		push_stats(L, v[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(v);
	return 1;
}

lua_Integer sh_evsrc_close_all(lua_State *L)
{
	int top = lua_gettop(L);
	lua_Integer discarded = 0;

	if (lua_getfield(L, LUA_REGISTRYINDEX, SH_EVSOURCES_KEY) != LUA_TTABLE) {
		lua_settop(L, top);
		return 0;
	}
	lua_newtable(L); /* the live ones first: closing while iterating would be undefined */
	lua_pushnil(L);
	for (int n = 1; lua_next(L, top + 1); lua_pop(L, 1)) {
		struct sh_evsrc *s = lua_touserdata(L, -2);

		if (s && s->h.live) {
			lua_pushvalue(L, -2);
			lua_rawseti(L, top + 2, n++);
		}
	}
	for (lua_Integer i = 1; lua_rawgeti(L, top + 2, i) == LUA_TUSERDATA; i++) {
		struct sh_evsrc *s = lua_touserdata(L, -1);
		lua_Integer before = s->discarded;

		if (sh_class_method(L, -1, "close") == LUA_TFUNCTION) {
			lua_pushvalue(L, -2);
			if (lua_pcall(L, 1, 0, 0) != LUA_OK)
				lua_pop(L, 1);
		} else {
			lua_pop(L, 1);
		}
		discarded += s->discarded - before;
		lua_pop(L, 1);
	}
	lua_settop(L, top);
	return discarded;
}

/* ---- the loss ledger: <ring>_drops ---------------------------------------------------------- */

int sh_evsrc_drops_fd(struct sh_map *m)
{
	char name[128];
	struct bpf_map *dm;

	snprintf(name, sizeof(name), "%s_drops", m->name);
	dm = sh_map_sibling(m, name);
	if (!dm || bpf_map__value_size(dm) != sizeof(__u64) || bpf_map__fd(dm) < 0)
		return -1;
	if (bpf_map__type(dm) != BPF_MAP_TYPE_PERCPU_ARRAY &&
	    bpf_map__type(dm) != BPF_MAP_TYPE_ARRAY)
		return -1;
	return fcntl(bpf_map__fd(dm), F_DUPFD_CLOEXEC, 3);
}

__u64 sh_evsrc_read_counter(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), zero = 0;
	__u64 sum = 0, one, *vals;
	int ncpu;

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY)
		return bpf_map_lookup_elem(fd, &zero, &one) ? 0 : one;
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return 0;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (vals && !bpf_map_lookup_elem(fd, &zero, vals))
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

int sh_events_open(lua_State *L)
{
	lua_pushcfunction(L, l_stats);
	lua_setfield(L, -2, "stats");
	return 0;
}

const luaL_Reg sh_evsrc_meta[] = {
	{ "__index", l_index },
	{ NULL, NULL },
};

const luaL_Reg sh_evsrc_methods[] = {
	{ "stats", l_stats_method },
	{ "drain", sh_evsrc_l_drain },
	{ "set_output", sh_evsrc_l_set_output },
	{ NULL, NULL },
};
