/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockex1.h: what sockex1.bpf.c counts, shared by the BPF side and the host. The map
 * `protocols` is decoded through BTF, so these names are Lua API (scripts/sockex1.lua).
 */
#ifndef SOCKEX1_H
#define SOCKEX1_H

/*
 * `protocols` is an ARRAY of 256 struct sockex1_value indexed by the IP protocol number
 * (IPPROTO_*: 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6 ...): the IPv4 protocol field, or the IPv6
 * upper-layer protocol after the extension headers (hop-by-hop, routing, fragment,
 * destination options, AH; a fragment, first or later, counts under the protocol it carries,
 * as an IPv4 fragment does). VLAN tags still in the frame (a packet socket's tagged frames on
 * the way out, the inner tag of QinQ on the way in) are stepped over. Non-IP frames (ARP ...)
 * and frames whose fixed IP header or an extension header is cut short are not counted.
 *
 * The global `unparsed` counts the IP frames whose protocol lies past the walks' bounds (more
 * than SOCKEX_VLAN_MAX tags, more than SOCKEX_IPV6_EXT_MAX extension headers: sockex.bpf.h),
 * which no slot of `protocols` counts.
 *
 * bytes adds up the frame as the interface carries it (sockex_wire_len): on a raw AF_PACKET
 * socket bound to an Ethernet device that is the whole frame, Ethernet header and VLAN tags
 * included, also a tag the kernel moved into skb->vlan_tci (what tshark counts); under
 * BPF_PROG_TEST_RUN the kernel pulls the Ethernet header first, so a test_run frame counts
 * #data - 14.
 */
#define SOCKEX1_NR_PROTOCOLS 256

struct sockex1_value {
	__u64 packets;
	__u64 bytes;
};

/*
 * Which packets count, from skb->pkt_type as the raw socket sees it: the sample counts what
 * leaves the interface (PACKET_OUTGOING); "incoming" is everything else the interface
 * receives (to this host, broadcast, multicast, other hosts).
 */
enum sockex1_direction {
	SOCKEX1_OUTGOING = 0,
	SOCKEX1_INCOMING = 1,
	SOCKEX1_BOTH = 2,
};

#endif /* SOCKEX1_H */
