/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockex.bpf.h: packet reading shared by the sockex socket filters (sockex2.bpf.c,
 * sockex3.bpf.c; BPF side only). Header constants that vmlinux.h cannot carry (it has no
 * macros), and loads relative to the link-layer header that work the same on a raw AF_PACKET
 * socket and under BPF_PROG_TEST_RUN.
 */
#ifndef SOCKEX_BPF_H
#define SOCKEX_BPF_H

#include <bpf/bpf_endian.h>

#define SOCKEX_ETH_HLEN	     14
#define SOCKEX_ETH_P_IP	     0x0800
#define SOCKEX_ETH_P_IPV6    0x86DD
#define SOCKEX_ETH_P_8021Q   0x8100
#define SOCKEX_ETH_P_8021AD  0x88A8
#define SOCKEX_ETH_P_MPLS_UC 0x8847
#define SOCKEX_ETH_P_MPLS_MC 0x8848

#define SOCKEX_AF_INET	     2
#define SOCKEX_AF_INET6	     10

/* in6.h: vmlinux.h carries the IPPROTO_* enum of in.h, not the IPv6 one */
#define SOCKEX_IPPROTO_ICMPV6 58

/* iphdr.frag_off, host order: more-fragments flag and the 13-bit fragment offset */
#define SOCKEX_IP_MF	 0x2000
#define SOCKEX_IP_OFFSET 0x1FFF

/* GRE flags word (RFC 2784/2890), host order; each of C, K, S adds 4 bytes of header */
#define SOCKEX_GRE_CSUM	   0x8000
#define SOCKEX_GRE_ROUTING 0x4000
#define SOCKEX_GRE_KEY	   0x2000
#define SOCKEX_GRE_SEQ	   0x1000
#define SOCKEX_GRE_VERSION 0x0007

/* MPLS label stack entry, host order: the bottom-of-stack bit */
#define SOCKEX_MPLS_LS_S_MASK 0x00000100

struct sockex_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct sockex_gre_hdr {
	__be16 flags;
	__be16 proto;
};

/*
 * Where a socket filter's skb->data points depends on who runs it. On a raw AF_PACKET socket
 * bound to an Ethernet device it is the Ethernet header (packet_rcv pushes back to the MAC
 * header before it runs the filter), but BPF_PROG_TEST_RUN pulls the Ethernet header with
 * eth_type_trans first, so skb->data is the network header there. The samples' LD_ABS loads
 * (load_half(skb, 12)) are relative to skb->data and would read the wrong bytes under
 * test_run. Both paths set the MAC header, so every load here is relative to it.
 *
 * bpf_skb_load_bytes_relative only reads the linear part of the skb: headers of ordinary
 * traffic are there; a header behind a page fragment reads as a failed load (not counted).
 * len must be a compile-time constant (the verifier sizes the stack buffer from it), hence
 * __always_inline everywhere.
 */
static __always_inline int sockex_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_MAC);
}

/* The big-endian 16-bit field at off, in host order, or -1 when the packet is too short. */
static __always_inline int sockex_load_be16(struct __sk_buff *skb, __u32 off)
{
	__be16 v;

	if (sockex_load(skb, off, &v, sizeof(v)))
		return -1;
	return bpf_ntohs(v);
}

#endif /* SOCKEX_BPF_H */
