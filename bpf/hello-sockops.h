/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-sockops.h: the record hello-sockops.bpf.c sends through its ring buffer `events`,
 * once per sock_ops callback. Shared by the BPF side and the host; the host decodes it by
 * BTF name ("struct hello_event"), so field names are part of the Lua API.
 */
#ifndef HELLO_SOCKOPS_H
#define HELLO_SOCKOPS_H

/*
 * 56 bytes, every field naturally aligned, no implicit padding (a hole would be
 * uninitialised ring buffer memory as far as the reader is concerned).
 *
 * Byte orders, chosen so that a reader needs no conversion:
 *   lport, rport   host byte order (the BPF side converts remote_port, see the .bpf.c).
 *   laddr, raddr   network byte order, i.e. the address bytes as on the wire.
 *                  AF_INET: the 4 address bytes first, the other 12 bytes zero.
 *                  AF_INET6: all 16 bytes; a dual-stack socket talking IPv4 shows up as
 *                  family AF_INET6 with a v4-mapped address ::ffff:a.b.c.d.
 *   family         AF_INET (2) or AF_INET6 (10).
 *   op             enum BPF_SOCK_OPS_* from linux/bpf.h (4: ACTIVE_ESTABLISHED_CB ...).
 *   state          the socket's TCP state at the callback, enum BPF_TCP_* (1: ESTABLISHED
 *                  ... 10: LISTEN, 12: NEW_SYN_RECV for a request socket).
 *   args           the callback's skops->args[0..1]; for BPF_SOCK_OPS_STATE_CB the old
 *                  and the new TCP state, for RTO/RETRANS see linux/bpf.h; else 0.
 *   pid            tgid of the task current when the callback ran. Only meaningful for
 *                  callbacks made in process context (connect, listen, a close from
 *                  the owner); callbacks run from softirq (passive establish, most
 *                  state changes) report whichever task the CPU happened to be in,
 *                  often 0 (idle) or an unrelated process.
 */
struct hello_event {
	__u32 pid;
	__u32 op;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 state;
	__u8 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 args[2];
};

/*
 * `callbacks`, a PERCPU_ARRAY of __u64: every callback the program sees, counted before the
 * ring buffer reservation (so it also holds the records `events_drops` counts as lost), at
 * index HELLO_CB_INDEX(family slot, op). The host exports it as
 * sockhost_hello_sockops_callbacks_total{op,family} (scripts/hello-sockops.lua).
 *   family slot    0 AF_INET, 1 AF_INET6, 2 any other family (sock_ops sees TCP only, so
 *                  none is expected).
 *   op             enum BPF_SOCK_OPS_*, 0 .. HELLO_OPS - 2 at its own index; an op of
 *                  HELLO_OPS - 1 or more (none exists in 6.18, whose last is 20,
 *                  TSTAMP_SENDMSG_CB) is counted at HELLO_OPS - 1.
 */
#define HELLO_OPS	64
#define HELLO_FAMILIES	3
#define HELLO_CB_INDEX(slot, op) ((slot) * HELLO_OPS + ((op) < HELLO_OPS ? (op) : HELLO_OPS - 1))

#endif /* HELLO_SOCKOPS_H */
