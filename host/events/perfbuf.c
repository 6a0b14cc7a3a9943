// SPDX-License-Identifier: GPL-2.0
/*
 * events/perfbuf.c: sockhost.perfbuf, a subscription of a Lua function to a BPF perf event array
 * (one perf ring per CPU). libbpf's perf_buffer__new_raw opens the per-CPU perf events, maps
 * them and fills the map; the records are read here, one at a time, from the mappings libbpf
 * hands out (perf_buffer__buffer), for the same reason as ringbuf.c: drain.c
 * stores each record's data_tail before it calls Lua, so an error never crosses libbpf and
 * never sees a record twice. A record that wraps around the end of a ring is copied into a
 * scratch buffer first, as perf_event_read_simple does.
 *
 * PERF_RECORD_LOST records are the kernel's count of samples it could not write: they add to
 * `dropped` and, after the drain, reach opts.on_lost(count) when given.
 *
 * Perf rings signal readiness edge-like (perf_poll resets its state when read): records left
 * in a ring by stop() or an error arrive with the next wakeup, not at once.
 *
 * Owns the perf_buffer and the scratch buffer. User values as every source (source.h);
 * 4 is on_lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "events/events.h"
#include "events/source.h"
#include "loop/loop.h"
#include "lua/class.h"
#include "obj/map.h"

#define SH_PERFBUF_MT "sockhost.perfbuf"
#define PAGES_DEFAULT 16

struct sh_cpu_ring {
	struct perf_event_mmap_page *hdr;
	unsigned char *data;
	size_t size; /* a power of 2 */
};

struct sh_perfbuf {
	struct sh_evsrc ev; /* first: the handle */
	struct perf_buffer *pb;
	struct sh_cpu_ring *rings;
	size_t nrings, cur;
	bool loaded; /* head/tail of rings[cur] read for this pass */
	__u64 head, tail, next_tail;
	void *copy;
	size_t copy_size;
	__u64 lost, lost_reported;
	bool has_on_lost;
};

struct sample_raw {
	struct perf_event_header header;
	__u32 size;
	unsigned char data[];
};

struct sample_lost {
	struct perf_event_header header;
	__u64 id;
	__u64 lost;
};

/* The record at tail of ring c, contiguous (copied when it wraps), or NULL (no memory). */
static struct perf_event_header *record_at(struct sh_perfbuf *p, struct sh_cpu_ring *c)
{
	struct perf_event_header *e = (void *)(c->data + (p->tail & (c->size - 1)));
	size_t first, sz = e->size;

	if ((unsigned char *)e + sz <= c->data + c->size)
		return e;
	if (p->copy_size < sz) {
		void *n = realloc(p->copy, sz);

		if (!n)
			return NULL;
		p->copy = n;
		p->copy_size = sz;
	}
	first = (size_t)(c->data + c->size - (unsigned char *)e);
	memcpy(p->copy, e, first);
	memcpy((unsigned char *)p->copy + first, c->data, sz - first);
	return p->copy;
}

static int perf_next(struct sh_evsrc *s, const void **data, size_t *size)
{
	struct sh_perfbuf *p = (struct sh_perfbuf *)s;

	while (p->cur < p->nrings) {
		struct sh_cpu_ring *c = &p->rings[p->cur];
		struct perf_event_header *e;

		if (!p->loaded) {
			p->head = __atomic_load_n(&c->hdr->data_head, __ATOMIC_ACQUIRE);
			p->tail = c->hdr->data_tail;
			p->loaded = true;
		}
		if (p->tail == p->head) {
			p->cur++;
			p->loaded = false;
			continue;
		}
		e = record_at(p, c);
		if (!e)
			return 0;
		p->next_tail = p->tail + e->size;
		if (e->type == PERF_RECORD_SAMPLE) {
			struct sample_raw *r = (struct sample_raw *)e;

			*data = r->data;
			*size = r->size;
			return 1;
		}
		if (e->type == PERF_RECORD_LOST)
			p->lost += ((struct sample_lost *)e)->lost;
		p->tail = p->next_tail;
		__atomic_store_n(&c->hdr->data_tail, p->tail, __ATOMIC_RELEASE);
	}
	p->cur = 0; /* the next drain starts a new pass over the CPUs */
	p->loaded = false;
	return 0;
}

static void perf_commit(struct sh_evsrc *s)
{
	struct sh_perfbuf *p = (struct sh_perfbuf *)s;

	p->tail = p->next_tail;
	__atomic_store_n(&p->rings[p->cur].hdr->data_tail, p->tail, __ATOMIC_RELEASE);
}

static __u64 perf_dropped(struct sh_evsrc *s)
{
	return ((struct sh_perfbuf *)s)->lost;
}

/* Samples left in every CPU's ring (headers are 8-byte aligned: they never wrap). */
static lua_Integer perf_pending(struct sh_evsrc *s)
{
	struct sh_perfbuf *p = (struct sh_perfbuf *)s;
	lua_Integer n = 0;

	for (size_t i = 0; p->rings && i < p->nrings; i++) {
		struct sh_cpu_ring *c = &p->rings[i];
		__u64 head = __atomic_load_n(&c->hdr->data_head, __ATOMIC_ACQUIRE);
		__u64 tail = c->hdr->data_tail;

		for (size_t k = 0; tail < head && k <= c->size / 8; k++) {
			struct perf_event_header *e = (void *)(c->data + (tail & (c->size - 1)));

			if (!e->size)
				break;
			if (e->type == PERF_RECORD_SAMPLE)
				n++;
			tail += e->size;
		}
	}
	return n;
}

static void perf_free(struct sh_evsrc *s)
{
	struct sh_perfbuf *p = (struct sh_perfbuf *)s;

	perf_buffer__free(p->pb);
	p->pb = NULL;
	free(p->rings);
	p->rings = NULL;
	free(p->copy);
	p->copy = NULL;
	p->copy_size = 0;
}

static const struct sh_evsrc_ops perf_ops = {
	.next = perf_next,
	.commit = perf_commit,
	.dropped = perf_dropped,
	.pending = perf_pending,
	.free = perf_free,
	.opt_names = (const char *const[]){ "batch", "fields", "on_error", "ndjson", "pages",
					    "on_lost", NULL },
};

static const struct sh_class perf_class = {
	.name = SH_PERFBUF_MT,
	.close = sh_evsrc_close,
	.describe = sh_evsrc_describe,
	.methods = sh_evsrc_methods,
	.meta = sh_evsrc_meta,
};

/* The records, then opts.on_lost(n) for samples lost since the last call. */
static int perf_dispatch(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_perfbuf *p = src->ctx;
	int ud, rc;

	if (!sh_evsrc_push(L, &p->ev))
		return 0;
	ud = lua_gettop(L);
	rc = sh_evsrc_dispatch(L, src, events);
	if (rc == 0 && p->has_on_lost && p->lost != p->lost_reported && p->ev.h.live) {
		lua_getiuservalue(L, ud, 4);
		lua_pushinteger(L, (lua_Integer)(p->lost - p->lost_reported));
		p->lost_reported = p->lost;
		rc = sh_loop_call(L, 1);
	}
	lua_settop(L, ud - 1);
	return rc;
}

static enum bpf_perf_event_ret unused_event_cb(void *ctx, int cpu, struct perf_event_header *e)
{
	return LIBBPF_PERF_EVENT_CONT; /* never called: the rings are read by perf_next */
}

/* sockhost.perfbuf(map, type_name_or_nil, fn [, opts]) */
static int sh_perfbuf_subscribe(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct perf_event_attr attr = { 0 };
	lua_Integer pages = PAGES_DEFAULT;
	struct sh_perfbuf *p;
	int fd, err, n;

	if (m->type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return luaL_error(L, "map '%s' is a %s map, not a perf event array", m->name,
				  libbpf_bpf_map_type_str(m->type));
	lua_settop(L, 4);
	fd = sh_map_fd(L, m);
	p = (struct sh_perfbuf *)sh_evsrc_new(L, &perf_class, sizeof(*p), &perf_ops, "perfbuf");
	sh_evsrc_setup(L, &p->ev, 5, m, 2, 3, 4);
	if (lua_istable(L, 4)) {
		if (lua_getfield(L, 4, "pages") != LUA_TNIL) {
			pages = luaL_checkinteger(L, -1);
			if (pages < 1 || pages > 4096 || (pages & (pages - 1)))
				return luaL_error(L,
						  "perfbuf '%s': opts.pages must be a power "
						  "of 2 in 1..4096, got %I",
						  m->name, pages);
		}
		if (lua_getfield(L, 4, "on_lost") != LUA_TNIL) {
			if (!lua_isfunction(L, -1))
				return luaL_error(L,
						  "perfbuf '%s': opts.on_lost must be a "
						  "function, got %s",
						  m->name, luaL_typename(L, -1));
			lua_pushvalue(L, -1);
			lua_setiuservalue(L, 5, 4);
			p->has_on_lost = true;
		}
		lua_settop(L, 5);
	}

	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW;
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	p->pb = perf_buffer__new_raw(fd, (size_t)pages, &attr, unused_event_cb, p, NULL);
	if (!p->pb)
		return sh_raise_errno(L, errno, NULL, "perfbuf '%s': subscribe", m->name);
	n = (int)perf_buffer__buffer_cnt(p->pb);
	p->rings = calloc(n ? n : 1, sizeof(*p->rings));
	if (!p->rings)
		return luaL_error(L, "perfbuf '%s': out of memory", m->name);
	for (int i = 0; i < n; i++) {
		void *base;
		size_t size;

		err = perf_buffer__buffer(p->pb, i, &base, &size);
		if (err)
			return sh_raise_errno(L, -err, NULL, "perfbuf '%s': ring %d", m->name, i);
		p->rings[i].hdr = base;
		p->rings[i].data = (unsigned char *)base + sysconf(_SC_PAGESIZE);
		p->rings[i].size = size;
	}
	p->nrings = (size_t)n;
	p->ev.src.fd = perf_buffer__epoll_fd(p->pb);
	sh_evsrc_start(L, &p->ev, 5);
	p->ev.src.dispatch = perf_dispatch;
	return 1;
}

int sh_perfbuf_open(lua_State *L)
{
	sh_class_register(L, &perf_class);
	lua_pushcfunction(L, sh_perfbuf_subscribe);
	lua_setfield(L, -2, "perfbuf");
	return 0;
}
