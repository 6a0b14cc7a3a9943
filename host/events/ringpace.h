/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events/ringpace.h: when a ring buffer's reader wakes (see sockhost/sockhost.bpf.h,
 * "Pacing"). Private to events/ringbuf.c.
 */
#ifndef SOCKHOST_EVENTS_RINGPACE_H
#define SOCKHOST_EVENTS_RINGPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <lua.h>
#include "loop/loop.h"

struct sh_evsrc;
struct sh_map;

struct sh_ringpace {
	struct sh_source timer; /* timerfd: the drains while batched */
	struct sh_evsrc *s;
	volatile __u64 *wakeup; /* <ring>_wakeup in our own mapping of the object's .bss */
	void *map_base;
	size_t map_len;
	__u64 threshold; /* bytes waiting that force a wakeup while batched */
	long interval_ns; /* opts.latency */
	bool batched;
	bool last_check; /* threshold back at 0: one more timed drain catches a straggler */
	__u64 window_start_ns;
	int window_wakeups;
	__u64 batched_entries; /* times it went batched, for stats */
};

/* Set up pacing for s on ring m (data_size bytes) when m's object has `<ring>_wakeup`;
 * latency in seconds. Raises only on timerfd/mmap failure. */
void sh_ringpace_init(lua_State *L, struct sh_ringpace *p, struct sh_evsrc *s, struct sh_map *m,
		      size_t data_size, double latency);
/* The ring's fd woke the loop (counted to decide whether to go batched). */
void sh_ringpace_woken(lua_State *L, struct sh_ringpace *p);
/* Unregister the timer, put the threshold back to 0, unmap. Never raises; idempotent. */
void sh_ringpace_stop(lua_State *L, struct sh_ringpace *p);

#endif
