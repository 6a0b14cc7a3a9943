// SPDX-License-Identifier: GPL-2.0
/*
 * metrics.bpf.c: the kernel side of bench/metrics.lua.
 *   series             hash map of struct series_key {shard, slot} -> __u64, filled from Lua
 *                      (10,000 entries by default: the family a scrape renders).
 *   sys_enter_getppid  tracepoint: one record per getppid() of the process in `target_tgid`
 *                      (the bench's paced producer) into `events`, through the loss ledger
 *                      (events_drops), so the CPU of a scrape is measured under an event load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockhost/sockhost.bpf.h"

struct series_key {
	__u32 shard;
	__u32 slot;
};

struct series_event {
	__u64 seq;
	__u64 ts;
};

const volatile __u32 target_tgid = 0;
__u64 produced = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10000);
	__type(key, struct series_key);
	__type(value, __u64);
} series SEC(".maps");

SH_RINGBUF(events, 1024 * 1024);

/* Keeps struct series_event in the BTF: see bpf/hello-sockops.bpf.c. */
struct series_event series_event_type __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_getppid")
int sys_enter_getppid(void *ctx)
{
	struct series_event *e;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	/* the add returns the old value (BPF CPU v3): a second read of produced would race */
	__u64 seq = __sync_fetch_and_add(&produced, 1) + 1;
	e = sh_ringbuf_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->seq = seq;
	e->ts = bpf_ktime_get_ns();
	sh_ringbuf_submit(events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
