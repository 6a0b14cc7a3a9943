// SPDX-License-Identifier: GPL-2.0
/*
 * sockex1: the kernel's samples/bpf sockex1, CO-RE and sockhost style. A socket filter for a
 * raw AF_PACKET socket bound to an interface: packets and bytes per IP protocol, by default
 * of the packets leaving the interface. It returns 0 for every packet, so the raw socket
 * itself never queues anything: it is only a tap. See sockex1.h for what is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockex.bpf.h"
#include "sockex1.h"

#define PACKET_OUTGOING 4

/* Which packets to count (sockex1.h); the sample counts outgoing ones only. */
const volatile enum sockex1_direction direction = SOCKEX1_OUTGOING;

/* IP frames whose protocol was not found within the walks' bounds (sockex1.h). */
struct sockex1_value unparsed = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEX1_NR_PROTOCOLS);
	__type(key, __u32);
	__type(value, struct sockex1_value);
} protocols SEC(".maps");

static __always_inline bool wanted(struct __sk_buff *skb)
{
	bool out = skb->pkt_type == PACKET_OUTGOING;

	if (direction == SOCKEX1_BOTH)
		return true;
	return direction == SOCKEX1_OUTGOING ? out : !out;
}

/*
 * The protocol of the IP header at off (relative to base), or SOCKEX_CUT when the header is
 * not all there, or SOCKEX_UNPARSED. IPv4: its protocol field; IPv6: the upper-layer protocol
 * after the extension headers (sockex_ipv6_exts; a fragment counts under what it carries,
 * as an IPv4 fragment does).
 */
static __always_inline int l3_protocol(struct __sk_buff *skb, int proto, __u32 off, __u32 base)
{
	struct ipv6hdr ip6;
	struct iphdr iph;
	__u32 nexthdr, frag;
	int ret;

	/* the whole fixed header must be there, as sockex2 and sockex3 want it */
	if (proto == SOCKEX_ETH_P_IP) {
		if (sockex_load_at(skb, base, off, &iph, sizeof(iph)) || iph.ihl < 5)
			return SOCKEX_CUT;
		return iph.protocol;
	}
	if (proto != SOCKEX_ETH_P_IPV6)
		return SOCKEX_CUT;
	if (sockex_load_at(skb, base, off, &ip6, sizeof(ip6)))
		return SOCKEX_CUT;
	nexthdr = ip6.nexthdr;
	off += sizeof(ip6);
	ret = sockex_ipv6_exts(skb, base, &off, &nexthdr, &frag);
	return ret < 0 ? ret : (int)nexthdr;
}

/*
 * The sample reads the byte at ETH_HLEN + 9 whatever the frame holds. Here the IP header is
 * found through skb->protocol where the kernel has set the network header to it, which works
 * on any device (an L3 one without an Ethernet header too), with or without an offloaded
 * VLAN tag, on the raw socket (where skb->data is the Ethernet header) and under test_run
 * (where it is the network header). A frame that still carries its VLAN tags in the data has
 * the tag's TPID in skb->protocol: a packet socket's tagged frames on the way out, the inner
 * tag of a QinQ or double-tagged frame on the way in (the outer one was taken out). Those
 * are Ethernet frames: the tags are walked from the MAC header.
 */
static __always_inline int ip_protocol(struct __sk_buff *skb)
{
	int proto = bpf_ntohs(skb->protocol);
	__u32 off = SOCKEX_ETH_HLEN;

	if (!sockex_is_vlan(proto))
		return l3_protocol(skb, proto, 0, BPF_HDR_START_NET);
	proto = sockex_skip_vlans(skb, sockex_load_be16(skb, offsetof(struct ethhdr, h_proto)),
				  &off);
	if (sockex_is_vlan(proto))
		return SOCKEX_UNPARSED;
	return l3_protocol(skb, proto, off, BPF_HDR_START_MAC);
}

SEC("socket")
int by_protocol(struct __sk_buff *skb)
{
	__u32 len = sockex_wire_len(skb);
	struct sockex1_value *v;
	__u32 key;
	int proto;

	if (!wanted(skb))
		return 0;
	proto = ip_protocol(skb);
	if (proto == SOCKEX_UNPARSED) {
		__sync_fetch_and_add(&unparsed.packets, 1);
		__sync_fetch_and_add(&unparsed.bytes, len);
		return 0;
	}
	if (proto < 0)
		return 0;
	key = proto;
	v = bpf_map_lookup_elem(&protocols, &key);
	/* filters of different sockets (and RX/TX of one) run on several CPUs at once */
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, len);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
