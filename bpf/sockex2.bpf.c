// SPDX-License-Identifier: GPL-2.0
/*
 * sockex2: the kernel's samples/bpf sockex2, CO-RE and sockhost style. A socket filter for a
 * raw AF_PACKET socket bound to an interface runs the sample's small flow dissector on every
 * frame (both directions) and counts packets and bytes per destination address. It returns
 * 0 for every packet, so the raw socket itself never queues anything: it is only a tap. See
 * sockex2.h for what is counted and sockex.bpf.h for how packet bytes are read.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockex.bpf.h"
#include "sockex2.h"

/* Packets not counted because `destinations` was full. */
__u64 missed = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sockex2_key);
	__type(value, struct sockex2_value);
} destinations SEC(".maps");

/*
 * IPv4 header at nhoff: record the destination, set *ip_proto (0 for a fragment, whose
 * payload cannot be followed) and return the offset of what follows, or -1 when the header
 * is not all there. The sample leaves the addresses alone for GRE so that the inner header
 * sets them; here every header sets them and an inner one overwrites, which gives the same
 * result and a defined one (the outer destination) when the GRE payload cannot be parsed.
 */
static __always_inline int parse_ip(struct __sk_buff *skb, __u32 nhoff, __u32 *ip_proto,
				    struct sockex2_key *key)
{
	struct iphdr iph;

	if (sockex_load(skb, nhoff, &iph, sizeof(iph)))
		return -1;
	if (bpf_ntohs(iph.frag_off) & (SOCKEX_IP_MF | SOCKEX_IP_OFFSET))
		*ip_proto = 0;
	else
		*ip_proto = iph.protocol;
	key->family = SOCKEX_AF_INET;
	__builtin_memset(key->addr, 0, sizeof(key->addr));
	__builtin_memcpy(key->addr, &iph.daddr, sizeof(iph.daddr));
	return nhoff + (iph.ihl << 2);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, __u32 nhoff, __u32 *ip_proto,
				      struct sockex2_key *key)
{
	struct ipv6hdr ip6;

	if (sockex_load(skb, nhoff, &ip6, sizeof(ip6)))
		return -1;
	*ip_proto = ip6.nexthdr;
	key->family = SOCKEX_AF_INET6;
	__builtin_memcpy(key->addr, &ip6.daddr, sizeof(key->addr));
	return nhoff + sizeof(ip6);
}

static __always_inline int parse_l3(struct __sk_buff *skb, int proto, __u32 nhoff, __u32 *ip_proto,
				    struct sockex2_key *key)
{
	if (proto == SOCKEX_ETH_P_IP)
		return parse_ip(skb, nhoff, ip_proto, key);
	if (proto == SOCKEX_ETH_P_IPV6)
		return parse_ipv6(skb, nhoff, ip_proto, key);
	return -1;
}

/* One VLAN tag at *nhoff: step over it and return the protocol it encapsulates (or -1). */
static __always_inline int skip_vlan(struct __sk_buff *skb, __u32 *nhoff)
{
	int proto = sockex_load_be16(skb,
				     *nhoff + offsetof(struct sockex_vlan_hdr, encapsulated_proto));

	*nhoff += sizeof(struct sockex_vlan_hdr);
	return proto;
}

static __always_inline bool dissect(struct __sk_buff *skb, struct sockex2_key *key)
{
	__u32 nhoff = SOCKEX_ETH_HLEN, ip_proto = 0;
	int proto = sockex_load_be16(skb, offsetof(struct ethhdr, h_proto));
	int next, flags;

	if (proto == SOCKEX_ETH_P_8021AD)
		proto = skip_vlan(skb, &nhoff);
	if (proto == SOCKEX_ETH_P_8021Q)
		proto = skip_vlan(skb, &nhoff);
	next = parse_l3(skb, proto, nhoff, &ip_proto, key);
	if (next < 0)
		return false;
	nhoff = next;

	switch (ip_proto) {
	case IPPROTO_GRE:
		flags = sockex_load_be16(skb, nhoff + offsetof(struct sockex_gre_hdr, flags));
		proto = sockex_load_be16(skb, nhoff + offsetof(struct sockex_gre_hdr, proto));
		if (flags < 0 || proto < 0)
			return false;
		/* version 1 (PPTP) and source routing have other layouts: count the outer */
		if (flags & (SOCKEX_GRE_VERSION | SOCKEX_GRE_ROUTING))
			break;
		nhoff += sizeof(struct sockex_gre_hdr);
		if (flags & SOCKEX_GRE_CSUM)
			nhoff += 4;
		if (flags & SOCKEX_GRE_KEY)
			nhoff += 4;
		if (flags & SOCKEX_GRE_SEQ)
			nhoff += 4;
		if (proto == SOCKEX_ETH_P_8021Q)
			proto = skip_vlan(skb, &nhoff);
		if (parse_l3(skb, proto, nhoff, &ip_proto, key) < 0)
			return false;
		break;
	case IPPROTO_IPIP:
		if (parse_ip(skb, nhoff, &ip_proto, key) < 0)
			return false;
		break;
	case IPPROTO_IPV6:
		if (parse_ipv6(skb, nhoff, &ip_proto, key) < 0)
			return false;
		break;
	}
	return true;
}

SEC("socket")
int by_destination(struct __sk_buff *skb)
{
	struct sockex2_key key = {};
	struct sockex2_value *v;

	if (!dissect(skb, &key))
		return 0;
	v = bpf_map_lookup_elem(&destinations, &key);
	if (!v) {
		struct sockex2_value first = { .packets = 1, .bytes = skb->len };

		/* NOEXIST, then look up again: two CPUs seeing a new destination at once must
		 * both count (the sample's BPF_ANY loses one of the two first packets) */
		if (!bpf_map_update_elem(&destinations, &key, &first, BPF_NOEXIST))
			return 0;
		v = bpf_map_lookup_elem(&destinations, &key);
		if (!v) {
			__sync_fetch_and_add(&missed, 1);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, skb->len);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
