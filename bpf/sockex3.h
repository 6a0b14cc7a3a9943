/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockex3.h: the tail-call slots and the flow table of sockex3.bpf.c, shared by the BPF side
 * and the host. `flows` is decoded through BTF, so these names are Lua API
 * (scripts/sockex3.lua); the slot numbers are what the host stores programs under.
 */
#ifndef SOCKEX3_H
#define SOCKEX3_H

/*
 * Slots of the prog array `jmp_table` (8 entries, as in the sample). The object leaves it
 * empty; the host fills it from Lua with the programs of the same name:
 *   jmp_table[SOCKEX3_PARSE_VLAN] = parse_vlan   (802.1Q, 802.1AD)
 *   jmp_table[SOCKEX3_PARSE_MPLS] = parse_mpls   (MPLS unicast, multicast)
 *   jmp_table[SOCKEX3_PARSE_IP]   = parse_ip     (IPv4; IPIP; GRE, gretap carrying IPv4)
 *   jmp_table[SOCKEX3_PARSE_IPV6] = parse_ipv6   (IPv6 and its extension headers;
 *                                                 IPv6-in-IPv4; GRE, gretap carrying IPv6)
 * `dispatch` is the program to attach; it and every parser tail-call the parser for the next
 * header. A slot left empty makes bpf_tail_call fall through: such packets are not counted.
 */
enum sockex3_slot {
	SOCKEX3_PARSE_VLAN = 1,
	SOCKEX3_PARSE_MPLS = 2,
	SOCKEX3_PARSE_IP = 3,
	SOCKEX3_PARSE_IPV6 = 4,
	SOCKEX3_NR_SLOTS = 8,
};

/*
 * `flows` is a HASH of struct sockex3_flow -> struct sockex3_value, one entry per flow of the
 * innermost IP header (40 bytes, no implicit padding: the whole struct is the hash key).
 *
 *   src, dst      address bytes as on the wire (network order); AF_INET: 4 bytes, then zeros.
 *                 The sample hashes IPv6 addresses to 32 bits; here they are kept whole.
 *   sport, dport  TCP/UDP ports in host byte order; 0 for ICMP, ICMPv6 and later fragments.
 *   family        AF_INET (2) or AF_INET6 (10).
 *   ip_proto      IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_ICMP (1) or IPPROTO_ICMPV6 (58);
 *                 packets of other protocols are not counted (nor ICMPv6 in the sample).
 *
 * Fragments count, IPv4 and IPv6 alike (the sample drops IPv4 ones): the first one, which
 * carries the transport header, under its ports; a later one, which carries none, under its
 * protocol with ports 0. Not counted: other protocols, non-IP frames, a GRE payload no parser
 * takes, and frames too short for the headers they announce. The global `unparsed` counts the
 * IP frames not followed to their end within the bounds: more than SOCKEX_VLAN_MAX tags or
 * SOCKEX_IPV6_EXT_MAX extension headers (sockex.bpf.h), more than SOCKEX3_DEPTH_MAX parsers
 * in all (sockex3.bpf.c). bytes adds up the frame as the interface carries it
 * (sockex_wire_len): the whole frame on a raw AF_PACKET socket bound to an Ethernet device,
 * VLAN tags included, also one the kernel moved into skb->vlan_tci; #data - 14 under
 * BPF_PROG_TEST_RUN (the kernel pulls the Ethernet header first).
 */
struct sockex3_flow {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 ip_proto;
};

struct sockex3_value {
	__u64 packets;
	__u64 bytes;
};

#endif /* SOCKEX3_H */
