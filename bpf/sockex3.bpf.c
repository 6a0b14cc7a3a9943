// SPDX-License-Identifier: GPL-2.0
/*
 * sockex3: the kernel's samples/bpf sockex3, CO-RE and sockhost style. The same kind of flow
 * dissection as sockex2, split into one program per header kind that hand the packet on with
 * bpf_tail_call through the prog array `jmp_table`: `dispatch` reads the Ethernet type, then
 * parse_vlan, parse_mpls, parse_ip and parse_ipv6 follow the headers, and the last one counts
 * the flow (src, dst, ports, protocol) in `flows`. The host fills `jmp_table` (sockex3.h);
 * state travels between the programs in the per-CPU map `scratch`. Every program returns 0,
 * so the raw socket it is attached to never queues anything: it is only a tap.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockex.bpf.h"
#include "sockex3.h"

/* Packets not counted because `flows` was full. */
__u64 missed = 0;

/* IP frames whose headers were not followed to the end within the walks' bounds (sockex3.h). */
struct sockex3_value unparsed = {};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SOCKEX3_NR_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

/*
 * What one program of the chain leaves for the next: the flow so far and where the next
 * header starts (the sample keeps the offset in skb->cb[0] and the flow in an ARRAY indexed by
 * CPU number, its "poor man's per_cpu"). A tail call stays on the CPU it started on and
 * nothing else runs the chain there in between (socket filters run with migration disabled,
 * from softirq or under test_run), so one per-CPU slot is enough.
 */
struct sockex3_state {
	struct sockex3_flow flow;
	__u32 nhoff;
	__u16 vlans; /* VLAN tags stepped over */
	__u16 depth; /* parsers run after dispatch */
};

/*
 * How many parsers one frame may go through (VLAN tags, MPLS labels, IP headers): half the
 * kernel's 33 tail calls, so a frame built to nest deeper (IPIP in IPIP in ...) is counted
 * as unparsed rather than dropped where the kernel stops the chain.
 */
#define SOCKEX3_DEPTH_MAX 16

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sockex3_state);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sockex3_flow);
	__type(value, struct sockex3_value);
} flows SEC(".maps");

static __always_inline struct sockex3_state *state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * Hand the packet to the parser for proto. A tail call that succeeds does not return; one
 * that finds its slot empty returns and the caller's program ends: not counted. The sample
 * switches here rather than tail-calling jmp_table[proto] directly, which would need a prog
 * array as large as the Ethernet type space.
 */
static __always_inline void parse_eth_proto(struct __sk_buff *skb, int proto)
{
	switch (proto) {
	case SOCKEX_ETH_P_8021Q:
	case SOCKEX_ETH_P_8021AD:
		bpf_tail_call(skb, &jmp_table, SOCKEX3_PARSE_VLAN);
		break;
	case SOCKEX_ETH_P_MPLS_UC:
	case SOCKEX_ETH_P_MPLS_MC:
		bpf_tail_call(skb, &jmp_table, SOCKEX3_PARSE_MPLS);
		break;
	case SOCKEX_ETH_P_IP:
		bpf_tail_call(skb, &jmp_table, SOCKEX3_PARSE_IP);
		break;
	case SOCKEX_ETH_P_IPV6:
		bpf_tail_call(skb, &jmp_table, SOCKEX3_PARSE_IPV6);
		break;
	}
}

static __always_inline void count_flow(struct __sk_buff *skb, struct sockex3_flow *flow)
{
	struct sockex3_value *v = bpf_map_lookup_elem(&flows, flow);
	__u32 len = sockex_wire_len(skb);

	if (!v) {
		struct sockex3_value first = { .packets = 1, .bytes = len };

		/* NOEXIST, then look up again: two CPUs seeing a new flow at once must both
		 * count (the sample's BPF_ANY loses one of the two first packets) */
		if (!bpf_map_update_elem(&flows, flow, &first, BPF_NOEXIST))
			return;
		v = bpf_map_lookup_elem(&flows, flow);
		if (!v) {
			__sync_fetch_and_add(&missed, 1);
			return;
		}
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, len);
}

static __always_inline void count_unparsed(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&unparsed.packets, 1);
	__sync_fetch_and_add(&unparsed.bytes, sockex_wire_len(skb));
}

/* The state for the parser that runs now, or NULL when the frame went deeper than the
 * bound (counted as unparsed then). */
static __always_inline struct sockex3_state *enter(struct __sk_buff *skb)
{
	struct sockex3_state *st = state();

	if (st && ++st->depth > SOCKEX3_DEPTH_MAX) {
		count_unparsed(skb);
		return NULL;
	}
	return st;
}

/*
 * After an IP header: follow a tunnel, or read the ports and count. A later fragment (frag
 * 2: an IPv4 fragment offset, or an IPv6 fragment header's) has no transport header: it
 * counts under its protocol with ports 0, and a tunnel inside it is not followed.
 */
static __always_inline void parse_ip_proto(struct __sk_buff *skb, struct sockex3_state *st,
					   __u32 ip_proto, __u32 frag)
{
	__be16 ports[2];
	int proto;

	if (frag == 2) {
		if (ip_proto == IPPROTO_TCP || ip_proto == IPPROTO_UDP ||
		    ip_proto == IPPROTO_ICMP || ip_proto == SOCKEX_IPPROTO_ICMPV6) {
			st->flow.ip_proto = ip_proto;
			count_flow(skb, &st->flow);
		}
		return;
	}
	switch (ip_proto) {
	case IPPROTO_GRE:
		/* version 1 (PPTP) and source routing are not followed; gretap is, into the
		 * inner frame (sockex_gre steps over its Ethernet header) */
		proto = sockex_gre(skb, &st->nhoff);
		if (proto >= 0)
			parse_eth_proto(skb, proto);
		return;
	case IPPROTO_IPIP:
		parse_eth_proto(skb, SOCKEX_ETH_P_IP);
		return;
	case IPPROTO_IPV6:
		parse_eth_proto(skb, SOCKEX_ETH_P_IPV6);
		return;
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (sockex_load(skb, st->nhoff, ports, sizeof(ports)))
			return;
		st->flow.sport = bpf_ntohs(ports[0]);
		st->flow.dport = bpf_ntohs(ports[1]);
		/* fall through */
	case IPPROTO_ICMP:
	case SOCKEX_IPPROTO_ICMPV6:
		st->flow.ip_proto = ip_proto;
		count_flow(skb, &st->flow);
		return;
	}
}

SEC("socket")
int dispatch(struct __sk_buff *skb)
{
	struct sockex3_state *st = state();
	int proto;

	if (!st)
		return 0;
	/* the slot still holds the previous packet's flow: a leftover port would split an
	 * ICMP flow by whatever TCP/UDP packet came before it (the sample has that bug) */
	__builtin_memset(st, 0, sizeof(*st));
	st->nhoff = SOCKEX_ETH_HLEN;
	proto = sockex_load_be16(skb, offsetof(struct ethhdr, h_proto));
	parse_eth_proto(skb, proto);
	return 0;
}

SEC("socket")
int parse_vlan(struct __sk_buff *skb)
{
	struct sockex3_state *st = enter(skb);
	int proto;

	if (!st)
		return 0;
	/* as deep as sockex2 goes (SOCKEX_VLAN_MAX) */
	if (++st->vlans > SOCKEX_VLAN_MAX) {
		count_unparsed(skb);
		return 0;
	}
	proto = sockex_load_be16(skb,
				 st->nhoff + offsetof(struct sockex_vlan_hdr, encapsulated_proto));
	st->nhoff += sizeof(struct sockex_vlan_hdr);
	parse_eth_proto(skb, proto);
	return 0;
}

SEC("socket")
int parse_mpls(struct __sk_buff *skb)
{
	struct sockex3_state *st = enter(skb);
	__be32 label;
	__u8 verlen;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &label, sizeof(label)))
		return 0;
	st->nhoff += sizeof(label);
	if (!(bpf_ntohl(label) & SOCKEX_MPLS_LS_S_MASK)) {
		/* not the bottom of the stack: the next label (one tail call per label, so
		 * SOCKEX3_DEPTH_MAX bounds the walk) */
		parse_eth_proto(skb, SOCKEX_ETH_P_MPLS_UC);
		return 0;
	}
	/* MPLS does not say what it carries: guess from the IP version nibble. The sample
	 * tests (verlen & 0xF0) == 4, which is never true, and so took every payload for IPv6. */
	if (sockex_load(skb, st->nhoff, &verlen, sizeof(verlen)))
		return 0;
	if (verlen >> 4 == 4)
		parse_eth_proto(skb, SOCKEX_ETH_P_IP);
	else if (verlen >> 4 == 6)
		parse_eth_proto(skb, SOCKEX_ETH_P_IPV6);
	return 0;
}

/*
 * Every IP header records its addresses; an inner header (IPIP, GRE) overwrites the outer
 * ones. The sample skips the outer addresses of GRE instead, which ends the same way.
 */
SEC("socket")
int parse_ip(struct __sk_buff *skb)
{
	struct sockex3_state *st = enter(skb);
	struct iphdr iph;
	__u16 frag_off;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &iph, sizeof(iph)) || iph.ihl < 5)
		return 0;
	st->flow.family = SOCKEX_AF_INET;
	__builtin_memset(st->flow.src, 0, sizeof(st->flow.src));
	__builtin_memset(st->flow.dst, 0, sizeof(st->flow.dst));
	__builtin_memcpy(st->flow.src, &iph.saddr, sizeof(iph.saddr));
	__builtin_memcpy(st->flow.dst, &iph.daddr, sizeof(iph.daddr));
	st->nhoff += iph.ihl << 2;
	/* the first fragment carries the transport header, a later one only data */
	frag_off = bpf_ntohs(iph.frag_off);
	parse_ip_proto(skb, st, iph.protocol, frag_off & SOCKEX_IP_OFFSET ? 2 : 0);
	return 0;
}

SEC("socket")
int parse_ipv6(struct __sk_buff *skb)
{
	struct sockex3_state *st = enter(skb);
	struct ipv6hdr ip6;
	__u32 nexthdr, frag;
	int ret;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &ip6, sizeof(ip6)))
		return 0;
	st->flow.family = SOCKEX_AF_INET6;
	__builtin_memcpy(st->flow.src, &ip6.saddr, sizeof(st->flow.src));
	__builtin_memcpy(st->flow.dst, &ip6.daddr, sizeof(st->flow.dst));
	st->nhoff += sizeof(ip6);
	nexthdr = ip6.nexthdr;
	ret = sockex_ipv6_exts(skb, BPF_HDR_START_MAC, &st->nhoff, &nexthdr, &frag);
	if (ret == SOCKEX_UNPARSED)
		count_unparsed(skb);
	if (ret < 0)
		return 0;
	parse_ip_proto(skb, st, nexthdr, frag);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
