/* SPDX-License-Identifier: GPL-2.0 */
/*
 * conntrace.h: one TCP connection as conntrace.bpf.c tracks it. The same struct is the value
 * of the LRU hash `conns` (keyed by the kernel's struct sock pointer, live while the
 * connection is open) and the record sent through the ring buffer `events` when it closes.
 * The host decodes both by BTF name ("struct conn"), so field names are part of the Lua API
 * (and of the pinned map's layout that a second `sockhost -e` reads).
 */
#ifndef CONNTRACE_H
#define CONNTRACE_H

#define CONN_ROLE_CLIENT 1 /* this socket called connect() */
#define CONN_ROLE_SERVER 2 /* this socket came out of a listener (accept side) */

#define CONN_MAX_STATES	 10 /* state transitions kept per connection; more are counted only */

#define CONN_F_FIN_SENT	 1 /* flags: the socket queued its FIN (went FIN_WAIT1 or LAST_ACK) */

/*
 * The aggregates --metrics exports (conntrace.bpf.c keeps them, the host reads them at
 * scrape time):
 *   closes       ARRAY, key CONN_CLOSE_KEY(role, state) -> __u64 closed connections, state
 *                the TCP state the connection left for CLOSE (TCP_* are 1 ... 12 < 16)
 *   comm_bytes   HASH, key char[16] (the owner's comm, zero-padded; "" for a server socket
 *                nobody accepted) -> struct comm_bytes of closed connections; at most
 *                CONN_COMM_MAX comms, the rest add up in the global comm_other
 *   durations    SH_HIST log2 buckets of closed connections' durations in microseconds
 */
#define CONN_CLOSE_KEY(role, state) ((role) * 16 + ((state) & 15))
#define CONN_CLOSE_KEYS		    (3 * 16)
#define CONN_COMM_MAX		    1024

struct comm_bytes {
	__u64 sent;
	__u64 received;
};

/*
 * 112 bytes, every field naturally aligned, no implicit padding (a hole would be
 * uninitialised ring buffer memory as far as the reader is concerned).
 *
 *   start_ns       bpf_ktime_get_boot_ns() at the first state seen (SYN_SENT for a client,
 *                  SYN_RECV for a server): CLOCK_BOOTTIME, comparable with /proc/uptime.
 *   duration_ns    close time - start_ns; 0 while the connection is open.
 *   bytes_sent     payload bytes the peer acknowledged (tcp_sock.bytes_acked without the
 *                  SYN and FIN sequence numbers). After an orderly close every byte written
 *                  was acked, so this is what the application sent. While open: what was
 *                  acked as of the last segment received in ESTABLISHED (its own ACK
 *                  included) or the last state change, so it lags by what is in flight; in
 *                  CLOSE_WAIT no tracepoint fires on its ACKs (tcp_probe: ESTABLISHED only)
 *                  and the count waits for LAST_ACK.
 *   bytes_received payload bytes that arrived in order (tcp_sock.bytes_received without the
 *                  peer's FIN): after an orderly close, what the application could read.
 *   cgroup_id      id of the socket's cgroup v2 (the cgroup of the task that created the
 *                  socket; for accepted sockets that of the listener's creator).
 *   pid, comm      the owner: the tgid and command that called connect() (client) or that
 *                  accept()ed the socket (server). 0 and "" for a server socket nobody has
 *                  accepted (yet).
 *   family         AF_INET (2) or AF_INET6 (10); a dual-stack socket talking IPv4 is AF_INET6
 *                  with v4-mapped addresses.
 *   sport, dport   local and remote port, host byte order.
 *   saddr, daddr   local and remote address, network byte order; AF_INET: first 4 bytes.
 *   role           CONN_ROLE_CLIENT or CONN_ROLE_SERVER.
 *   state          the current TCP state (enum TCP_* of include/net/tcp_states.h, 1 ...).
 *   nstates        number of transitions seen; states[0 .. min(nstates, 10) - 1] are the new
 *                  states in order (the first is SYN_SENT or SYN_RECV, the last CLOSE).
 *   flags          CONN_F_*; bookkeeping for the byte counts.
 */
struct conn {
	__u64 start_ns;
	__u64 duration_ns;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 cgroup_id;
	__u32 pid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 role;
	__u8 state;
	__u8 nstates;
	__u8 flags;
	__u8 states[CONN_MAX_STATES];
	char comm[16];
	__u8 saddr[16];
	__u8 daddr[16];
};

#endif /* CONNTRACE_H */
