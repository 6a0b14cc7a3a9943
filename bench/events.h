/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events.h: the 32-byte record of the events benchmark (events.bpf.c), decoded by BTF name
 * ("struct bench_event") on the sockhost side and read directly by events_ref.c.
 */
#ifndef BENCH_EVENTS_H
#define BENCH_EVENTS_H

struct bench_event {
	__u64 seq;
	__u64 ts;
	__u32 pid;
	__u32 cpu;
	__u64 val;
};

/* bench_config[0]: which process the live tracepoint records. */
struct bench_config {
	__u32 target_pid;
	__u32 pad;
};

#endif /* BENCH_EVENTS_H */
