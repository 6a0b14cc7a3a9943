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

#endif /* HELLO_SOCKOPS_H */
