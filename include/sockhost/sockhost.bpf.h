/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockhost/sockhost.bpf.h: helpers for BPF programs hosted by sockhost. Include it after vmlinux.h and
 * bpf_helpers.h.
 *
 * The loss ledger. A record that does not fit into a ring buffer is lost in the kernel; the
 * reader never sees it. These helpers count every such failure in a per-CPU counter map named
 * after the ring buffer with "_drops" appended, which is how the host finds it with no
 * configuration: sockhost.ringbuf(obj:map("events"), ...) reads "events_drops" and reports
 * the sum as `dropped` in stats(). Per-CPU so that counting costs one uncontended add.
 *
 *   SH_RINGBUF(events, 256 * 1024);          ring buffer `events` and its `events_drops`
 *   SH_RINGBUF_DROPS(events);                just the counter, for a ring declared by hand
 *
 *   struct event *e = sh_ringbuf_reserve(events, sizeof(*e));
 *   if (!e)
 *           return 0;                        already counted
 *   ...
 *   sh_ringbuf_submit(events, e);            bpf_ringbuf_submit, paced (below)
 *
 *   sh_ringbuf_output(events, &e, sizeof(e)); bpf_ringbuf_output, counted and paced the same
 *
 * Pacing. By default the kernel wakes the reader for every record submitted while the reader
 * has caught up; at tens of thousands of records a second that is a wakeup, an epoll return
 * and a drain of one record each, which costs the traced workload (the wakeup runs on its
 * CPU) and starves the reader of batches. SH_RINGBUF also declares `<name>_wakeup`, a .bss
 * threshold the host sets while records come fast: sh_ringbuf_submit/output then submit
 * with BPF_RB_NO_WAKEUP until that many bytes wait, and the host reads on a short timer
 * (opts.latency, default 20 ms) instead. At 0 (idle, or no sockhost host) they submit with
 * flags 0, as bpf_ringbuf_submit(e, 0) does.
 *
 * Perf buffers need none of this: the kernel counts lost samples itself and the host reads
 * them from the perf ring.
 *
 * Logging, like aya-log. Declare the log ring once per object, then log from any program:
 *
 *   SH_LOG_MAP(64 * 1024);
 *   ...
 *   sh_log_info(ctx, "conn %u -> %u", sport, dport);
 *
 * sh_log_error/warn/info/debug/trace(ctx, fmt, args...) write one struct sh_log_record
 * (sockhost/log.h) with the level, the calling function's name (the program's name when
 * called from the program), the format and up to 8 integer arguments into `sockhost_log`
 * (its failures counted in sockhost_log_drops). The host prints "[INFO prog] conn 1 -> 2" on
 * stderr or hands it to a Lua function (sockhost.on_log). Formats: %d %i %u %x %X %o %c %p,
 * with h/hh/l/ll/z modifiers, widths and flags as printf, %% and %pI4 (an IPv4 address as a
 * __u32 in network order). No %s: strings would need copying from kernel memory; log their
 * bytes as integers instead. fmt must be a string literal of at most 127 bytes.
 * `sockhost_log_level` (a .data global) filters in the kernel too: the host sets it from
 * SOCKHOST_LOG / sockhost.log_level(); messages above it are not even written. ctx is
 * unused; it is taken so that call sites read as aya-log's.
 */
#ifndef SOCKHOST_BPF_H
#define SOCKHOST_BPF_H

#include "log.h"

#define SH_RINGBUF_DROPS(name)                           \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
	} name##_drops SEC(".maps")

/* bytes is the least the ring gets: sockhost sizes event rings from memory at open. */
#define SH_RINGBUF(name, bytes)                     \
	struct {                                    \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, bytes);         \
	} name SEC(".maps");                        \
	SH_RINGBUF_DROPS(name);                     \
	volatile __u64 name##_wakeup

/* Submit flags: wake the reader only once `*threshold` bytes wait (0: the kernel's default). */
static __always_inline __u64 sh_wakeup_flags(void *rb, volatile __u64 *threshold)
{
	__u64 t = *threshold;

	if (!t)
		return 0;
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= t ? BPF_RB_FORCE_WAKEUP :
							       BPF_RB_NO_WAKEUP;
}

static __always_inline void sh_count_drop(void *drops)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(drops, &zero);

	/* atomic although per-CPU: a program interrupted by another one on the same CPU (an NMI
	 * tracepoint, say) must not lose an increment; uncontended, it costs next to nothing */
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void *sh_reserve_or_count(void *rb, void *drops, __u64 size)
{
	void *p = bpf_ringbuf_reserve(rb, size, 0);

	if (!p)
		sh_count_drop(drops);
	return p;
}

static __always_inline long sh_output_or_count(void *rb, void *drops, void *data, __u64 size,
					       volatile __u64 *threshold)
{
	long err = bpf_ringbuf_output(rb, data, size, sh_wakeup_flags(rb, threshold));

	if (err)
		sh_count_drop(drops);
	return err;
}

#define sh_ringbuf_reserve(name, size) sh_reserve_or_count(&name, &name##_drops, size)
#define sh_ringbuf_output(name, data, size) \
	sh_output_or_count(&name, &name##_drops, data, size, &name##_wakeup)
#define sh_ringbuf_submit(name, p) bpf_ringbuf_submit(p, sh_wakeup_flags(&name, &name##_wakeup))

/* ---- logging ------------------------------------------------------------------------------ */

#define SH_LOG_MAP(bytes)                                                                 \
	SH_RINGBUF(sockhost_log, bytes);                                                  \
	/* the host lowers it to the level it shows; messages above it are not written */ \
	volatile __u32 sockhost_log_level = SH_LOG_TRACE

#define sh_log(log_ctx_, log_lvl_, log_fmt_, ...)                                                 \
	({                                                                                        \
		_Static_assert(sizeof("" log_fmt_) <= SH_LOG_FMT_MAX, "sh_log: format too long"); \
		_Static_assert(___bpf_narg(__VA_ARGS__) <= SH_LOG_ARGS_MAX, "sh_log: too many");  \
		(void)(log_ctx_);                                                                 \
		if ((log_lvl_) <= sockhost_log_level) {                                           \
			struct sh_log_record *__r =                                               \
				sh_ringbuf_reserve(sockhost_log, sizeof(struct sh_log_record));   \
			if (__r) {                                                                \
				__r->level = (log_lvl_);                                          \
				__r->nargs = ___bpf_narg(__VA_ARGS__);                            \
				__r->line = __LINE__;                                             \
				__builtin_memcpy(__r->fmt, "" log_fmt_, sizeof("" log_fmt_));     \
				__builtin_memcpy(__r->prog, __func__,                             \
						 sizeof(__func__) < SH_LOG_PROG_MAX ?             \
							 sizeof(__func__) :                       \
							 SH_LOG_PROG_MAX);                        \
				__r->prog[SH_LOG_PROG_MAX - 1] = 0;                               \
				___bpf_fill(__r->args, __VA_ARGS__);                              \
				bpf_ringbuf_submit(__r, 0);                                       \
			}                                                                         \
		}                                                                                 \
	})

#define sh_log_error(ctx, fmt, args...) sh_log(ctx, SH_LOG_ERROR, fmt, ##args)
#define sh_log_warn(ctx, fmt, args...)	sh_log(ctx, SH_LOG_WARN, fmt, ##args)
#define sh_log_info(ctx, fmt, args...)	sh_log(ctx, SH_LOG_INFO, fmt, ##args)
#define sh_log_debug(ctx, fmt, args...) sh_log(ctx, SH_LOG_DEBUG, fmt, ##args)
#define sh_log_trace(ctx, fmt, args...) sh_log(ctx, SH_LOG_TRACE, fmt, ##args)

/* ---- record types ------------------------------------------------------------------------- */

/*
 * SH_EVENT_TYPE(struct x): keep struct x in the object's BTF so the host can decode ring
 * buffer records by name (obj:subscribe("events", "struct x", fn)). clang emits BTF only for
 * types reachable from globals, maps and function signatures, and a ring buffer map has no
 * value type, so a record type used only through a reserved pointer would be missing. The
 * macro defines one unused global of the type (a struct, not a pointer: the host sees it as
 * a global too, reading as all zeroes). Use it once per type, at file scope:
 *
 *	struct conn_event { __u64 ts; __u32 pid; };
 *	SH_EVENT_TYPE(struct conn_event);
 */
#define SH_EVENT_TYPE(type)	   ___sh_event_type(type, __COUNTER__)
#define ___sh_event_type(type, n)  ___sh_event_type_(type, n)
#define ___sh_event_type_(type, n) type ___sh_event_type_##n __attribute__((unused))

#endif /* SOCKHOST_BPF_H */
