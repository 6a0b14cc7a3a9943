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
#include "sockex1.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define PACKET_OUTGOING 4

/* Which packets to count (sockex1.h); the sample counts outgoing ones only. */
const volatile enum sockex1_direction direction = SOCKEX1_OUTGOING;

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
 * The sample reads the byte at ETH_HLEN + 9 whatever the frame holds. Here the protocol comes
 * from the network header, found through skb->protocol and read relative to it: that is right
 * for IPv4 and IPv6, with or without an offloaded VLAN tag, on the raw socket (where skb->data
 * is the Ethernet header) and under test_run (where it is the network header).
 */
static __always_inline int ip_protocol(struct __sk_buff *skb)
{
	__u8 proto;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes_relative(skb, offsetof(struct iphdr, protocol), &proto, 1,
						BPF_HDR_START_NET))
			return -1;
		return proto;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes_relative(skb, offsetof(struct ipv6hdr, nexthdr), &proto, 1,
						BPF_HDR_START_NET))
			return -1;
		return proto;
	}
	return -1;
}

SEC("socket")
int by_protocol(struct __sk_buff *skb)
{
	struct sockex1_value *v;
	__u32 key;
	int proto;

	if (!wanted(skb))
		return 0;
	proto = ip_protocol(skb);
	if (proto < 0)
		return 0;
	key = proto;
	v = bpf_map_lookup_elem(&protocols, &key);
	/* filters of different sockets (and RX/TX of one) run on several CPUs at once */
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, skb->len);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
