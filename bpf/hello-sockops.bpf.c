// SPDX-License-Identifier: GPL-2.0
/*
 * hello-sockops: the aya "hello-sockops" sample, sockhost style. A sock_ops program attached
 * to a cgroup sees TCP sockets of that cgroup's tasks at well-known points of their life
 * (connect, established, listen, state changes ...). `hello` sends one struct hello_event per
 * callback through the ring buffer `events`; see hello-sockops.h for layout and byte orders.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockhost/sockhost.bpf.h"
#include "hello-sockops.h"

#define AF_INET	 2
#define AF_INET6 10

/*
 * Extra callbacks to ask for once a connection is established. State changes by default;
 * set e.g. BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG (4 | 8) before load for one
 * event per RTT sample too (that is one per ACK: busy). 0 leaves the socket's flags alone.
 */
const volatile __u32 cb_flags = BPF_SOCK_OPS_STATE_CB_FLAG;

/* Records that do not fit (the reader is too slow) are counted in `events_drops`, which the
 * host reports with the subscription's stats (the loss ledger of sockhost.bpf.h). */
SH_RINGBUF(events, 256 * 1024);

/* Callbacks by family and op (layout in hello-sockops.h), for --metrics. Per CPU: callbacks
 * run on every CPU, mostly from softirq, and a shared counter would need atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HELLO_FAMILIES * HELLO_OPS);
	__type(key, __u32);
	__type(value, __u64);
} callbacks SEC(".maps");

static __always_inline void count_callback(__u32 family, __u32 op)
{
	__u32 slot = family == AF_INET ? 0 : family == AF_INET6 ? 1 : 2;
	__u32 idx = HELLO_CB_INDEX(slot, op);
	__u64 *n = bpf_map_lookup_elem(&callbacks, &idx);

	if (n)
		(*n)++;
}

/*
 * The host decodes ring buffer records by BTF type name ("struct hello_event"), but clang
 * emits BTF only for types reachable from globals, maps and function signatures, not from
 * locals, and a ring buffer map has no value type to name. This unused global keeps the type
 * in the object's BTF. A struct rather than the usual pointer: the host sees it as a global
 * too, and its codec has no use for pointers (this one reads as an all-zero struct).
 */
struct hello_event hello_event_type __attribute__((unused));

/*
 * The address fields of struct bpf_sock_ops only allow whole 4-byte loads: the kernel rewrites
 * each load into loads from struct sock and rejects narrower or wider ones. So copy them word
 * by word, spelled out: a loop over skops->local_ip6[i] may become a moving pointer into the
 * context, which the verifier refuses ("dereference of modified ctx ptr").
 */
static __always_inline void copy_addrs(struct hello_event *e, struct bpf_sock_ops *skops)
{
	__u32 *l = (__u32 *)e->laddr, *r = (__u32 *)e->raddr;

	if (e->family == AF_INET6) {
		l[0] = skops->local_ip6[0];
		l[1] = skops->local_ip6[1];
		l[2] = skops->local_ip6[2];
		l[3] = skops->local_ip6[3];
		r[0] = skops->remote_ip6[0];
		r[1] = skops->remote_ip6[1];
		r[2] = skops->remote_ip6[2];
		r[3] = skops->remote_ip6[3];
	} else if (e->family == AF_INET) {
		l[0] = skops->local_ip4;
		r[0] = skops->remote_ip4;
	}
}

SEC("sockops")
int hello(struct bpf_sock_ops *skops)
{
	struct hello_event *e;
	__u32 op = skops->op;

	if (cb_flags &&
	    (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB || op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB))
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | cb_flags);

	/* every callback, reported or lost: received + dropped of the ring */
	count_callback(skops->family, op);
	e = sh_ringbuf_reserve(events, sizeof(*e));
	if (!e)
		return 1;
	/* Ring buffer memory is not zeroed; the reader must not see stale bytes. */
	__builtin_memset(e, 0, sizeof(*e));

	/* Process context only; from softirq this is whatever task was running (see .h). */
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->op = op;
	e->family = skops->family;
	e->state = skops->state;
	/*
	 * The two ports differ (linux/bpf.h, and the kernel's sock_ops_convert_ctx_access()):
	 * local_port is skc_num, already host order. remote_port is skc_dport, a __be16 that
	 * the kernel loads as 16 bits and, on little-endian, shifts left by 16; so the u32 as a
	 * whole is the port in network order, and bpf_ntohl() gives it in host order on either
	 * endianness.
	 */
	e->lport = skops->local_port;
	e->rport = bpf_ntohl(skops->remote_port);
	copy_addrs(e, skops);
	if (op == BPF_SOCK_OPS_STATE_CB || op == BPF_SOCK_OPS_RTO_CB ||
	    op == BPF_SOCK_OPS_RETRANS_CB) {
		e->args[0] = skops->args[0];
		e->args[1] = skops->args[1];
	}
	sh_ringbuf_submit(events, e);
	/* sock_ops programs return 1; the per-op answer, if any, goes in skops->reply. */
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
