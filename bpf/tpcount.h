/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tpcount.h: the record tpcount.bpf.c sends through its ring buffer `events`. Shared by the
 * BPF side and the host; decoded by BTF name ("struct tp_event").
 */
#ifndef TPCOUNT_H
#define TPCOUNT_H

/*
 * One per getppid() call of target_pid seen by the sys_enter_getppid tracepoint.
 *   pid  tgid of the caller (what getpid() returns in it, not the thread id).
 *   seq  the value of the global `hits` just after counting this call: 1, 2, 3 ... for a
 *        single-threaded caller. Concurrent callers on several CPUs may see repeats or gaps
 *        (the read is not atomic with the increment, see tpcount.bpf.c).
 *   ts   bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds.
 */
struct tp_event {
	__u32 pid;
	__u32 seq;
	__u64 ts;
};

#endif /* TPCOUNT_H */
