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

/* ---- histograms ------------------------------------------------------------------------- */

/*
 * Histograms in the kernel, read by sockhost.hist (lua/sockhost/hist.lua) with no
 * translation: the bucket numbers below are the keys hist.log2_buckets(map) and
 * hist.linear_buckets(map, min, max, step) read, and both are bpftrace's own (hist() and
 * lhist()), so the printout is bpftrace's line for line.
 *
 *   SH_HIST(lat, SH_LOG2_BUCKETS);           array map `lat`: __u32 bucket -> __u64 count
 *   sh_hist_inc(lat, sh_log2_bucket(delta_ns));
 *
 *   SH_HIST(sizes, SH_LIN_BUCKETS(0, 1000, 100));
 *   sh_hist_inc(sizes, sh_lin_bucket(len, 0, 1000, 100));
 *
 *   print(hist.log2_buckets(obj:map("lat"), { title = "@lat" }))
 *   print(hist.linear_buckets(obj:map("sizes"), 0, 1000, 100))
 *
 * sh_log2_bucket(v), v taken as a signed 64-bit value (as bpftrace's int64 hist()):
 *	bucket 0      v < 0 (so a __u64 at or above 2^63)     printed "(..., 0)"
 *	bucket 1      v == 0                                  printed "[0]"
 *	bucket k >= 2 2^(k-2) <= v < 2^(k-1)                  printed "[1]", "[2, 4)", "[4, 8)" ...
 * that is, for v > 0, the bit length of v plus one; 65 buckets (0..64) hold every value.
 * NOT libbpf-tools' numbering: its log2l() slot s holds [2^s, 2^(s+1)) (slot 0 also holds
 * 0), two below this one, so a libbpf-tools slot map read by hist.log2_buckets prints every
 * value 4x too small. Use these helpers, or give hist.log2_buckets opts.key.
 *
 * sh_lin_bucket(v, min, max, step), signed v/min/max, step > 0, n = (max - min) / step:
 *	bucket 0              v < min                         printed "(..., min)"
 *	bucket i, 1 <= i <= n min + (i-1)*step <= v < min + i*step
 *	bucket n + 1          v >= max, and (as in bpftrace) a value past the last full step
 * SH_LIN_BUCKETS(min, max, step) = n + 2 buckets.
 *
 * sh_hist_inc adds 1 to the bucket atomically (programs on several CPUs share the map). A
 * bucket at or past nbuckets is not counted: size the map with the macros above.
 */
#define SH_LOG2_BUCKETS		       65
#define SH_LIN_BUCKETS(min, max, step) (((max) - (min)) / (step) + 2)

#define SH_HIST(name, nbuckets)                   \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, nbuckets);    \
		__type(key, __u32);               \
		__type(value, __u64);             \
	} name SEC(".maps")

/* The number of significant bits of v (0 for 0): BPF has no count-leading-zeros. */
static __always_inline __u32 sh_bit_length(__u64 v)
{
	__u32 n = 0;

	/* a binary search in six fixed steps, unrolled: no loop for the verifier to bound */
#pragma unroll
	for (__u32 shift = 32; shift > 0; shift >>= 1) {
		if (v >> shift) {
			v >>= shift;
			n += shift;
		}
	}
	return n + (__u32)v;
}

static __always_inline __u32 sh_log2_bucket(__s64 v)
{
	if (v < 0)
		return 0;
	return sh_bit_length((__u64)v) + 1;
}

static __always_inline __u32 sh_lin_bucket(__s64 v, __s64 min, __s64 max, __u64 step)
{
	/* unsigned divisions: BPF before cpu v4 has no signed one, and both operands are >= 0 */
	__u64 n = (__u64)(max - min) / step;

	if (v < min)
		return 0;
	if (v >= max)
		return n + 1;
	return (__u64)(v - min) / step + 1;
}

#define sh_hist_inc(name, bucket)                              \
	({                                                     \
		__u32 __k = (bucket);                          \
		__u64 *__c = bpf_map_lookup_elem(&name, &__k); \
		if (__c)                                       \
			__sync_fetch_and_add(__c, 1);          \
	})

#endif /* SOCKHOST_BPF_H */
