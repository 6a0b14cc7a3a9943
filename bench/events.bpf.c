// SPDX-License-Identifier: GPL-2.0
/*
 * events.bpf.c: the kernel side of bench/events.lua.
 *   fill           socket filter run through BPF_PROG_TEST_RUN: writes records into `events`
 *                  until it is full (or `fill_max` records), so a drain can be timed alone.
 *   sys_enter_getppid  tracepoint: one record per getppid() of bench_config[0].target_pid (the
 *                  live producer), through the loss ledger (events_drops).
 * A socket filter because test_run accepts `repeat` for it (syscall and raw_tp programs
 * refuse it) and the ring buffer helpers and bpf_loop are base helpers every type has.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockhost/sockhost.bpf.h"
#include "events.h"

/* Records the last fill wrote, and the upper bound for one fill. */
__u64 filled = 0;
__u64 produced = 0;
const volatile __u32 fill_max = 1 << 23;

/* 4 MiB: a fill holds about 100 K records; the memcg-charged map memory stays modest. */
SH_RINGBUF(events, 4 * 1024 * 1024);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_config);
} bench_config SEC(".maps");

/* Keeps struct bench_event in the BTF: see bpf/hello-sockops.bpf.c. */
struct bench_event bench_event_type __attribute__((unused));

static long fill_one(__u64 i, void *ctx)
{
	struct bench_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 1; /* full: stop the loop */
	e->seq = i;
	e->ts = 0;
	e->pid = 0;
	e->cpu = 0;
	e->val = i * 3;
	/* adaptive wakeup: only the first record of a fill (into an empty ring) wakes the
	 * reader; an epoll reader sees nothing without one, the ring's poll is not re-checked */
	bpf_ringbuf_submit(e, 0);
	filled++;
	return 0;
}

SEC("socket")
int fill(struct __sk_buff *skb)
{
	filled = 0;
	bpf_loop(fill_max, fill_one, NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int sys_enter_getppid(void *ctx)
{
	__u32 zero = 0;
	struct bench_config *c = bpf_map_lookup_elem(&bench_config, &zero);
	struct bench_event *e;

	if (!c || (bpf_get_current_pid_tgid() >> 32) != c->target_pid)
		return 0;
	/* the add returns the old value (BPF CPU v3): a second read of produced would race */
	__u64 seq = __sync_fetch_and_add(&produced, 1) + 1;
	e = sh_ringbuf_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->seq = seq;
	e->ts = bpf_ktime_get_ns();
	e->pid = c->target_pid;
	e->cpu = bpf_get_smp_processor_id();
	e->val = 0;
	sh_ringbuf_submit(events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
