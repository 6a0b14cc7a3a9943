// SPDX-License-Identifier: GPL-2.0
/*
 * redirect: the ebpf-sockops socket redirect. `sock_ops` (attached to a cgroup) puts both ends
 * of every established local TCP connection of that cgroup into the sockhash `socks`, keyed
 * by the connection as each socket sees it. `msg_redirect` (attached to `socks`) runs on
 * every sendmsg of those sockets and moves the message straight into the peer socket's
 * receive queue, skipping TCP/IP, or lets it take the normal path when the peer is not in the
 * map. Keys, counters, modes and trace records are described in redirect.h.
 *
 * Sockets leave `socks` by themselves when they close; when the map goes (the host process
 * exits), every socket in it returns to plain TCP.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockhost/sockhost.bpf.h"
#include "redirect.h"

#define AF_INET	 2
#define AF_INET6 10

/* enum redirect_mode; REDIRECT_INGRESS is the redirect proper. */
const volatile __u32 mode = REDIRECT_INGRESS;
/* Send one struct redirect_event per establishment callback to `events`. */
const volatile bool trace = false;
/* Only connections whose peer is on this host (loopback, or the same address). */
const volatile bool local_only = true;

/*
 * Values are __u64 so that a lookup from userspace answers with the socket cookie (see
 * skmsg.bpf.c). libbpf creates the map without BTF; the host recovers the key type from the
 * object's .maps section, so Lua sees struct redirect_key tables.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4096);
	__type(key, struct redirect_key);
	__type(value, __u64);
} socks SEC(".maps");

/* Per CPU: the counters sit on the hot path of every sendmsg, and shared atomics between
 * CPUs would cost more than what ping-pong latency is trying to save. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct redirect_stats);
} stats SEC(".maps");

/* trace records that do not fit are counted in `events_drops` (the loss ledger) */
SH_RINGBUF(events, 64 * 1024);

/* Keeps the record type in the object's BTF for the host (see hello-sockops.bpf.c). */
struct redirect_event redirect_event_type __attribute__((unused));

static __always_inline struct redirect_stats *my_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* ::ffff:a.b.c.d from an IPv4 address in network order, as four 32-bit words. */
static __always_inline void map_v4(__u32 *w, __u32 ip4)
{
	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip4;
}

/*
 * Both context structs only allow whole 4-byte loads of the address fields (the kernel
 * rewrites each into loads from struct sock), and a loop over local_ip6[i] may compile to a
 * moving pointer into the context, which the verifier refuses. So: spelled out, word by word.
 */
static __always_inline void key_from_sockops(struct redirect_key *k, struct bpf_sock_ops *s)
{
	__u32 *l = (__u32 *)k->laddr, *r = (__u32 *)k->raddr;

	if (s->family == AF_INET6) {
		l[0] = s->local_ip6[0];
		l[1] = s->local_ip6[1];
		l[2] = s->local_ip6[2];
		l[3] = s->local_ip6[3];
		r[0] = s->remote_ip6[0];
		r[1] = s->remote_ip6[1];
		r[2] = s->remote_ip6[2];
		r[3] = s->remote_ip6[3];
	} else {
		map_v4(l, s->local_ip4);
		map_v4(r, s->remote_ip4);
	}
	/*
	 * The two ports differ (linux/bpf.h, sock_ops_convert_ctx_access()): local_port is
	 * skc_num, already host order; remote_port is skc_dport, a __be16 the kernel loads as 16
	 * bits and, on little-endian, shifts left by 16, so the whole u32 is the port in network
	 * order and bpf_ntohl() gives it in host order on either endianness.
	 */
	k->lport = s->local_port;
	k->rport = bpf_ntohl(s->remote_port);
}

/* The key under which the *peer* of the sending socket is stored: local and remote swapped.
 * sk_msg_md has the same port encodings as bpf_sock_ops (sk_msg_convert_ctx_access()). */
static __always_inline void peer_key_from_msg(struct redirect_key *k, struct sk_msg_md *m)
{
	__u32 *l = (__u32 *)k->laddr, *r = (__u32 *)k->raddr;

	if (m->family == AF_INET6) {
		l[0] = m->remote_ip6[0];
		l[1] = m->remote_ip6[1];
		l[2] = m->remote_ip6[2];
		l[3] = m->remote_ip6[3];
		r[0] = m->local_ip6[0];
		r[1] = m->local_ip6[1];
		r[2] = m->local_ip6[2];
		r[3] = m->local_ip6[3];
	} else {
		map_v4(l, m->remote_ip4);
		map_v4(r, m->local_ip4);
	}
	k->lport = bpf_ntohl(m->remote_port);
	k->rport = m->local_port;
}

static __always_inline void swap_ends(struct redirect_key *k)
{
	struct redirect_key t = {};

	__builtin_memcpy(t.laddr, k->raddr, 16);
	__builtin_memcpy(t.raddr, k->laddr, 16);
	t.lport = k->rport;
	t.rport = k->lport;
	*k = t;
}

/* Is the remote end on this host: 127.0.0.0/8, ::1, or the socket's own address? Keys hold
 * 16-byte addresses, so 127/8 is ::ffff:127.x.y.z. */
static __always_inline bool peer_is_local(const struct redirect_key *k)
{
	const __u32 *l = (const __u32 *)k->laddr, *r = (const __u32 *)k->raddr;

	if (r[0] == l[0] && r[1] == l[1] && r[2] == l[2] && r[3] == l[3])
		return true;
	if (r[0] || r[1])
		return false;
	if (r[2] == bpf_htonl(0x0000ffff))
		return (bpf_ntohl(r[3]) >> 24) == 127;
	return !r[2] && r[3] == bpf_htonl(1);
}

static __always_inline void trace_event(struct bpf_sock_ops *skops, const struct redirect_key *k,
					__u32 op, int result)
{
	struct redirect_event *e = sh_ringbuf_reserve(events, sizeof(*e));

	if (!e)
		return;
	e->op = op;
	e->result = result;
	e->family = skops->family;
	e->lport = k->lport;
	e->rport = k->rport;
	e->pad = 0;
	__builtin_memcpy(e->laddr, k->laddr, 16);
	__builtin_memcpy(e->raddr, k->raddr, 16);
	bpf_ringbuf_submit(e, 0);
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *skops)
{
	struct redirect_stats *st;
	struct redirect_key k = {};
	__u32 op = skops->op;
	int ret = 1;

	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	key_from_sockops(&k, skops);
	st = my_stats();
	if (local_only && !peer_is_local(&k)) {
		if (st)
			st->skipped++;
	} else {
		/* BPF_NOEXIST: a stale entry under the same tuple would be a socket that is
		 * gone; the kernel drops it on close, so an existing key means a bug upstream. */
		ret = bpf_sock_hash_update(skops, &socks, &k, BPF_NOEXIST);
		if (st) {
			if (ret)
				st->add_failed++;
			else
				st->added++;
		}
	}
	if (trace)
		trace_event(skops, &k, op, ret);
	/* sock_ops programs return 1; a per-op answer would go in skops->reply. */
	return 1;
}

SEC("sk_msg")
int msg_redirect(struct sk_msg_md *msg)
{
	struct redirect_stats *st = my_stats();
	struct redirect_key k = {};
	__u32 size = msg->size;
	long verdict = SK_DROP;

	if (mode == REDIRECT_INGRESS) {
		peer_key_from_msg(&k, msg);
		verdict = bpf_msg_redirect_hash(msg, &socks, &k, BPF_F_INGRESS);
	} else if (mode == REDIRECT_EGRESS) {
		peer_key_from_msg(&k, msg);
		swap_ends(&k);
		verdict = bpf_msg_redirect_hash(msg, &socks, &k, 0);
	}
	/*
	 * bpf_msg_redirect_hash() answers SK_DROP when the key is not in the map, and then has
	 * set nothing: returning SK_PASS sends the message down the normal TCP path.
	 */
	if (st) {
		if (verdict == SK_PASS) {
			st->msgs++;
			st->bytes += size;
		} else {
			st->passed++;
			st->passed_bytes += size;
		}
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
