// SPDX-License-Identifier: GPL-2.0
/*
 * events/ringbuf.c: sockhost.ringbuf, a subscription of a Lua function to a BPF ring buffer map.
 *
 * The ring is read here, not through libbpf's ring_buffer: the consumer page and the data
 * pages are mmap'ed as libbpf does (the data area twice in a row, so a record is always
 * contiguous) and records are handed out one at a time to drain.c, which decodes a
 * record, stores the consumer position and only then calls Lua. That is what lets one pcall
 * cover a whole drain (fast) while an error still leaves the consumer position right: no Lua
 * error ever crosses libbpf code, and the record that raised is never delivered twice.
 *
 * Owns: a dup of the map fd (what the loop's epoll watches, so two subscriptions to one map
 * are two epoll entries), the two mappings, and a dup of the `<map>_drops` counter fd. The map
 * handle is user value 1, which keeps the object alive. Both mappings hold their own
 * reference on the map, so closing the object while subscribed is safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "events/events.h"
#include "events/ringpace.h"
#include "events/source.h"
#include "lua/class.h"
#include "lua/opts.h"
#include "obj/map.h"
#include "obj/object.h"

#define SH_RINGBUF_MT "sockhost.ringbuf"

struct sh_ringbuf {
	struct sh_evsrc ev; /* first: the handle */
	unsigned long *consumer_pos; /* mmap'ed read-write page */
	unsigned long *producer_pos; /* mmap'ed read-only: producer page + data twice */
	unsigned char *data;
	size_t mask, page_size, data_size;
	unsigned long cons, next_cons, prod;
	int fd; /* dup of the map fd, watched by the loop */
	int drops_fd;
	struct sh_ringpace pace; /* when the reader wakes: ringpace.c */
};

static size_t roundup_len(__u32 len)
{
	len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
	return ((size_t)len + BPF_RINGBUF_HDR_SZ + 7) & ~(size_t)7;
}

/* libbpf's ringbuf_process_ring, one record at a time. */
static int ring_next(struct sh_evsrc *s, const void **data, size_t *size)
{
	struct sh_ringbuf *r = (struct sh_ringbuf *)s;

	for (;;) {
		__u32 *hdr, len;

		if (r->cons >= r->prod) {
			r->cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
			r->prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
			if (r->cons >= r->prod)
				return 0;
		}
		hdr = (__u32 *)(r->data + (r->cons & r->mask));
		len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		if (len & BPF_RINGBUF_BUSY_BIT)
			return 0; /* reserved, not yet submitted: wait for the producer */
		r->next_cons = r->cons + roundup_len(len);
		if (len & BPF_RINGBUF_DISCARD_BIT) {
			r->cons = r->next_cons;
			__atomic_store_n(r->consumer_pos, r->cons, __ATOMIC_RELEASE);
			continue;
		}
		*data = (const unsigned char *)hdr + BPF_RINGBUF_HDR_SZ;
		*size = len;
		return 1;
	}
}

static void ring_commit(struct sh_evsrc *s)
{
	struct sh_ringbuf *r = (struct sh_ringbuf *)s;

	r->cons = r->next_cons;
	__atomic_store_n(r->consumer_pos, r->cons, __ATOMIC_RELEASE);
}

static __u64 ring_dropped(struct sh_evsrc *s)
{
	return sh_evsrc_read_counter(((struct sh_ringbuf *)s)->drops_fd);
}

/* Records between the consumer and the producer (submitted or still being written). */
static lua_Integer ring_pending(struct sh_evsrc *s)
{
	struct sh_ringbuf *r = (struct sh_ringbuf *)s;
	unsigned long cons, prod;
	lua_Integer n = 0;

	if (!r->consumer_pos || !r->producer_pos)
		return 0;
	cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	/* at most one record per 8 bytes: a bound even if the ring's headers were garbage */
	for (size_t i = 0; cons < prod && i <= r->data_size / 8; i++) {
		__u32 len =
			__atomic_load_n((__u32 *)(r->data + (cons & r->mask)), __ATOMIC_ACQUIRE);

		if (!(len & BPF_RINGBUF_DISCARD_BIT))
			n++;
		cons += roundup_len(len);
	}
	return n;
}

static void ring_stop(lua_State *L, struct sh_evsrc *s)
{
	sh_ringpace_stop(L, &((struct sh_ringbuf *)s)->pace);
}

/* stats().paced: how many times the ring went batched (ringpace.c) */
static void ring_stats(lua_State *L, struct sh_evsrc *s)
{
	lua_pushinteger(L, (lua_Integer)((struct sh_ringbuf *)s)->pace.batched_entries);
	lua_setfield(L, -2, "paced");
}

static int ring_dispatch(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_ringbuf *r = src->ctx;

	if (events && r->ev.h.live)
		sh_ringpace_woken(L, &r->pace);
	return sh_evsrc_dispatch(L, src, events);
}

static void ring_free(struct sh_evsrc *s)
{
	struct sh_ringbuf *r = (struct sh_ringbuf *)s;

	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page_size);
	if (r->producer_pos)
		munmap(r->producer_pos, r->page_size + 2 * r->data_size);
	r->consumer_pos = r->producer_pos = NULL;
	if (r->fd >= 0)
		close(r->fd);
	if (r->drops_fd >= 0)
		close(r->drops_fd);
	r->fd = r->drops_fd = -1;
}

static const struct sh_evsrc_ops ring_ops = {
	.next = ring_next,
	.commit = ring_commit,
	.dropped = ring_dropped,
	.pending = ring_pending,
	.stop = ring_stop,
	.stats = ring_stats,
	.free = ring_free,
	.opt_names =
		(const char *const[]){ "batch", "fields", "on_error", "ndjson", "latency", NULL },
};

static const struct sh_class ring_class = {
	.name = SH_RINGBUF_MT,
	.close = sh_evsrc_close,
	.describe = sh_evsrc_describe,
	.methods = sh_evsrc_methods,
	.meta = sh_evsrc_meta,
};

/* Map the ring as libbpf's ring_buffer__add does; 0 or -errno. */
static int ring_map(struct sh_ringbuf *r, int map_fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	void *p;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	r->page_size = (size_t)sysconf(_SC_PAGESIZE);
	r->data_size = info.max_entries;
	r->mask = r->data_size - 1;
	r->fd = fcntl(map_fd, F_DUPFD_CLOEXEC, 3);
	if (r->fd < 0)
		return -errno;
	p = mmap(NULL, r->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer_pos = p;
	p = mmap(NULL, r->page_size + 2 * r->data_size, PROT_READ, MAP_SHARED, r->fd,
		 (off_t)r->page_size);
	if (p == MAP_FAILED)
		return -errno;
	r->producer_pos = p;
	r->data = (unsigned char *)p + r->page_size;
	r->cons = r->prod = 0;
	return 0;
}

/* opts.latency: how long a record may wait while the ring is read in batches */
#define LATENCY_DEFAULT 0.02
#define LATENCY_MAX	10

/* registry[RINGS_KEY][map id] = the live subscription of that ring (weak values) */
#define RINGS_KEY "sockhost.rings"

/* sockhost.ringbuf(map, type_name_or_nil, fn [, opts]) */
int sh_ringbuf_subscribe(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	struct sh_ringbuf *r;
	double latency;
	int fd, err;

	if (m->type != BPF_MAP_TYPE_RINGBUF)
		return luaL_error(L, "map '%s' is a %s map, not a ring buffer", m->name,
				  libbpf_bpf_map_type_str(m->type));
	lua_settop(L, 4);
	fd = sh_map_fd(L, m);

	/* A ring buffer has one consumer position: two readers would each move it under the
	 * other and lose or repeat records. One live subscription per map. */
	struct bpf_map_info info;
	__u32 ilen = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0)
		return sh_raise_errno(L, errno, NULL, "ringbuf '%s': map info", m->name);
	sh_push_weak_registry(L, RINGS_KEY, "v");
	if (lua_rawgeti(L, -1, info.id) == LUA_TUSERDATA &&
	    ((struct sh_ringbuf *)lua_touserdata(L, -1))->ev.h.live)
		return luaL_error(L,
				  "ringbuf '%s' already has a subscriber: a ring buffer has one "
				  "consumer position (close the other subscription first)",
				  m->name);
	lua_settop(L, 4);

	r = (struct sh_ringbuf *)sh_evsrc_new(L, &ring_class, sizeof(*r), &ring_ops, "ringbuf");
	r->fd = r->drops_fd = -1;
	r->pace.timer.fd = -1;
	sh_evsrc_setup(L, &r->ev, 5, m, 2, 3, 4);
	latency = LATENCY_DEFAULT;
	if (lua_istable(L, 4) && lua_getfield(L, 4, "latency") != LUA_TNIL) {
		lua_pushfstring(L, "ringbuf '%s': opts.latency", m->name);
		latency = sh_check_seconds(L, -2, lua_tostring(L, -1));
		if (latency > LATENCY_MAX)
			return luaL_error(
				L, "ringbuf '%s': opts.latency must be at most %d seconds, got %s",
				m->name, LATENCY_MAX, lua_tostring(L, -2));
	}
	lua_settop(L, 5);
	err = ring_map(r, fd);
	if (err)
		return sh_raise_errno(L, -err, NULL, "ringbuf '%s': subscribe", m->name);
	r->drops_fd = sh_evsrc_drops_fd(m);
	r->ev.src.fd = r->fd;
	r->ev.src.dispatch = ring_dispatch;
	sh_ringpace_init(L, &r->pace, &r->ev, m, r->data_size, latency);
	sh_evsrc_start(L, &r->ev, 5);
	sh_push_weak_registry(L, RINGS_KEY, "v");
	lua_pushvalue(L, 5);
	lua_rawseti(L, -2, info.id);
	lua_pop(L, 1);
	return 1;
}

/* obj:subscribe(mapname, type_name, fn [, opts]) == sockhost.ringbuf(obj:map(mapname), ...) */
static int l_subscribe(lua_State *L)
{
	sh_object_check(L, 1);
	lua_settop(L, 5);
	lua_getfield(L, 1, "map"); /* obj:map(name): the object's cached map handle */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_call(L, 2, 1);
	lua_replace(L, 1); /* map, name, type, fn, opts */
	lua_remove(L, 2); /* map, type, fn, opts */
	return sh_ringbuf_subscribe(L);
}

int sh_ringbuf_open(lua_State *L)
{
	static const luaL_Reg object_methods[] = {
		{ "subscribe", l_subscribe },
		{ NULL, NULL },
	};

	sh_class_register(L, &ring_class);
	sh_class_add_methods(L, SH_OBJECT_MT, object_methods);
	lua_pushcfunction(L, sh_ringbuf_subscribe);
	lua_setfield(L, -2, "ringbuf");
	return 0;
}
