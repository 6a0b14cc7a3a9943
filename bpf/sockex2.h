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
 * flow_dissector: VLAN tags (802.1AD, 802.1Q, up to SOCKEX_VLAN_MAX), IPv4 with options, IPv6
 * with its extension headers, then one tunnel level: GRE (its payload optionally VLAN-tagged),
 * gretap (GRE carrying an Ethernet frame: its inner frame, tagged or not), IPIP, IPv6 in IPv4,
 * also behind IPv6 extension headers).
 *
 *   family  AF_INET (2) or AF_INET6 (10);
 *   addr    the address bytes as on the wire (network order); AF_INET: 4 bytes, then zeros.
 *
 * The sample keys its map by a __be32 only, so an IPv6 destination became a 32-bit hash of
 * the address printed as if it were an IPv4 one; here IPv6 destinations keep their address.
 * An IPv4 or IPv6 fragment counts under its (outer) destination, as in the sample, since the
 * next header cannot be followed in a fragment; so does a GRE payload that is not IP (or of a
 * layout not followed: version 1, source routing). Non-IP frames (ARP ...) and frames too
 * short for the headers they announce are not counted. The global `unparsed` counts the IP
 * frames not followed to their end within the walks' bounds (more than SOCKEX_VLAN_MAX tags,
 * more than SOCKEX_IPV6_EXT_MAX extension headers), which no destination counts.
 *
 * bytes adds up the frame as the interface carries it (sockex_wire_len, sockex.bpf.h): the
 * whole frame on a raw AF_PACKET socket bound to an Ethernet device, VLAN tags included, also
 * one the kernel moved into skb->vlan_tci; #data - 14 under BPF_PROG_TEST_RUN (the kernel
 * pulls the Ethernet header first).
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
