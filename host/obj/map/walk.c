// SPDX-License-Identifier: GPL-2.0
/*
 * obj/map/walk.c: walks over the elements of a sockhost.map: pairs(m), m:pairs(opts),
 * m:snapshot(opts), m:count() and m:clear().
 *
 * A walk (sockhost.mapwalk, the state pairs() hands to the generic for) reads elements in
 * chunks into one buffer: by BPF_MAP_LOOKUP_BATCH where the map type has it (hash kinds,
 * arrays), else by get_next_key + lookup. Both fill the same buffer, so decoding is one path:
 * the map's codec plans, resolved when the handle was made, straight from the buffer.
 *
 * A walk of a map the kernel keeps changing always ends and says when it could not be
 * complete (walk.complete, snapshot's second result):
 *  - it hands out at most max_entries elements (a map never holds more at once), and the
 *    fallback makes at most 2 * max_entries + 1 get_next_key calls;
 *  - get_next_key restarts from the first key when the previous one was deleted (hash, LPM,
 *    sockhash): the fallback keeps the raw bytes of every key it handed out (a set of
 *    strings) and skips repeats; a restart, a key gone between get_next_key and lookup, or
 *    reaching a bound make the walk incomplete. Keys are never re-encoded from Lua values:
 *    get_next_key gets the exact bytes the kernel gave (char[] keys with NULs included).
 * Batch walks need no such care: their cursor is a bucket or index the kernel owns.
 *
 * Lifetime: a walk keeps its map alive (user value 1); the map may still be closed by the
 * script, which the walk checks on every element. Buffers are malloc'd and freed by __gc or
 * __close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include "base/error.h"
#include "btf/codec.h"
#include "obj/map/map_int.h"

#define SH_MAPWALK_MT "sockhost.mapwalk"
#define BATCH_BYTES   (1u << 20) /* buffer budget per chunk */
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", seen by batch ops */
#endif

struct sh_walk {
	struct sh_handle h; /* h.live: the walk while its buffer exists; h.parent: the map */
	char *buf; /* cursors, sum scratch, keys, values (walk_alloc); NULL: freed */
	struct sh_map *m;
	int fd;
	bool batch; /* BPF_MAP_LOOKUP_BATCH; false: get_next_key + lookup */
	bool percpu; /* per-CPU sequences instead of sums */
	bool values; /* look values up (count and clear do not) */
	bool started, done, complete;
	bool dedup; /* fallback over a kind whose get_next_key restarts */
	__u32 cap, n, i;
	size_t ksize, vsize, tsize;
	char *keys, *vals, *in, *out, *acc;
	const struct sh_codec *kplan, *vplan; /* decode straight through these when set */
	lua_Integer yielded, steps;
};

static const struct sh_class walk_class;

static bool restarts(enum bpf_map_type t)
{
	return !sh_map_is_indexed(t); /* hash kinds, LPM trie, sockhash ... */
}

/* One block: cursor in, cursor out, sum scratch (fixed prefix, kept by a regrow), then
 * cap keys and cap values. */
static void walk_alloc(lua_State *L, struct sh_walk *w, __u32 cap)
{
	size_t fixed = 2 * w->tsize + ((w->m->value_size + 7) & ~(size_t)7);
	size_t total = fixed + (size_t)cap * (w->ksize + w->vsize);
	char *buf = realloc(w->buf, total);

	if (!buf)
		luaL_error(L, "map '%s': out of memory for a walk of %d elements", w->m->name,
			   (int)cap);
	if (!w->buf)
		memset(buf, 0, fixed);
	w->buf = buf;
	w->cap = cap;
	w->in = buf;
	w->out = w->in + w->tsize;
	w->acc = w->out + w->tsize;
	w->keys = buf + fixed;
	w->vals = w->keys + (size_t)cap * w->ksize;
}

/* Push a walk userdata for the map at 1 (user value 1: the map; 2: the set of keys seen). */
static struct sh_walk *walk_new(lua_State *L, struct sh_map *m, const struct sh_map_opts *o,
				bool values)
{
	struct sh_walk *w = sh_handle_new(L, &walk_class, sizeof(*w), 2);
	__u32 cap;

	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	w->m = m;
	w->fd = sh_map_fd(L, m);
	w->batch = o->batch;
	w->percpu = o->percpu;
	w->values = values;
	w->complete = true;
	w->kplan = sh_map_key_plan(m);
	w->vplan = sh_map_value_plan(m);
	w->ksize = m->key_size ? m->key_size : 1;
	w->vsize = sh_map_value_bytes(m);
	w->tsize = w->ksize < 8 ? 8 : w->ksize; /* hash batch cursors are u32 bucket numbers */
	cap = o->chunk ? o->chunk : BATCH_BYTES / (w->ksize + w->vsize);
	if (cap > m->max_entries)
		cap = m->max_entries;
	walk_alloc(L, w, cap ? cap : 1);
	w->h.parent = &m->h;
	w->h.live = w;
	return w;
}

static void walk_check(lua_State *L, struct sh_walk *w)
{
	if (sh_handle_closed(&w->h))
		luaL_error(L, "attempt to use a closed %s", SH_MAP_MT);
}

/* get_next_key + lookup into the buffer, up to cap elements. */
static void fill_fallback(lua_State *L, struct sh_walk *w)
{
	struct sh_map *m = w->m;
	lua_Integer max_steps = 2 * (lua_Integer)m->max_entries + 1;

	if (w->dedup && lua_getiuservalue(L, lua_upvalueindex(1), 2) != LUA_TTABLE)
		luaL_error(L, "map '%s': walk state lost", m->name);
	while (w->n < w->cap) {
		char *k = w->keys + (size_t)w->n * w->ksize;
		char *v = w->vals + (size_t)w->n * w->vsize;

		if (w->steps++ >= max_steps) {
			w->complete = false;
			w->done = true;
			break;
		}
		if (bpf_map_get_next_key(w->fd, w->started ? w->in : NULL, k) < 0) {
			if (errno == ENOENT) {
				w->done = true;
				break;
			}
			sh_raise_errno(L, errno, NULL, "map '%s': iterate", m->name);
		}
		w->started = true;
		memcpy(w->in, k, w->ksize); /* the kernel's bytes, never a re-encoded key */
		if (w->dedup) {
			lua_pushlstring(L, k, w->ksize);
			lua_pushvalue(L, -1);
			if (lua_rawget(L, -3) != LUA_TNIL) { /* get_next_key restarted */
				lua_pop(L, 2);
				w->complete = false;
				continue;
			}
			lua_pop(L, 1);
			lua_pushboolean(L, 1);
			lua_rawset(L, -3);
		}
		if (w->values || sh_map_has_holes(m->type)) {
			if (bpf_map_lookup_elem(w->fd, k, v) < 0) {
				if (errno != ENOENT)
					sh_raise_errno(L, errno, NULL, "map '%s': lookup", m->name);
				if (!sh_map_has_holes(m->type))
					w->complete = false; /* deleted since get_next_key */
				continue;
			}
		}
		w->n++;
	}
	if (w->dedup)
		lua_pop(L, 1);
}

static bool batch_unsupported(int err)
{
	return err == EINVAL || err == ENOTSUPP || err == EOPNOTSUPP;
}

/* The next chunk into the buffer; false when the walk is over. */
static bool walk_fill(lua_State *L, struct sh_walk *w)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	walk_check(L, w);
	w->n = w->i = 0;
	while (w->batch && !w->done) {
		__u32 count = w->cap;
		int err = 0;

		if (bpf_map_lookup_batch(w->fd, w->started ? w->in : NULL, w->out, w->keys, w->vals,
					 &count, &opts) < 0)
			err = errno;
		if (err == ENOSPC && !count && w->cap < UINT32_MAX / 2) {
			walk_alloc(L, w, w->cap * 2); /* a hash bucket larger than the chunk */
			continue;
		}
		if (err && err != ENOENT) {
			if (!w->started && batch_unsupported(err)) {
				w->batch = false;
				break;
			}
			sh_raise_errno(L, err, NULL, "map '%s': batch lookup", w->m->name);
		}
		w->started = true;
		memcpy(w->in, w->out, w->tsize);
		w->n = count;
		w->done = err == ENOENT;
		if (count)
			return true;
	}
	if (!w->batch && !w->done) {
		if (!w->started) {
			w->dedup = restarts(w->m->type);
			if (w->dedup) {
				lua_newtable(L);
				lua_setiuservalue(L, lua_upvalueindex(1), 2);
			}
		}
		fill_fallback(L, w);
	}
	return w->n > 0;
}

/* Hand out the next element: 0 at the end, else 1 with key and val pointing into the buffer. */
static int walk_step(lua_State *L, struct sh_walk *w, const char **key, const char **val)
{
	if (w->i == w->n && (w->done || !walk_fill(L, w)))
		return 0;
	if (w->yielded >= (lua_Integer)w->m->max_entries) {
		w->complete = false; /* more than a map can hold at once: it changed under us */
		w->done = true;
		w->n = w->i = 0;
		return 0;
	}
	*key = w->keys + (size_t)w->i * w->ksize;
	*val = w->vals + (size_t)w->i * w->vsize;
	w->i++;
	w->yielded++;
	return 1;
}

/* ---- pairs -------------------------------------------------------------------------------- */

/* Push key and value of an element, straight through the plans when nothing else is needed. */
static inline void push_element(lua_State *L, struct sh_walk *w, const char *key, const char *val)
{
	if (w->kplan)
		sh_codec_push(L, w->kplan, key);
	else
		sh_map_push_key(L, w->m, key);
	if (w->vplan)
		sh_codec_push(L, w->vplan, val);
	else
		sh_map_push_value(L, w->m, val, w->percpu, w->acc);
}

static int walk_iter(lua_State *L)
{
	struct sh_walk *w = lua_touserdata(L, lua_upvalueindex(1));
	const char *key, *val;

	walk_check(L, w);
	if (!walk_step(L, w, &key, &val))
		return 0;
	push_element(L, w, key, val);
	return 2;
}

/* pairs(m), m:pairs(opts) -> iterator, walk */
int sh_map_pairs(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	sh_map_require(L, m, SH_MAP_OP_WALK, "iterate");
	sh_map_opts(L, m, 2, &o, "percpu, batch, chunk");
	lua_settop(L, 1);
	walk_new(L, m, &o, true);
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, walk_iter, 1);
	lua_insert(L, -2);
	return 2;
}

/* Run fn over every element of the walk at top, which walk_fill reaches as upvalue 1: a C
 * closure over the walk, so one code path serves pairs and the walks below. */
static int run_snapshot(lua_State *L)
{
	struct sh_walk *w = lua_touserdata(L, lua_upvalueindex(1));
	const char *key, *val;

	lua_createtable(L, 0, 0);
	while (walk_step(L, w, &key, &val)) {
		push_element(L, w, key, val);
		lua_rawset(L, -3);
	}
	lua_pushboolean(L, w->complete);
	return 2;
}

/* m:snapshot(opts) -> table, complete */
int sh_map_snapshot(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	sh_map_require(L, m, SH_MAP_OP_WALK, "snapshot");
	sh_map_opts(L, m, 2, &o, "percpu, batch, chunk");
	lua_settop(L, 1);
	walk_new(L, m, &o, true);
	lua_pushcclosure(L, run_snapshot, 1);
	lua_call(L, 0, 2);
	return 2;
}

static int run_count(lua_State *L)
{
	struct sh_walk *w = lua_touserdata(L, lua_upvalueindex(1));
	lua_Integer n = 0;

	while (walk_fill(L, w)) {
		n += w->n;
		w->i = w->n;
		if (n > (lua_Integer)w->m->max_entries) {
			n = w->m->max_entries; /* more than it can hold: it changed under us */
			w->complete = false;
			break;
		}
	}
	lua_pushinteger(L, n);
	lua_pushboolean(L, w->complete);
	return 2;
}

/* m:count(opts) -> elements, complete */
int sh_map_count(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	sh_map_require(L, m, SH_MAP_OP_WALK, "count");
	sh_map_opts(L, m, 2, &o, "batch, chunk");
	if (sh_map_is_fixed(m->type)) {
		lua_pushinteger(L, m->max_entries); /* every index of an array exists */
		lua_pushboolean(L, 1);
		return 2;
	}
	lua_settop(L, 1);
	walk_new(L, m, &o, false);
	lua_pushcclosure(L, run_count, 1);
	lua_call(L, 0, 2);
	return 2;
}

/* Delete what the walk hands out, chunk by chunk. A batch cursor survives deletes; the
 * fallback's previous key does not, so it restarts from the first key each chunk, which
 * after the deletes is the next one left. Bounded: at most max_entries / cap + 2 rounds per
 * max_entries elements deleted. */
static int run_clear(lua_State *L)
{
	struct sh_walk *w = lua_touserdata(L, lua_upvalueindex(1));
	lua_Integer deleted = 0, rounds = 0, max_rounds;

	max_rounds = 2 * ((lua_Integer)w->m->max_entries / w->cap + 2);
	while (rounds++ < max_rounds) {
		if (!w->batch) {
			/* walk_fill makes a fresh dedup table for a walk that has not started */
			w->started = w->done = false;
			w->steps = 0;
		}
		if (!walk_fill(L, w))
			break;
		for (__u32 i = 0; i < w->n; i++) {
			if (bpf_map_delete_elem(w->fd, w->keys + (size_t)i * w->ksize) == 0)
				deleted++;
			else if (errno != ENOENT)
				sh_raise_errno(L, errno, NULL, "map '%s': delete", w->m->name);
		}
		w->i = w->n;
		if (w->batch && w->done)
			break;
	}
	lua_pushinteger(L, deleted);
	return 1;
}

/* Zero every element of an array. */
static int clear_fixed(lua_State *L, struct sh_map *m)
{
	size_t size = sh_map_value_bytes(m);
	void *zero = lua_newuserdatauv(L, size ? size : 1, 0);
	int fd = sh_map_fd(L, m);

	memset(zero, 0, size);
	for (__u32 i = 0; i < m->max_entries; i++)
		if (bpf_map_update_elem(fd, &i, zero, BPF_ANY) < 0)
			return sh_raise_errno(L, errno, NULL, "map '%s': clear index %d", m->name,
					      (int)i);
	lua_pushinteger(L, m->max_entries);
	return 1;
}

/* m:clear(opts) -> elements removed (arrays: zeroed) */
int sh_map_clear(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_map_opts o;

	sh_map_require(L, m, SH_MAP_OP_WALK, "clear");
	sh_map_opts(L, m, 2, &o, "batch, chunk");
	if (sh_map_is_fixed(m->type))
		return clear_fixed(L, m);
	lua_settop(L, 1);
	walk_new(L, m, &o, false);
	lua_pushcclosure(L, run_clear, 1);
	lua_call(L, 0, 1);
	return 1;
}

/* ---- the walk handle ---------------------------------------------------------------------- */

static int walk_index(lua_State *L)
{
	struct sh_walk *w = luaL_checkudata(L, 1, SH_MAPWALK_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "complete"))
		lua_pushboolean(L, w->complete);
	else if (!strcmp(k, "count"))
		lua_pushinteger(L, w->yielded);
	else if (!strcmp(k, "batch"))
		lua_pushboolean(L, w->batch);
	else if (!strcmp(k, "done"))
		lua_pushboolean(L, w->done && w->i == w->n);
	else
		lua_pushnil(L);
	return 1;
}

static void walk_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_walk *w = (struct sh_walk *)h;

	free(w->buf);
	w->buf = NULL;
	w->n = w->i = 0;
	w->done = true;
}

static int walk_tostring(lua_State *L)
{
	struct sh_walk *w = luaL_checkudata(L, 1, SH_MAPWALK_MT);

	lua_pushfstring(L, "%s of '%s' (%s, %I elements%s)", SH_MAPWALK_MT, w->m->name,
			w->batch ? "batch" : "get_next_key", (LUAI_UACINT)w->yielded,
			w->complete ? "" : ", incomplete");
	return 1;
}

static const luaL_Reg walk_meta[] = {
	{ "__index", walk_index },
	{ "__tostring", walk_tostring },
	{ NULL, NULL },
};

static const struct sh_class walk_class = {
	.name = SH_MAPWALK_MT,
	.close = walk_close,
	.meta = walk_meta,
};

int sh_mapwalk_open(lua_State *L)
{
	sh_class_register(L, &walk_class);
	return 0;
}
