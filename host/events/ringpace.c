// SPDX-License-Identifier: GPL-2.0
/*
 * events/ringpace.c: pacing a ring buffer's reader. Two modes:
 *
 *   idle     `<ring>_wakeup` is 0: the BPF side submits with flags 0 and the kernel wakes
 *            the reader for a record that finds it caught up (one wakeup per record at low
 *            rates, none while it is behind). No timer runs: an idle tool costs nothing.
 *   batched  entered when the ring fd wakes the loop more than BUSY_WAKEUPS times in
 *            WINDOW_NS: the threshold becomes a quarter of the ring, the BPF side submits
 *            with BPF_RB_NO_WAKEUP below it, and a timerfd drains every opts.latency. The
 *            traced workload no longer pays for a wakeup per record, and the reader handles
 *            records in batches of hundreds.
 *
 * Back to idle: a timed drain that finds nothing sets the threshold to 0, and the timer runs
 * once more, because a program that read the old threshold just before may still submit with
 * NO_WAKEUP; a record it leaves would find the reader behind and wake nobody. If that last
 * drain finds records, the ring stays batched.
 *
 * The threshold lives in the object's .bss, which this file maps itself (the object's own
 * mapping goes when the object closes, the subscription may outlive it by a drain).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "events/ringpace.h"
#include "events/source.h"
#include "obj/globals.h"
#include "obj/map.h"

#define WINDOW_NS    (100 * 1000 * 1000ULL)
#define BUSY_WAKEUPS 64 /* in a window: 640 wakeups a second */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void arm(struct sh_ringpace *p, bool on)
{
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_sec = p->interval_ns / 1000000000L;
		its.it_value.tv_nsec = p->interval_ns % 1000000000L;
		its.it_interval = its.it_value;
	}
	timerfd_settime(p->timer.fd, 0, &its, NULL);
}

static void set_threshold(struct sh_ringpace *p, __u64 v)
{
	__atomic_store_n(p->wakeup, v, __ATOMIC_RELEASE);
}

static int on_tick(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_ringpace *p = src->ctx;
	struct sh_evsrc *s = p->s;
	__u64 ticks;
	lua_Integer before = s->received;
	int rc;

	(void)events;
	if (read(src->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return 0;
	rc = sh_evsrc_dispatch(L, &s->src, 0);
	if (!p->wakeup || !s->h.live)
		return rc; /* closed by the drain: stop() has run */
	if (s->received != before) {
		if (p->last_check)
			set_threshold(p, p->threshold);
		p->last_check = false;
	} else if (!p->last_check) {
		set_threshold(p, 0);
		p->last_check = true;
	} else {
		p->last_check = false;
		p->batched = false;
		p->window_wakeups = 0;
		arm(p, false);
	}
	return rc;
}

void sh_ringpace_init(lua_State *L, struct sh_ringpace *p, struct sh_evsrc *s, struct sh_map *m,
		      size_t data_size, double latency)
{
	char name[128];
	int fd;
	size_t map_size, off, size, page = (size_t)sysconf(_SC_PAGESIZE);
	void *base;

	memset(p, 0, sizeof(*p));
	p->timer.fd = -1;
	p->s = s;
	snprintf(name, sizeof(name), "%s_wakeup", m->name);
	if (!m->parent || !sh_global_locate(m->parent, name, &fd, &map_size, &off, &size) ||
	    size != sizeof(__u64) || off % sizeof(__u64))
		return; /* not an SDK ring: the kernel's default wakeups */
	p->map_len = (map_size + page - 1) / page * page;
	base = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		sh_raise_errno(L, errno, NULL, "ringbuf '%s': map %s", m->name, name);
	p->map_base = base;
	p->wakeup = (volatile __u64 *)((char *)base + off);
	p->threshold = data_size / 4;
	p->interval_ns = (long)(latency * 1e9);
	if (p->interval_ns < 1000000)
		p->interval_ns = 1000000;
	p->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->timer.fd < 0) {
		int e = errno;

		sh_ringpace_stop(L, p);
		sh_raise_errno(L, e, NULL, "ringbuf '%s': timerfd_create", m->name);
	}
	p->timer.dispatch = on_tick;
	p->timer.ctx = p;
	set_threshold(p, 0);
	sh_loop_add(L, &p->timer);
}

void sh_ringpace_woken(lua_State *L, struct sh_ringpace *p)
{
	__u64 now;

	(void)L;
	if (!p->wakeup || p->batched)
		return;
	now = now_ns();
	if (now - p->window_start_ns > WINDOW_NS) {
		p->window_start_ns = now;
		p->window_wakeups = 0;
	}
	if (++p->window_wakeups > BUSY_WAKEUPS) {
		p->batched = true;
		p->last_check = false;
		p->batched_entries++;
		set_threshold(p, p->threshold);
		arm(p, true);
	}
}

void sh_ringpace_stop(lua_State *L, struct sh_ringpace *p)
{
	if (p->timer.fd >= 0) {
		sh_loop_del(L, &p->timer);
		close(p->timer.fd);
		p->timer.fd = -1;
	}
	if (p->wakeup)
		set_threshold(p, 0); /* for whoever reads this ring next */
	p->wakeup = NULL;
	if (p->map_base)
		munmap(p->map_base, p->map_len);
	p->map_base = NULL;
}
