// SPDX-License-Identifier: GPL-2.0
/*
 * events/drain.c: what ring buffer and perf buffer subscriptions share once set up (setup.c
 * parses the options, ledger.c keeps the counters): the drain that turns records into Lua
 * calls, one record per call, per-field batches or raw strings, the error policy, and close.
 *
 * The drain runs under ONE lua_pcall per dispatch, not one per record: per record it decodes,
 * gives the record back to the kernel (commit) and only then lua_call()s the callback. A Lua
 * error longjmps to that pcall, which is in this file, never through libbpf, and the record
 * that raised has already been consumed, so the next poll starts at the next record. With
 * opts.on_error = "count" the error is counted and the drain resumes with the next record.
 *
 * Lifetime: the subscription userdata is referenced from the registry while subscribed and
 * listed in a weak table for stats(), so a dropped handle keeps receiving and a closed,
 * collected one leaves the stats. A close from inside a callback only unregisters; the kind's
 * free() (munmap, perf_buffer__free) runs when the drain is over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "btf/codec.h"
#include "events/jsonl.h"
#include "events/source.h"
#include "loop/loop.h"
#include "lua/class.h"
#include "obj/map.h"

/* Records handled per dispatch before the loop gets to look at timers and signals. */
#define DRAIN_MAX (1 << 16)
/* Errors counted (on_error = "count") per dispatch before the loop gets its turn. */
#define DRAIN_RESTARTS 1024

void sh_evsrc_start(lua_State *L, struct sh_evsrc *s, int ud_idx)
{
	ud_idx = lua_absindex(L, ud_idx);
	if (!s->src.dispatch)
		s->src.dispatch = sh_evsrc_dispatch;
	s->src.ctx = s;
	sh_loop_add(L, &s->src);
	lua_pushvalue(L, ud_idx);
	s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	sh_push_weak_registry(L, SH_EVSOURCES_KEY, "k");
	lua_pushvalue(L, ud_idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	/* a subscription to an object's map ends when the object closes, as its links do */
	lua_getiuservalue(L, ud_idx, 1); /* the map */
	if (((struct sh_map *)lua_touserdata(L, -1))->parent &&
	    lua_getiuservalue(L, -1, 1) == LUA_TUSERDATA)
		sh_owner_track(L, -1, ud_idx);
	lua_settop(L, ud_idx);
}

/* registry table (weak values): lightuserdata(s) -> the userdata of a weakly held source */
#define WEAK_KEY "sockhost.evsources.weak"

void sh_evsrc_hold_weakly(lua_State *L, int ud_idx)
{
	struct sh_evsrc *s = lua_touserdata(L, ud_idx);

	ud_idx = lua_absindex(L, ud_idx);
	sh_push_weak_registry(L, WEAK_KEY, "v");
	lua_pushlightuserdata(L, s);
	lua_pushvalue(L, ud_idx);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	if (s->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
	s->self_ref = LUA_NOREF;
}

bool sh_evsrc_push(lua_State *L, struct sh_evsrc *s)
{
	if (s->self_ref != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->self_ref);
		return true;
	}
	/* held weakly: gone from the table once it is being collected */
	sh_push_weak_registry(L, WEAK_KEY, "v");
	lua_pushlightuserdata(L, s);
	lua_rawget(L, -2);
	lua_remove(L, -2);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

/* ---- the drain ---------------------------------------------------------------------------- */

static lua_Integer load_bits(const struct sh_column *c, const unsigned char *p)
{
	__u64 v = 0;
	int nbytes = (c->bit_off + c->bit_size + 7) / 8;

	for (int i = 0; i < nbytes; i++)
		v |= (__u64)p[i] << (8 * i);
	v >>= c->bit_off;
	if (c->bit_size < 64) {
		v &= (1ULL << c->bit_size) - 1;
		if (c->is_signed && (v >> (c->bit_size - 1)))
			v |= ~0ULL << c->bit_size;
	}
	return (lua_Integer)v;
}

#define LOAD(type, p)                           \
	({                                      \
		type __v;                       \
		memcpy(&__v, (p), sizeof(__v)); \
		(lua_Integer) __v;              \
	})

/* Push one field of a record: the per-event and batch paths both come through here. */
static inline void push_column(lua_State *L, const struct sh_column *c, const unsigned char *p)
{
	switch (c->kind) {
	case SH_COL_U8:
		lua_pushinteger(L, *p);
		break;
	case SH_COL_U16:
		lua_pushinteger(L, LOAD(__u16, p));
		break;
	case SH_COL_U32:
		lua_pushinteger(L, LOAD(__u32, p));
		break;
	case SH_COL_U64:
		lua_pushinteger(L, LOAD(__u64, p));
		break;
	case SH_COL_S8:
		lua_pushinteger(L, (__s8)*p);
		break;
	case SH_COL_S16:
		lua_pushinteger(L, LOAD(__s16, p));
		break;
	case SH_COL_S32:
		lua_pushinteger(L, LOAD(__s32, p));
		break;
	case SH_COL_S64:
		lua_pushinteger(L, LOAD(__s64, p));
		break;
	case SH_COL_BITS:
		lua_pushinteger(L, load_bits(c, p));
		break;
	case SH_COL_CODEC:
		sh_codec_push(L, c->codec, p);
		break;
	}
}

/* Append one record to the batch columns, which sit at stack slots first..first+ncols-1. */
static void push_columns(lua_State *L, struct sh_evsrc *s, int first, lua_Integer i,
			 const unsigned char *rec)
{
	for (int k = 0; k < s->ncols; k++) {
		const struct sh_column *c = &s->cols[k];

		push_column(L, c, rec + c->off);
		lua_rawseti(L, first + k, i);
	}
}

static inline void commit(struct sh_evsrc *s)
{
	s->ops->commit(s);
	s->commits++;
}

static int too_small(lua_State *L, struct sh_evsrc *s, size_t size)
{
	return luaL_error(L, "%s '%s': record of %d bytes is smaller than %s (%d bytes)", s->kind,
			  s->name, (int)size, s->type, (int)s->min_size);
}

/* The next record, or false when none is ready. A record shorter than the decoded type is
 * given back to the kernel and raised (the drain runs under a pcall). */
static inline bool next_record(lua_State *L, struct sh_evsrc *s, const void **data, size_t *size)
{
	if (!s->ops->next(s, data, size))
		return false;
	if (*size < s->min_size) {
		commit(s);
		too_small(L, s, *size);
	}
	return true;
}

/* Hand the batch of n records to the callback; clears what a longer earlier batch left. */
static void flush_batch(lua_State *L, struct sh_evsrc *s, int first, int n)
{
	int ncols = s->ncols ? s->ncols : 1;

	for (int k = 0; k < ncols; k++)
		for (int i = n + 1; i <= s->batch_prev; i++) {
			lua_pushnil(L);
			lua_rawseti(L, first + k, i);
		}
	s->batch_prev = n;
	lua_pushvalue(L, 3); /* fn */
	lua_pushvalue(L, 4); /* the batch table */
	lua_pushinteger(L, n);
	lua_call(L, 2, 0);
}

static int drain_batch(lua_State *L, struct sh_evsrc *s, struct sh_loop *lp)
{
	int first = 5, n = 0;
	const void *data;
	size_t size;

	if (s->ncols) {
		luaL_checkstack(L, s->ncols + 4, "batch columns");
		for (int k = 0; k < s->ncols; k++)
			lua_getfield(L, 4, s->cols[k].name);
	} else {
		lua_pushvalue(L, 4);
	}
	for (int total = 0; total < DRAIN_MAX && !sh_loop_stopping(lp) && !s->close_pending;
	     total++) {
		if (!s->ops->next(s, &data, &size))
			break;
		if (size < s->min_size) {
			commit(s);
			if (n)
				flush_batch(L, s, first, n);
			return too_small(L, s, size);
		}
		n++;
		if (s->ncols)
			push_columns(L, s, first, n, data);
		else {
			if (s->codec)
				sh_codec_push(L, s->codec, data);
			else
				lua_pushlstring(L, data, size);
			lua_rawseti(L, first, n);
		}
		commit(s);
		s->received++;
		if (n == s->batch) {
			flush_batch(L, s, first, n);
			n = 0;
		}
	}
	if (n)
		flush_batch(L, s, first, n);
	return 0;
}

/* One fresh table per record, keyed by the field names at stack slots 5.. (setup_flat). */
static int drain_flat(lua_State *L, struct sh_evsrc *s, struct sh_loop *lp)
{
	const int first = 5, ncols = s->ncols;
	const void *data;
	size_t size;

	luaL_checkstack(L, ncols + 8, "record fields");
	for (int k = 0; k < ncols; k++)
		lua_rawgeti(L, 4, k + 1);
	for (int total = 0; total < DRAIN_MAX && !sh_loop_stopping(lp) && !s->close_pending;
	     total++) {
		if (!next_record(L, s, &data, &size))
			break;
		lua_pushvalue(L, 3);
		lua_createtable(L, 0, ncols);
		for (int k = 0; k < ncols; k++) {
			const struct sh_column *c = &s->cols[k];
			const unsigned char *p = (const unsigned char *)data + c->off;

			lua_pushvalue(L, first + k);
			push_column(L, c, p);
			lua_rawset(L, -3);
		}
		commit(s);
		s->received++;
		lua_call(L, 1, 0);
	}
	return 0;
}

/* Write the line out (a short write raises with errno, so a closed pipe stops the loop). */
static void write_line(lua_State *L, struct sh_evsrc *s, FILE *f, const char *line, size_t len)
{
	if (!line)
		luaL_error(L, "%s '%s': opts.ndjson: out of memory", s->kind, s->name);
	if (fwrite(line, 1, len, f) != len) {
		int e = errno;

		clearerr(f);
		luaL_error(L, "%s '%s': opts.ndjson: write: %s", s->kind, s->name, strerror(e));
	}
}

/* opts.ndjson: every record becomes a line written from C; the callback, if any, also gets
 * the decoded record. The file is flushed once per drain, not per line. */
static int drain_ndjson(lua_State *L, struct sh_evsrc *s, struct sh_loop *lp)
{
	luaL_Stream *out;
	bool has_fn = !lua_isnil(L, 3);
	const void *data;
	size_t size, len;
	int rc = 0;

	lua_getiuservalue(L, 1, 5);
	out = luaL_testudata(L, -1, LUA_FILEHANDLE);
	if (!out || !out->closef)
		return luaL_error(L, "%s '%s': opts.ndjson.out is closed", s->kind, s->name);
	sh_jsonl_begin(s->jsonl);
	for (int total = 0; total < DRAIN_MAX && !sh_loop_stopping(lp) && !s->close_pending;
	     total++) {
		const char *line;

		if (!next_record(L, s, &data, &size))
			break;
		line = sh_jsonl_encode(s->jsonl, data, &len);
		if (has_fn) {
			lua_pushvalue(L, 3);
			sh_codec_push(L, s->codec, data);
		}
		commit(s);
		s->received++;
		write_line(L, s, out->f, line, len);
		if (has_fn)
			lua_call(L, 1, 0);
	}
	if (fflush(out->f)) {
		int e = errno;

		clearerr(out->f);
		rc = luaL_error(L, "%s '%s': opts.ndjson: write: %s", s->kind, s->name,
				strerror(e));
	}
	return rc;
}

/* drain(ud, s): runs under sh_pcall. Stack: 1 ud, 2 s, 3 fn, 4 batch table. */
static int drain(lua_State *L)
{
	struct sh_evsrc *s = lua_touserdata(L, 2);
	struct sh_loop *lp = sh_loop_of(L);
	const struct sh_codec *codec = s->codec;
	const void *data;
	size_t size;

	lua_settop(L, 2);
	lua_getiuservalue(L, 1, 2);
	lua_getiuservalue(L, 1, 3);
	if (s->jsonl)
		return drain_ndjson(L, s, lp);
	if (s->batch)
		return drain_batch(L, s, lp);
	if (s->ncols)
		return drain_flat(L, s, lp);
	for (int total = 0; total < DRAIN_MAX && !sh_loop_stopping(lp) && !s->close_pending;
	     total++) {
		if (!next_record(L, s, &data, &size))
			break;
		lua_pushvalue(L, 3);
		if (codec)
			sh_codec_push(L, codec, data);
		else
			lua_pushlstring(L, data, size);
		/* the record is ours now: an error in the callback must not see it again */
		commit(s);
		s->received++;
		lua_call(L, 1, 0);
	}
	return 0;
}

static void finish(lua_State *L, struct sh_evsrc *s);

static void count_error(lua_State *L, struct sh_evsrc *s)
{
	s->errors++;
	if (s->error_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, s->error_ref);
	s->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Is the map of the subscription at idx closed, or its object? */
static bool map_gone(lua_State *L, int idx)
{
	struct sh_map *m;
	bool gone;

	lua_getiuservalue(L, idx, 1);
	m = luaL_testudata(L, -1, SH_MAP_MT);
	gone = !m || sh_map_is_closed(m);
	lua_pop(L, 1);
	return gone;
}

int sh_evsrc_dispatch(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_evsrc *s = src->ctx;
	int top = lua_gettop(L), rc = 0;

	if (!s->h.live || !sh_evsrc_push(L, s)) /* on the stack: s stays alive through the drain */
		return 0;
	if (map_gone(L, top + 1)) {
		/* the object was closed: its subscriptions end with it, as its links do */
		sh_evsrc_close(L, top + 1, &s->h);
		s->h.live = NULL;
		lua_settop(L, top);
		return 0;
	}
	s->draining = true;
	for (int restarts = 0; restarts < DRAIN_RESTARTS; restarts++) {
		lua_Integer commits = s->commits;

		lua_pushcfunction(L, drain);
		lua_pushvalue(L, top + 1);
		lua_pushlightuserdata(L, s);
		if (sh_pcall_traced(L, 2, 0) == LUA_OK)
			break;
		lua_pushvalue(L, -1);
		count_error(L, s);
		if (!s->count_errors) {
			sh_loop_fail(L);
			rc = -1;
			break;
		}
		lua_pop(L, 1);
		/* count mode goes on with the next record; unless the source was closed, or the
		 * error consumed no record (then it did not come from one and would come again) */
		if (s->close_pending || s->commits == commits)
			break;
	}
	s->draining = false;
	if (s->close_pending)
		finish(L, s);
	lua_settop(L, top);
	return rc;
}

int sh_evsrc_l_drain(lua_State *L)
{
	struct sh_evsrc *s = sh_evsrc_check(L, 1);
	lua_Integer before = s->received;

	if (!s->h.live)
		return luaL_error(L, "attempt to use a closed %s", s->kind);
	if (s->draining)
		return luaL_error(L, "%s '%s': drain() from inside its own callback", s->kind,
				  s->name);
	sh_loop_dispatch_now(L, &s->src);
	lua_pushinteger(L, s->received - before);
	return 1;
}

/* ---- close ---------------------------------------------------------------------------------- */

/* Free the kind's resources, once: read the final drop count first. */
static void finish(lua_State *L, struct sh_evsrc *s)
{
	if (s->freed)
		return;
	s->freed = true;
	s->close_pending = false;
	s->dropped_final = s->ops->dropped(s);
	/* the loss ledger closes its books: what nobody read is counted, not forgotten */
	s->discarded += s->ops->pending(s);
	s->ops->free(s);
	sh_evsrc_free_columns(s);
	sh_jsonl_free(s->jsonl);
	s->jsonl = NULL;
	if (s->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
	s->self_ref = LUA_NOREF;
}

void sh_evsrc_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_evsrc *s = (struct sh_evsrc *)h;

	sh_loop_del(L, &s->src);
	if (s->ops->stop)
		s->ops->stop(L, s);
	if (s->draining) {
		s->close_pending = true;
		return;
	}
	finish(L, s);
}
