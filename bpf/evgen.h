/* SPDX-License-Identifier: GPL-2.0 */
/*
 * evgen.h: the record evgen.bpf.c sends through its ring buffer `events` and its perf buffer
 * `perf_events`. Decoded by BTF name ("struct ev_record").
 *
 * 32 bytes, naturally aligned, no holes.
 *   pid    tgid of the caller.
 *   seq    1, 2, 3 ... per traced call (the value of `calls` after counting it).
 *   idx    0 .. burst-1 within one call's burst.
 *   cpu    CPU the record was made on.
 *   ts     bpf_ktime_get_ns().
 *   cookie the `cookie` setting, so a spec can tell its records from any other's.
 */
#ifndef EVGEN_H
#define EVGEN_H

struct ev_record {
	__u32 pid;
	__u32 seq;
	__u32 idx;
	__u32 cpu;
	__u64 ts;
	__u64 cookie;
};

/* Bigger than any record evgen sends: subscribing with it must fail on the first record. */
struct ev_big {
	__u8 data[64];
};

#endif /* EVGEN_H */
