/* SPDX-License-Identifier: GPL-2.0 */
/*
 * redirect.h: keys, counters and trace records of redirect.bpf.c (the ebpf-sockops redirect:
 * sock_ops puts established local TCP sockets into a sockhash, sk_msg hands each message
 * straight to the peer socket). Shared by the BPF side and the host; the host decodes these
 * through BTF, so field names are Lua API.
 */
#ifndef REDIRECT_H
#define REDIRECT_H

/*
 * Key of `socks`: one TCP connection as seen from the socket stored under it, so the peer's
 * key is the same tuple with local and remote swapped.
 *   laddr, raddr   network byte order (the address bytes as on the wire), always 16 bytes:
 *                  an AF_INET socket's address is stored v4-mapped (::ffff:a.b.c.d), which
 *                  is also how a dual-stack AF_INET6 socket talking IPv4 sees it, so the two
 *                  ends of one connection meet whatever family each socket was opened with.
 *   lport, rport   host byte order.
 * 40 bytes and no implicit padding: hash keys are compared bytewise, so a hole would make
 * equal tuples differ.
 */
struct redirect_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u32 pad;
};

/*
 * What sk_msg does with a message whose socket is in `socks` (const volatile `mode`):
 *   REDIRECT_INGRESS  to the peer's receive queue (bpf_msg_redirect_hash with BPF_F_INGRESS):
 *                     the ebpf-sockops shortcut; passes when the peer is not in the map.
 *                     The peer's SO_RCVBUF does not apply to that queue: a sender is never
 *                     held back by a slow reader (64 MB queued in tests), only by tcp_mem.
 *   REDIRECT_EGRESS   to the sending socket's own transmit path (flags 0, its own key): the
 *                     only egress redirect that keeps a point-to-point stream correct (an
 *                     egress redirect to the peer would send the data back to the sender),
 *                     so this measures the sk_msg machinery with the TCP stack still in use.
 *   REDIRECT_PASS     no redirect at all: the cost of having a psock and a verdict program.
 */
enum redirect_mode {
	REDIRECT_INGRESS = 0,
	REDIRECT_EGRESS = 1,
	REDIRECT_PASS = 2,
};

/*
 * `stats` is a PERCPU_ARRAY with one struct redirect_stats (key 0); the host sums the CPUs.
 *   msgs, bytes            sk_msg verdicts that redirected, and their msg->size. One
 *                          sendmsg() is one verdict unless it is larger than what the
 *                          kernel gathers at once (then it is several). On the TCP path a
 *                          short write leaves the verdict pending and the kernel applies it
 *                          to the rest without running the program again, so `passed` and
 *                          `passed_bytes` then undercount; an ingress redirect never writes
 *                          short (the peer's queue takes everything, see below).
 *   passed, passed_bytes   verdicts that let the message take the TCP path (peer not in
 *                          the map, or REDIRECT_PASS).
 *   added                  sockets sock_ops put into `socks`.
 *   add_failed             sock_ops inserts the kernel refused; EBUSY means another sk_msg
 *                          program (another redirect instance) already owns the socket.
 *   skipped                established sockets left out because the peer is not local.
 *   released               sockets taken out of the map when they shut down their write
 *                          side (release_on_shutdown; see release_half_closed() in
 *                          redirect.bpf.c): they continue as plain TCP.
 *   kept                   sockets that shut down their write side and stayed in the map,
 *                          because their psock still held data or a reference (a blocking
 *                          recv() on them can fail with EAGAIN, see redirect.bpf.c).
 */
struct redirect_stats {
	__u64 msgs;
	__u64 bytes;
	__u64 passed;
	__u64 passed_bytes;
	__u64 added;
	__u64 add_failed;
	__u64 skipped;
	__u64 released;
	__u64 kept;
};

/*
 * `refused` is a PERCPU_ARRAY of REDIRECT_ERRNOS __u64 counters: the sock_ops inserts the
 * kernel refused (add_failed above, summed), by the errno bpf_sock_hash_update() gave, at
 * index errno (16: EBUSY, another redirect owns the socket); an errno of REDIRECT_ERRNOS or
 * more is counted at index 0. The host exports it as the result="refused" series of
 * sockhost_redirect_sockets_total{result,reason} (scripts/redirect.lua).
 */
#define REDIRECT_ERRNOS 128

/*
 * One record per sock_ops establishment callback when `trace` is set (ring buffer `events`),
 * like the seed's trace.sh. Addresses and ports as in struct redirect_key; family is the
 * socket's own (AF_INET 2 or AF_INET6 10); op is BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB (4) or
 * _PASSIVE_ESTABLISHED_CB (5); result is what the sockhash update returned (0, or -errno),
 * or 1 when the socket was skipped as not local. 48 bytes, no implicit padding.
 */
struct redirect_event {
	__u32 op;
	__s32 result;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

#endif /* REDIRECT_H */
