/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockex.bpf.h: packet reading shared by the sockex socket filters (sockex1.bpf.c,
 * sockex2.bpf.c, sockex3.bpf.c; BPF side only). Header constants that vmlinux.h cannot carry
 * (it has no macros), loads relative to the link-layer header that work the same on a raw
 * AF_PACKET socket and under BPF_PROG_TEST_RUN, the frame's length as the wire carries it,
 * and the bounded walks over VLAN tags, GRE and IPv6 extension headers.
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
#define SOCKEX_ETH_P_TEB     0x6558 /* transparent Ethernet bridging: gretap's payload */
#define SOCKEX_VLAN_HLEN     4

#define SOCKEX_AF_INET	     2
#define SOCKEX_AF_INET6	     10

/* in6.h: vmlinux.h carries the IPPROTO_* enum of in.h, not the IPv6 one */
#define SOCKEX_IPPROTO_HOPOPTS	0
#define SOCKEX_IPPROTO_ROUTING	43
#define SOCKEX_IPPROTO_FRAGMENT 44
#define SOCKEX_IPPROTO_AH	51
#define SOCKEX_IPPROTO_ICMPV6	58
#define SOCKEX_IPPROTO_DSTOPTS	60

/* ipv6 frag_hdr.frag_off, host order: the offset in 8-byte units, shifted left by 3 */
#define SOCKEX_IP6_OFFSET 0xFFF8

/*
 * The walks' bounds. VLAN tags in the frame (an offloaded one comes on top: see
 * sockex_wire_len): QinQ is two, and nobody stacks four. IPv6 extension headers: RFC 8200
 * orders at most six kinds, each once but destination options twice; eight leaves room
 * for AH. A frame with more is counted as unparsed, not followed further.
 */
#define SOCKEX_VLAN_MAX	    4
#define SOCKEX_IPV6_EXT_MAX 8

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

/* The same relative to another header (BPF_HDR_START_NET: sockex1 on any device). */
static __always_inline int sockex_load_at(struct __sk_buff *skb, __u32 base, __u32 off, void *to,
					  __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, base);
}

/* The big-endian 16-bit field at off, in host order, or -1 when the packet is too short. */
static __always_inline int sockex_load_be16(struct __sk_buff *skb, __u32 off)
{
	__be16 v;

	if (sockex_load(skb, off, &v, sizeof(v)))
		return -1;
	return bpf_ntohs(v);
}

/* What a walk found, besides an offset or a protocol (which are never negative). */
enum sockex_walk {
	SOCKEX_L4 = 0, /* an upper-layer header (or none: a later fragment) */
	SOCKEX_CUT = -1, /* a header cut short */
	SOCKEX_UNPARSED = -2, /* deeper than the walk's bound */
	SOCKEX_NOT_FOLLOWED = -3, /* a layout the walk does not follow (GRE version 1) */
};

/*
 * The frame's length as the interface carries it, which is what a capture shows: skb->len,
 * plus the 4 bytes of a VLAN tag that the kernel took out of the frame into skb->vlan_tci.
 * On receive, __netif_receive_skb_core untags 802.1Q and 802.1AD frames (skb_vlan_untag: the
 * outer tag only, so QinQ keeps its inner tag in the frame) before any packet socket sees
 * them, and a device with VLAN receive offload does it in hardware; on transmit a VLAN device
 * hands its tag down in skb->vlan_tci to a device that inserts it (veth does). libpcap puts
 * the tag back from PACKET_AUXDATA, so tshark counts it. A frame sent with its tag in the data
 * (from a packet socket, say) carries it in skb->len already and has vlan_present 0.
 */
static __always_inline __u32 sockex_wire_len(struct __sk_buff *skb)
{
	return skb->len + (skb->vlan_present ? SOCKEX_VLAN_HLEN : 0);
}

static __always_inline bool sockex_is_vlan(int proto)
{
	return proto == SOCKEX_ETH_P_8021Q || proto == SOCKEX_ETH_P_8021AD;
}

/*
 * Step over the VLAN tags in the frame: proto is the EtherType at *nhoff - 2 (the outer
 * Ethernet header's, or the one GRE announces), *nhoff where the first tag's TCI would be.
 * Returns the EtherType after the last tag (proto itself when there is no tag) with *nhoff
 * after it, -1 when a tag is cut short; a stack deeper than SOCKEX_VLAN_MAX returns a VLAN
 * TPID still (sockex_is_vlan): the caller counts the frame as unparsed. A tag taken out of the
 * frame (skb->vlan_present) is not in the data and needs no step: the MAC header as the
 * filter sees it has been rewritten to the tag's inner EtherType (skb_reorder_vlan_header).
 */
static __always_inline int sockex_skip_vlans(struct __sk_buff *skb, int proto, __u32 *nhoff)
{
	for (int i = 0; i < SOCKEX_VLAN_MAX && sockex_is_vlan(proto); i++) {
		proto = sockex_load_be16(skb, *nhoff + offsetof(struct sockex_vlan_hdr,
								encapsulated_proto));
		*nhoff += sizeof(struct sockex_vlan_hdr);
	}
	return proto;
}

/*
 * What the GRE header at *nhoff carries: its EtherType with *nhoff at the payload; or
 * SOCKEX_CUT when the header is cut short, SOCKEX_NOT_FOLLOWED for a layout that is not
 * followed (version 1, PPTP, and source routing, RFC 1701), *nhoff left alone then. gretap's
 * payload (SOCKEX_ETH_P_TEB) is a whole Ethernet frame: its header is stepped over here too
 * and the EtherType returned is the inner frame's (a VLAN TPID if the inner frame is tagged).
 */
static __always_inline int sockex_gre(struct __sk_buff *skb, __u32 *nhoff)
{
	int flags = sockex_load_be16(skb, *nhoff + offsetof(struct sockex_gre_hdr, flags));
	int proto = sockex_load_be16(skb, *nhoff + offsetof(struct sockex_gre_hdr, proto));
	__u32 off = *nhoff + sizeof(struct sockex_gre_hdr);
	__u8 last;

	if (flags < 0 || proto < 0)
		return SOCKEX_CUT;
	if (flags & (SOCKEX_GRE_VERSION | SOCKEX_GRE_ROUTING))
		return SOCKEX_NOT_FOLLOWED;
	/* each of C, K, S adds 4 bytes of header */
	if (flags & SOCKEX_GRE_CSUM)
		off += 4;
	if (flags & SOCKEX_GRE_KEY)
		off += 4;
	if (flags & SOCKEX_GRE_SEQ)
		off += 4;
	if (sockex_load(skb, off - 1, &last, sizeof(last)))
		return SOCKEX_CUT;
	if (proto == SOCKEX_ETH_P_TEB) {
		proto = sockex_load_be16(skb, off + offsetof(struct ethhdr, h_proto));
		if (proto < 0)
			return SOCKEX_CUT;
		off += SOCKEX_ETH_HLEN;
	}
	*nhoff = off;
	return proto;
}

static __always_inline bool sockex_ipv6_ext(__u32 nexthdr)
{
	return nexthdr == SOCKEX_IPPROTO_HOPOPTS || nexthdr == SOCKEX_IPPROTO_ROUTING ||
	       nexthdr == SOCKEX_IPPROTO_FRAGMENT || nexthdr == SOCKEX_IPPROTO_DSTOPTS ||
	       nexthdr == SOCKEX_IPPROTO_AH;
}

/*
 * Walk the IPv6 extension headers that start at off (relative to base: BPF_HDR_START_MAC or
 * _NET), nexthdr being the fixed header's next header: hop-by-hop options, routing,
 * destination options ((hdrlen + 1) * 8 bytes each), fragment (8 bytes) and AH ((payload
 * len + 2) * 4 bytes), each of which must be all there. Returns SOCKEX_CUT or
 * SOCKEX_UNPARSED, or on SOCKEX_L4 the upper-layer header's offset, protocol and what a
 * fragment header said, packed (sockex_ipv6_exts unpacks them).
 *
 * A global function, verified once on its own: inlined, the loop's eight rounds times the
 * three places sockex2 walks a chain (outer IPv6, IPv6 in GRE, IPv6 in IPv4) took the
 * verifier past its million instructions. Offsets stay far below 64 KiB (eight headers of at
 * most 2 KiB behind less than 300 bytes of outer headers), so 16 bits hold one.
 */
__attribute__((noinline)) int sockex_ipv6_walk(struct __sk_buff *skb, __u32 base, __u32 off,
					       __u32 nexthdr)
{
	__u32 frag = 0;

	for (int i = 0; i < SOCKEX_IPV6_EXT_MAX; i++) {
		__u8 h[4]; /* next header, length; a fragment header's offset field */
		__u32 len;
		__u8 last;

		if (!sockex_ipv6_ext(nexthdr))
			break;
		if (sockex_load_at(skb, base, off, h, sizeof(h)))
			return SOCKEX_CUT;
		if (nexthdr == SOCKEX_IPPROTO_FRAGMENT)
			len = 8;
		else if (nexthdr == SOCKEX_IPPROTO_AH)
			len = (h[1] + 2) * 4;
		else
			len = (h[1] + 1) * 8;
		/* the whole header must be there, as for any other header a frame announces */
		if (sockex_load_at(skb, base, off + len - 1, &last, sizeof(last)))
			return SOCKEX_CUT;
		off = (off + len) & 0xffff;
		if (nexthdr == SOCKEX_IPPROTO_FRAGMENT) {
			/* a later fragment's data is the middle of a datagram: no header */
			frag = (h[2] << 8 | h[3]) & SOCKEX_IP6_OFFSET ? 2 : 1;
			if (frag == 2)
				return off | h[0] << 16 | frag << 24;
		}
		nexthdr = h[0];
	}
	if (sockex_ipv6_ext(nexthdr))
		return SOCKEX_UNPARSED;
	return off | nexthdr << 16 | frag << 24;
}

/*
 * sockex_ipv6_walk from *off with *nexthdr, unpacked: on SOCKEX_L4, *nexthdr is the
 * upper-layer protocol and *off where its header starts; *frag is 0 without a fragment
 * header, 1 for the first fragment (offset 0, whose upper-layer header follows), 2 for a
 * later one: its data after the fragment header is the middle of a datagram, so the walk
 * ends there with *nexthdr the fragment header's next header and no header at *off to read.
 */
static __always_inline int sockex_ipv6_exts(struct __sk_buff *skb, __u32 base, __u32 *off,
					    __u32 *nexthdr, __u32 *frag)
{
	int ret = sockex_ipv6_walk(skb, base, *off, *nexthdr);

	if (ret < 0)
		return ret;
	*off = ret & 0xffff;
	*nexthdr = ret >> 16 & 0xff;
	*frag = ret >> 24 & 3;
	return SOCKEX_L4;
}

#endif /* SOCKEX_BPF_H */
