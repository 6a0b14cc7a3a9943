// SPDX-License-Identifier: GPL-2.0
/*
 * conntrace: TCP connections (IPv4 and IPv6) with their owner, role, 4-tuple, bytes each
 * way, state transitions and duration; the kernel side of scripts/conntrace.lua. One
 * struct conn (conntrace.h) per socket lives in the LRU hash `conns`, keyed by the struct
 * sock pointer, from the first state (SYN_SENT / SYN_RECV) to TCP_CLOSE; at close the final
 * struct goes to the ring buffer `events` and the entry is deleted.
 *
 * Hooks, chosen by the host from what the kernel offers (sockhost.features()):
 *
 *   inet_sock_set_state       tp_btf sock:inet_sock_set_state: every TCP state change.
 *   sock_inet_sock_set_state  the same as a classic tracepoint, where tp_btf is missing.
 *   sys_exit_accept4,         tracepoints syscalls:sys_exit_accept[4]: the task that
 *   sys_exit_accept           accept()s a server socket becomes its owner.
 *   tcp_probe                 tp_btf tcp:tcp_probe (each segment received on an established
 *                             socket, before it is processed; its ACK is counted ahead, see
 *                             acked_by()) and sock:sk_data_ready (data queued for the
 *   sk_data_ready             reader, after the segment's ACK and data were processed):
 *                             refresh the byte counts for the live table.
 *   tcp_data_queue            kprobe on tcp_data_queue, the original tool's hook: the same
 *                             refresh where kprobes exist.
 *
 * Owner. A client's state changes to SYN_SENT inside connect(), in process context, so
 * the current task owns it. A server socket is born in softirq (the third ACK of the
 * handshake: LISTEN -> SYN_RECV on the clone), where the current task is unrelated; its owner
 * is whoever accept()s it, recorded at the exit of accept()/accept4() by resolving the fd
 * returned through the task's file table. Not covered: io_uring accepts, and sockets
 * passed to another process afterwards (the owner stays the first one).
 *
 * Filters (const volatile, set by the host before load; 0 = off):
 *   target_pid     clients: checked at connect(); servers: tracked from SYN_RECV but
 *                  reported only once accept()ed by that process.
 *   target_port    the connection's server port (the port connected to, or listened on),
 *                  or a client's local port when it was bound before connect().
 *   target_cgroup  the cgroup v2 id of the socket's cgroup or one of its ancestors. The
 *                  socket's cgroup (sk_cgrp_data) is that of the task which created the
 *                  socket, accepted sockets inherit the listener's; it is the same cgroup
 *                  a sock_ops program attached there would see, and it can be read from
 *                  softirq, unlike bpf_get_current_cgroup_id().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "sockhost/sockhost.bpf.h"
#include "conntrace.h"

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
/* include/net/tcp_states.h: macros there, so not in vmlinux.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT	2
#define TCP_SYN_RECV	3
#define TCP_FIN_WAIT1	4
#define TCP_CLOSE	7
#define TCP_LAST_ACK	9
/* include/net/tcp.h: TCP_SKB_CB(skb)->tcp_flags */
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04
#define TCPHDR_ACK 0x10

/* include/net/tcp.h before(): sequence numbers compare modulo 2^32 */
static __always_inline bool seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

const volatile __u32 target_pid = 0;
const volatile __u32 target_port = 0;
const volatile __u64 target_cgroup = 0;

/* Connections that passed the filters. */
__u64 seen = 0;

/*
 * The aggregates of --metrics, updated where a connection is counted in `seen` (opened) and
 * where its close record goes to the ring (the rest), so after the filters: they count the
 * connections the tool reports, a record the ring had no room for included. Two CPUs update
 * them at once, hence the atomic adds (one each, per connection: cheaper than PERCPU maps
 * that every scrape sums over all CPUs, and as exact).
 *   opened           connections seen starting, by role (index CONN_ROLE_*; [0] unused)
 *   duration_us_sum  sum of the closed connections' durations in microseconds, each
 *                    truncated as --json's duration_us is: the histogram's exact _sum
 *   comm_other       bytes of closed connections whose comm found comm_bytes full
 */
__u64 opened[3] = {};
__u64 duration_us_sum = 0;
struct comm_bytes comm_other = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CONN_CLOSE_KEYS);
	__type(key, __u32); /* CONN_CLOSE_KEY(role, state left for CLOSE) */
	__type(value, __u64);
} closes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CONN_COMM_MAX);
	__type(key, char[16]); /* struct conn's comm */
	__type(value, struct comm_bytes);
} comm_bytes SEC(".maps");

SH_HIST(durations, SH_LOG2_BUCKETS); /* microseconds */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* struct sock *, as an integer */
	__type(value, struct conn);
} conns SEC(".maps");

/* close records; those that do not fit are counted in `events_drops` (the loss ledger of
 * sockhost.bpf.h), which the host reports as the subscription's `dropped` */
SH_RINGBUF(events, 256 * 1024);

/*
 * `conns` already carries struct conn in its BTF; this global keeps it there should the map
 * ever change, and lets the host find "struct conn" by name for the ring buffer (see
 * hello-sockops.bpf.c's hello_event_type).
 */
struct conn conn_type __attribute__((unused));

/* Is the socket's cgroup, or one of its ancestors, the target cgroup? */
static __always_inline bool cgroup_ok(const struct sock *sk, __u64 *id)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	int level, i;

	*id = BPF_CORE_READ(cg, kn, id);
	if (!target_cgroup || *id == target_cgroup)
		return true;
	if (!bpf_core_field_exists(cg->ancestors))
		return false;
	/* ancestors[0] is the root, ancestors[level] the cgroup itself; 32 bounds the loop */
	level = BPF_CORE_READ(cg, level);
	for (i = 0; i < 32 && i < level; i++) {
		struct cgroup *a = NULL;

		bpf_core_read(&a, sizeof(a), &cg->ancestors[i]);
		if (a && BPF_CORE_READ(a, kn, id) == target_cgroup)
			return true;
	}
	return false;
}

/*
 * The local port is read from inet_sock.inet_sport (what the sock:inet_sock_set_state
 * tracepoint reports, and tcpstates with it), not from skc_num: TCP_CLOSE releases the port
 * (tcp_set_state() -> inet_put_port() zeroes inet_num before the CLOSE transition is traced),
 * inet_sport stays until the socket is connected again.
 */
static __always_inline __u16 read_sport(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

static __always_inline void read_tuple(const struct sock *sk, struct conn *c)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->sport = read_sport(sk);
	c->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (c->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)c->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)c->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&c->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/*
 * The sequence space that the segment tcp_probe traces is about to acknowledge. tcp_probe
 * fires at the top of tcp_rcv_established(), before tcp_ack() moves snd_una (and
 * bytes_acked with it, tcp_snd_una_update()), and for a socket that only sends nothing fires
 * after it: a pure ACK is freed without sk_data_ready. Reading the counters there alone
 * would lag one ACK behind forever (the last one of a transfer: a live SENT of 0 after 1000
 * bytes). So the ACK the segment carries is counted here, as tcp_ack() will count it: an
 * ACK, no RST or SYN, acknowledging more than snd_una and nothing past snd_nxt, in a segment
 * inside the receive window (tcp_sequence() drops the others, ACK and all; rcv_wup + rcv_wnd
 * is the window's smallest right edge). A segment that tcp_validate_incoming() still drops
 * after this (PAWS, bad checksum: rare) leaves the live count that far ahead until the next
 * one; the close record reads the counters themselves. tcp_rcv_established() runs with the
 * socket locked, so the snd_una read here is the one read_bytes() adds this to.
 */
static __always_inline __u32 acked_by(struct sock *sk, const struct sk_buff *skb)
{
	/* tp_btf arguments are BTF pointers: plain loads, no bpf_probe_read per field */
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)skb->cb;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u32 ack = cb->ack_seq, una;

	if (!tp || (cb->tcp_flags & (TCPHDR_ACK | TCPHDR_RST | TCPHDR_SYN)) != TCPHDR_ACK)
		return 0;
	una = tp->snd_una;
	if (!seq_before(una, ack) || seq_before(tp->snd_nxt, ack))
		return 0;
	if (seq_before(cb->end_seq, tp->rcv_wup) ||
	    seq_before(tp->rcv_wup + tp->rcv_wnd, cb->end_seq))
		return 0;
	return ack - una;
}

/*
 * Payload bytes from the tcp_sock counters (RFC 4898 names, include/linux/tcp.h). Both count
 * sequence numbers, so they include the SYN and FIN flags, each of which takes one:
 *  - bytes_acked advances with snd_una. A client's counts its SYN (acked by the SYN-ACK;
 *    the SYN is the first sequence number, so anything acked means it was); a server
 *    socket's starts after its SYN-ACK (tcp_create_openreq_child). Our FIN is in it once
 *    queued (FIN_WAIT1 or LAST_ACK, see tcp_close_state()) and acked: snd_una == write_seq,
 *    as nothing is queued after a FIN.
 *  - bytes_received advances with rcv_nxt, which moves past the peer's FIN in tcp_data_queue()
 *    right before tcp_fin() marks the socket SOCK_DONE.
 * Subtracting those gives what the application wrote and could read. ahead: what the
 * segment tcp_probe traces acknowledges (acked_by()); 0 everywhere else.
 */
static __always_inline void read_bytes(const struct sock *sk, struct conn *c, __u32 ahead)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked) + ahead;
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	__u32 una = BPF_CORE_READ(tp, snd_una) + ahead;
	unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	if (acked && c->role == CONN_ROLE_CLIENT)
		acked--;
	if (acked && (c->flags & CONN_F_FIN_SENT) && una == BPF_CORE_READ(tp, write_seq))
		acked--;
	if (received && (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		received--;
	c->bytes_sent = acked;
	c->bytes_received = received;
}

static __always_inline void set_owner(struct conn *c, __u32 pid)
{
	c->pid = pid;
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

/*
 * A connection closed and reported: count it by role and the state it left (from), its
 * duration and its bytes under its owner's comm (zero-padded by bpf_get_current_comm(), ""
 * and zeroes for a server nobody accepted, so equal comms are equal keys).
 */
static __always_inline void count_close(const struct conn *c, __u8 from)
{
	__u32 key = CONN_CLOSE_KEY(c->role, from);
	__u64 us = c->duration_ns / 1000, *n;
	struct comm_bytes *b, zero = {};

	n = bpf_map_lookup_elem(&closes, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	sh_hist_inc(durations, sh_log2_bucket(us));
	__sync_fetch_and_add(&duration_us_sum, us);
	b = bpf_map_lookup_elem(&comm_bytes, c->comm);
	if (!b) {
		/* NOEXIST: a CPU that inserted the same comm first keeps its counts */
		bpf_map_update_elem(&comm_bytes, c->comm, &zero, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&comm_bytes, c->comm);
	}
	if (!b) /* full: CONN_COMM_MAX comms already */
		b = &comm_other;
	__sync_fetch_and_add(&b->sent, c->bytes_sent);
	__sync_fetch_and_add(&b->received, c->bytes_received);
}

/* A new connection: SYN_SENT (connect(), process context) or SYN_RECV (softirq). */
static __always_inline int on_start(const struct sock *sk, __u64 key, int newstate)
{
	struct conn c = {};
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	c.role = newstate == TCP_SYN_SENT ? CONN_ROLE_CLIENT : CONN_ROLE_SERVER;
	if (c.role == CONN_ROLE_CLIENT && target_pid && pid != target_pid)
		return 0;
	read_tuple(sk, &c);
	/*
	 * Client: dport is set before connect() moves to SYN_SENT, sport only when bound
	 * already (the ephemeral port is chosen just after). Server: the clone still carries the
	 * listener's tuple here, so sport is the listening port and dport is 0.
	 */
	if (target_port && c.dport != target_port && c.sport != target_port)
		return 0;
	if (!cgroup_ok(sk, &c.cgroup_id))
		return 0;
	c.start_ns = bpf_ktime_get_boot_ns();
	c.state = newstate;
	c.states[0] = newstate;
	c.nstates = 1;
	if (c.role == CONN_ROLE_CLIENT)
		set_owner(&c, pid);
	/* a server waits for accept() when the pid filter is on; see on_accept() */
	if (c.role == CONN_ROLE_CLIENT) {
		__sync_fetch_and_add(&seen, 1);
		__sync_fetch_and_add(&opened[CONN_ROLE_CLIENT], 1);
	} else if (!target_pid) {
		__sync_fetch_and_add(&seen, 1);
		__sync_fetch_and_add(&opened[CONN_ROLE_SERVER], 1);
	}
	bpf_map_update_elem(&conns, &key, &c, BPF_ANY);
	return 0;
}

static __always_inline int on_state(const struct sock *sk, int newstate)
{
	__u64 key = (__u64)sk;
	struct conn *c;
	__u8 n, from;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV)
			return on_start(sk, key, newstate);
		return 0; /* a connection that started before we did, or filtered out */
	}
	from = c->state;
	n = c->nstates;
	if (n < CONN_MAX_STATES)
		c->states[n] = newstate;
	if (n < 255)
		c->nstates = n + 1;
	c->state = newstate;
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)
		c->flags |= CONN_F_FIN_SENT;
	read_bytes(sk, c, 0);
	/*
	 * The tuple settles at ESTABLISHED (a server clone carries the listener's until then), so
	 * it is read again at every transition but the last: by the time CLOSE is traced the
	 * socket is unhashed, and the tuple read before is the one to keep. All but the local
	 * port of an unbound client: connect() picks it (inet_hash_connect()) right after going
	 * SYN_SENT, so a client that never gets further (refused: SYN_SENT -> CLOSE on the RST,
	 * or timed out) has it only in inet_sport, read here.
	 */
	if (newstate != TCP_CLOSE) {
		read_tuple(sk, c);
		return 0;
	}
	if (!c->sport)
		c->sport = read_sport(sk);

	c->duration_ns = bpf_ktime_get_boot_ns() - c->start_ns;
	/* with --pid, a server socket that process never accepted is not ours */
	if (c->role == CONN_ROLE_CLIENT || !target_pid || c->pid == target_pid) {
		sh_ringbuf_output(events, c, sizeof(*c));
		count_close(c, from);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state(sk, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int sock_inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_state((const struct sock *)ctx->skaddr, ctx->newstate);
}

/*
 * accept() returned fd `ret` in the current task: resolve it to its struct sock through the
 * task's file table (task->files->fdt->fd[ret]->private_data is the struct socket) and make
 * the task the owner of that server connection.
 */
static __always_inline int on_accept(long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *file = NULL;
	struct socket *sock;
	__u64 key;
	struct conn *c;
	__u32 pid;

	if (ret < 0)
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (!fds || bpf_probe_read_kernel(&file, sizeof(file), &fds[ret]) || !file)
		return 0;
	sock = (struct socket *)BPF_CORE_READ(file, private_data);
	key = (__u64)BPF_CORE_READ(sock, sk);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c || c->role != CONN_ROLE_SERVER || c->pid)
		return 0;
	pid = bpf_get_current_pid_tgid() >> 32;
	if (target_pid && pid != target_pid) {
		bpf_map_delete_elem(&conns, &key);
		return 0;
	}
	set_owner(c, pid);
	if (target_pid) {
		__sync_fetch_and_add(&seen, 1);
		__sync_fetch_and_add(&opened[CONN_ROLE_SERVER], 1);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

/* Live byte counts between state changes; the close event reads them exactly anyway. */
static __always_inline int refresh(struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	/* sk_data_ready fires for every protocol; only our TCP sockets are in conns */
	if (c)
		read_bytes(sk, c, skb ? acked_by(sk, skb) : 0);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	return refresh(sk, skb);
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(sk_data_ready, struct sock *sk)
{
	return refresh(sk, NULL);
}

SEC("kprobe/tcp_data_queue")
int BPF_KPROBE(tcp_data_queue, struct sock *sk)
{
	return refresh(sk, NULL);
}

char LICENSE[] SEC("license") = "GPL";
