// SPDX-License-Identifier: GPL-2.0
/*
 * evgen: events on demand, for the events specs and examples. The tracepoint program
 * runs on openat() calls of one process (a Lua script opens /dev/null to trigger it) and,
 * per call, as its settings say:
 *   - writes `burst` struct ev_record (evgen.h) into the ring buffer `events` through the
 *     loss ledger (sh_ringbuf_reserve: failures counted in events_drops);
 *   - writes the same records into the perf buffer `perf_events`;
 *   - logs one message at each level through sh_log_* (sockhost_log);
 *   - bpf_printk()s a line with a marker, for the trace_pipe reader.
 * `produced` counts every record attempted on the ring, so received + dropped == produced.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockhost/sockhost.bpf.h"
#include "evgen.h"

/* Process (tgid) whose calls count; 0: every process. */
const volatile __u32 target_pid = 0;
const volatile __u64 cookie = 0;
/* Records per call (at most 256), and where they go. */
const volatile __u32 burst = 1;
const volatile bool to_ring = true;
const volatile bool to_perf = false;
/* Log one message per level per call. */
const volatile bool log_levels = false;
/* Nonzero: bpf_printk("sockhost-evgen <marker> <seq>") per call. */
const volatile __u32 printk_marker = 0;

__u64 calls = 0;
__u64 produced = 0;

SH_RINGBUF(events, 64 * 1024);
SH_LOG_MAP(64 * 1024);

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* Keeps struct ev_record in the BTF: see hello-sockops.bpf.c's hello_event_type. */
struct ev_record ev_record_type __attribute__((unused));
struct ev_big ev_big_type __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct ev_record rec = {};
	__u32 seq;

	if (target_pid && pid != target_pid)
		return 0;
	seq = __sync_fetch_and_add(&calls, 1) + 1;
	rec.pid = pid;
	rec.seq = seq;
	rec.cpu = bpf_get_smp_processor_id();
	rec.cookie = cookie;
	for (__u32 i = 0; i < burst && i < 256; i++) {
		rec.idx = i;
		rec.ts = bpf_ktime_get_ns();
		if (to_ring) {
			struct ev_record *e;

			__sync_fetch_and_add(&produced, 1);
			e = sh_ringbuf_reserve(events, sizeof(*e));
			if (e) {
				*e = rec;
				bpf_ringbuf_submit(e, 0);
			}
		}
		if (to_perf)
			bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &rec,
					      sizeof(rec));
	}
	if (log_levels) {
		sh_log_error(ctx, "error %u", seq);
		sh_log_warn(ctx, "warn %u", seq);
		sh_log_info(ctx, "info %u pid=%d hex=%#x addr=%pI4", seq, pid, 0xbeef, 0x0100007f);
		sh_log_debug(ctx, "debug %u %5d|%-4u|%lld %%", seq, -42, 7, -1LL);
		sh_log_trace(ctx, "trace %u", seq);
	}
	if (printk_marker)
		bpf_printk("sockhost-evgen %u %u", printk_marker, seq);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
