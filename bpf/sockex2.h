/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockex2.h: what sockex2.bpf.c counts, shared by the BPF side and the host. The map
 * `destinations` is decoded through BTF, so these names are Lua API (scripts/sockex2.lua).
 */
#ifndef SOCKEX2_H
#define SOCKEX2_H

/*
 * `destinations` is a HASH of struct sockex2_key -> struct sockex2_value: one entry per
 * destination address of the innermost IP header the dissector reached (the original's
 * flow_dissector: 802.1AD and/or 802.1Q tags, IPv4 with options, IPv6, then GRE (optionally
 * with one 802.1Q tag inside), IPIP or IPv6-in-IPv4 one level deep).
 *
 *   family  AF_INET (2) or AF_INET6 (10);
 *   addr    the address bytes as on the wire (network order); AF_INET: 4 bytes, then zeros.
 *
 * The sample keys its map by a __be32 only, so an IPv6 destination became a 32-bit hash of
 * the address printed as if it were an IPv4 one; here IPv6 destinations keep their address.
 * An IPv4 fragment counts under its (outer) destination, as in the sample, since the next
 * header cannot be followed in a fragment. Non-IP frames (ARP ...) and frames too short for
 * the headers they announce are not counted.
 *
 * bytes adds up skb->len: the whole frame on a raw AF_PACKET socket bound to an Ethernet
 * device; #data - 14 under BPF_PROG_TEST_RUN (the kernel pulls the Ethernet header first).
 */
struct sockex2_key {
	__u32 family;
	__u8 addr[16];
};

struct sockex2_value {
	__u64 packets;
	__u64 bytes;
};

#endif /* SOCKEX2_H */
