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
 * exits), every socket in it returns to plain TCP. With `release_on_shutdown`, a socket also
 * leaves it when it shuts down its write side, if that loses nothing (release_half_closed()).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
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
/* Take a socket out of `socks` when it shuts down its write side (release_half_closed()). */
const volatile bool release_on_shutdown = true;

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

/* Refused inserts by errno (redirect.h): why sockets stayed out, for --metrics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REDIRECT_ERRNOS);
	__type(key, __u32);
	__type(value, __u64);
} refused SEC(".maps");

/*
 * Marks the sockets this object put into `socks`. Every sock_ops program on the cgroup sees
 * the state callbacks a socket asked for, so a second redirect run on the same cgroup (whose
 * insert was refused) must not count or touch sockets the first one owns.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} owned SEC(".maps");

/* trace records that do not fit are counted in `events_drops` (the loss ledger) */
SH_RINGBUF(events, 64 * 1024);

/* Keeps the record type in the object's BTF for the host (see hello-sockops.bpf.c). */
struct redirect_event redirect_event_type __attribute__((unused));

static __always_inline struct redirect_stats *my_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void count_refused(int ret)
{
	__u32 err = ret < 0 && -ret < REDIRECT_ERRNOS ? -ret : 0;
	__u64 *n = bpf_map_lookup_elem(&refused, &err);

	if (n)
		(*n)++;
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
	sh_ringbuf_submit(events, e);
}

/* include/net/sock.h: the flag bits in the low bits of sk->sk_user_data (not in BTF). */
#define SK_USER_DATA_PSOCK   4UL
#define SK_USER_DATA_PTRMASK (~7UL)

/*
 * Why a socket that shuts down its write side leaves the map. Once a socket is in a sockhash
 * it has a psock, and its recvmsg is tcp_bpf_recvmsg() (net/ipv4/tcp_bpf.c). When no
 * message is queued, that function waits once, in tcp_msg_wait_data(): sk_wait_event() on
 * sk_sleep(sk) until psock->ingress_msg or sk_receive_queue is non-empty, or until anything
 * wakes the socket's wait queue. If the condition is still false when it wakes, and the
 * socket is not RCV_SHUTDOWN (tcp_msg_wait_data()'s only shutdown check, which returns 1:
 * data, then tcp_recvmsg() gives EOF), tcp_bpf_recvmsg() returns -EAGAIN, whatever is left
 * of the timeout (MAX_SCHEDULE_TIMEOUT for a plain blocking socket). tcp_recvmsg() instead
 * loops: after each wake-up it checks data, sk_err, RCV_SHUTDOWN, SOCK_DONE, TCP_CLOSE and the
 * remaining timeout, and waits again. After shutdown(SHUT_WR) a wake-up without data always
 * comes: the ACK of the socket's own FIN moves it from FIN_WAIT1 to FIN_WAIT2, and
 * tcp_rcv_state_process() calls sk->sk_state_change() (sock_def_wakeup(), every waiter). So a
 * blocking recv() after shutdown(SHUT_WR) fails with EAGAIN as soon as that ACK arrives
 * (the peer's delayed ACK: 3.6-7.7 ms in ingress mode, 43.6 ms in egress and pass mode on
 * loopback, measured with spec/bin/halfclose), before the reply comes: in every mode, since
 * the psock is there whatever the verdict. A thread blocked in recv() while another thread calls
 * shutdown(SHUT_WR) is woken at once by inet_shutdown()'s own sk_state_change(): nothing here
 * helps it (it is inside tcp_bpf_recvmsg() already, and holds a psock reference).
 *
 * The remedy: on the FIN_WAIT1 transition (shutdown(SHUT_WR), sock_ops STATE_CB, which runs
 * under the socket lock in the caller of shutdown()), delete the socket from `socks`. Its
 * only reference goes, sk_psock_put() drops the psock (sk_psock_drop(): the original proto
 * is restored, so the next recv() is tcp_recvmsg()), and the peer's messages find no entry
 * and take the TCP path (msg_redirect passes them). That is safe only when nothing is in the
 * psock: sk_psock_destroy() frees whatever is still queued in ingress_msg / ingress_skb (the
 * peer's redirected bytes not read yet: they would be lost) and a corked message. So the
 * delete happens only when, read under the socket lock, ingress_msg is empty, msg_tot_len and
 * ingress_skb are zero, nothing is corked, and the psock's reference count is 1 (the map
 * entry alone: a peer half way through a redirect to this socket, or a thread of this socket
 * inside recvmsg, holds one more). Otherwise the socket stays, counted in `kept`, and keeps
 * the EAGAIN. What the checks cannot see: a peer whose verdict chose this socket just before
 * and which takes its psock reference between the check and the delete (a few instructions)
 * would queue into the psock being dropped, and those bytes are lost; one that takes it after
 * the delete gets EPIPE from its send() (seen 6 times in 24 soak runs of halfclose --early,
 * the loss never). Both need the peer to be sending to this socket at the very moment it
 * half-closes, which a request / reply protocol does not do; BPF cannot wait for the peer.
 */
static __always_inline void release_half_closed(struct bpf_sock_ops *skops)
{
	struct redirect_stats *st = my_stats();
	struct redirect_key k = {};
	struct bpf_sock *bsk = skops->sk;
	struct sk_psock *psock;
	struct tcp_sock *tp;
	unsigned long ud;
	bool busy;

	if (!bsk || !bpf_sk_storage_get(&owned, bsk, 0, 0))
		return;
	tp = bpf_skc_to_tcp_sock(bsk);
	if (!tp)
		return;
	ud = (unsigned long)tp->inet_conn.icsk_inet.sk.sk_user_data;
	if (!(ud & SK_USER_DATA_PSOCK))
		return; /* not in a map (any more) */
	psock = (struct sk_psock *)(ud & SK_USER_DATA_PTRMASK);
	busy = BPF_CORE_READ(psock, refcnt.refs.counter) != 1 ||
	       BPF_CORE_READ(psock, ingress_msg.next) != &psock->ingress_msg ||
	       BPF_CORE_READ(psock, msg_tot_len) || BPF_CORE_READ(psock, ingress_skb.qlen) ||
	       BPF_CORE_READ(psock, cork);
	if (busy) {
		if (st)
			st->kept++;
		return;
	}
	key_from_sockops(&k, skops);
	if (bpf_map_delete_elem(&socks, &k) == 0 && st)
		st->released++;
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;
	struct redirect_stats *st;
	struct redirect_key k = {};
	__u32 op = skops->op;
	int ret = 1;

	if (op == BPF_SOCK_OPS_STATE_CB) {
		/* args[0] the old state, args[1] the new one */
		if (skops->args[1] == BPF_TCP_FIN_WAIT1)
			release_half_closed(skops);
		return 1;
	}
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
		/* state callbacks for this socket from now on: release_half_closed() */
		if (!ret && release_on_shutdown && bsk &&
		    bpf_sk_storage_get(&owned, bsk, 0, BPF_SK_STORAGE_GET_F_CREATE))
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
								 BPF_SOCK_OPS_STATE_CB_FLAG);
		if (st) {
			if (ret)
				st->add_failed++;
			else
				st->added++;
		}
		if (ret)
			count_refused(ret);
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
