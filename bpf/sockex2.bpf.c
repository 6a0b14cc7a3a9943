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

/* IP frames whose headers were not followed to the end within the walks' bounds (sockex2.h). */
struct sockex2_value unparsed = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sockex2_key);
	__type(value, struct sockex2_value);
} destinations SEC(".maps");

/* What dissect() decided. */
enum verdict {
	COUNT, /* count under key */
	SKIP, /* not IP, or cut short: not counted */
	UNPARSED, /* too many VLAN tags or IPv6 extension headers: counted in `unparsed` */
};

/*
 * IPv4 header at nhoff: record the destination, set *ip_proto (0 for a fragment, whose
 * payload cannot be followed) and return the offset of what follows, or SOCKEX_CUT when the
 * header is not all there. The sample leaves the addresses alone for GRE so that the inner
 * header sets them; here every header sets them and an inner one overwrites, which gives the
 * same result and a defined one (the outer destination) when the GRE payload cannot be
 * parsed.
 */
static __always_inline int parse_ip(struct __sk_buff *skb, __u32 nhoff, __u32 *ip_proto,
				    struct sockex2_key *key)
{
	struct iphdr iph;

	if (sockex_load(skb, nhoff, &iph, sizeof(iph)) || iph.ihl < 5)
		return SOCKEX_CUT;
	if (bpf_ntohs(iph.frag_off) & (SOCKEX_IP_MF | SOCKEX_IP_OFFSET))
		*ip_proto = 0;
	else
		*ip_proto = iph.protocol;
	key->family = SOCKEX_AF_INET;
	__builtin_memset(key->addr, 0, sizeof(key->addr));
	__builtin_memcpy(key->addr, &iph.daddr, sizeof(iph.daddr));
	return nhoff + (iph.ihl << 2);
}

/*
 * IPv6 the same way; *ip_proto is the upper-layer protocol after the extension headers (0
 * for a fragment, first or later, as for IPv4), or the walk's SOCKEX_CUT or SOCKEX_UNPARSED
 * is returned.
 */
static __always_inline int parse_ipv6(struct __sk_buff *skb, __u32 nhoff, __u32 *ip_proto,
				      struct sockex2_key *key)
{
	struct ipv6hdr ip6;
	__u32 frag;
	int ret;

	if (sockex_load(skb, nhoff, &ip6, sizeof(ip6)))
		return SOCKEX_CUT;
	key->family = SOCKEX_AF_INET6;
	__builtin_memcpy(key->addr, &ip6.daddr, sizeof(key->addr));
	*ip_proto = ip6.nexthdr;
	nhoff += sizeof(ip6);
	ret = sockex_ipv6_exts(skb, BPF_HDR_START_MAC, &nhoff, ip_proto, &frag);
	if (ret < 0)
		return ret;
	if (frag)
		*ip_proto = 0;
	return nhoff;
}

/* The IP header of EtherType proto at nhoff (see parse_ip); SOCKEX_CUT for any other type. */
static __always_inline int parse_l3(struct __sk_buff *skb, int proto, __u32 nhoff, __u32 *ip_proto,
				    struct sockex2_key *key)
{
	if (proto == SOCKEX_ETH_P_IP)
		return parse_ip(skb, nhoff, ip_proto, key);
	if (proto == SOCKEX_ETH_P_IPV6)
		return parse_ipv6(skb, nhoff, ip_proto, key);
	return SOCKEX_CUT;
}

/* parse_l3's result as a verdict; COUNT when it found the header. */
static __always_inline enum verdict l3_verdict(int ret)
{
	if (ret == SOCKEX_UNPARSED)
		return UNPARSED;
	return ret < 0 ? SKIP : COUNT;
}

static __always_inline enum verdict dissect(struct __sk_buff *skb, struct sockex2_key *key)
{
	__u32 nhoff = SOCKEX_ETH_HLEN, ip_proto = 0;
	int proto = sockex_load_be16(skb, offsetof(struct ethhdr, h_proto));
	int next;

	proto = sockex_skip_vlans(skb, proto, &nhoff);
	if (sockex_is_vlan(proto))
		return UNPARSED;
	next = parse_l3(skb, proto, nhoff, &ip_proto, key);
	if (next < 0)
		return l3_verdict(next);
	nhoff = next;

	switch (ip_proto) {
	case IPPROTO_GRE:
		proto = sockex_gre(skb, &nhoff);
		/* a layout not followed (version 1, routing) or an EtherType that is not IP
		 * after the tags: counted under the outer destination; cut short: not counted */
		if (proto == SOCKEX_NOT_FOLLOWED)
			return COUNT;
		if (proto < 0)
			return SKIP;
		proto = sockex_skip_vlans(skb, proto, &nhoff);
		if (proto < 0)
			return SKIP;
		if (sockex_is_vlan(proto))
			return UNPARSED;
		if (proto != SOCKEX_ETH_P_IP && proto != SOCKEX_ETH_P_IPV6)
			return COUNT;
		return l3_verdict(parse_l3(skb, proto, nhoff, &ip_proto, key));
	case IPPROTO_IPIP:
		return l3_verdict(parse_ip(skb, nhoff, &ip_proto, key));
	case IPPROTO_IPV6:
		return l3_verdict(parse_ipv6(skb, nhoff, &ip_proto, key));
	}
	return COUNT;
}

SEC("socket")
int by_destination(struct __sk_buff *skb)
{
	__u32 len = sockex_wire_len(skb);
	struct sockex2_key key = {};
	struct sockex2_value *v;

	switch (dissect(skb, &key)) {
	case SKIP:
		return 0;
	case UNPARSED:
		__sync_fetch_and_add(&unparsed.packets, 1);
		__sync_fetch_and_add(&unparsed.bytes, len);
		return 0;
	case COUNT:
		break;
	}
	v = bpf_map_lookup_elem(&destinations, &key);
	if (!v) {
		struct sockex2_value first = { .packets = 1, .bytes = len };

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
	__sync_fetch_and_add(&v->bytes, len);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
