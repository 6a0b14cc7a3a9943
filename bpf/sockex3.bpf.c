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
};

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

	if (!v) {
		struct sockex3_value first = { .packets = 1, .bytes = skb->len };

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
	__sync_fetch_and_add(&v->bytes, skb->len);
}

/* After an IP header: follow a tunnel, or read the ports and count. */
static __always_inline void parse_ip_proto(struct __sk_buff *skb, struct sockex3_state *st,
					   __u32 ip_proto)
{
	__be16 ports[2];
	int flags, proto;

	switch (ip_proto) {
	case IPPROTO_GRE:
		flags = sockex_load_be16(skb, st->nhoff + offsetof(struct sockex_gre_hdr, flags));
		proto = sockex_load_be16(skb, st->nhoff + offsetof(struct sockex_gre_hdr, proto));
		/* version 1 (PPTP) and source routing have other layouts: not followed */
		if (flags < 0 || proto < 0 || flags & (SOCKEX_GRE_VERSION | SOCKEX_GRE_ROUTING))
			return;
		st->nhoff += sizeof(struct sockex_gre_hdr);
		if (flags & SOCKEX_GRE_CSUM)
			st->nhoff += 4;
		if (flags & SOCKEX_GRE_KEY)
			st->nhoff += 4;
		if (flags & SOCKEX_GRE_SEQ)
			st->nhoff += 4;
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
	struct sockex3_state *st = state();
	int proto;

	if (!st)
		return 0;
	proto = sockex_load_be16(skb,
				 st->nhoff + offsetof(struct sockex_vlan_hdr, encapsulated_proto));
	st->nhoff += sizeof(struct sockex_vlan_hdr);
	parse_eth_proto(skb, proto);
	return 0;
}

SEC("socket")
int parse_mpls(struct __sk_buff *skb)
{
	struct sockex3_state *st = state();
	__be32 label;
	__u8 verlen;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &label, sizeof(label)))
		return 0;
	st->nhoff += sizeof(label);
	if (!(bpf_ntohl(label) & SOCKEX_MPLS_LS_S_MASK)) {
		/* not the bottom of the stack: the next label (one tail call per label, so the
		 * kernel's limit of 33 tail calls bounds the walk) */
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
	struct sockex3_state *st = state();
	struct iphdr iph;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &iph, sizeof(iph)))
		return 0;
	if (bpf_ntohs(iph.frag_off) & (SOCKEX_IP_MF | SOCKEX_IP_OFFSET))
		return 0;
	st->flow.family = SOCKEX_AF_INET;
	__builtin_memset(st->flow.src, 0, sizeof(st->flow.src));
	__builtin_memset(st->flow.dst, 0, sizeof(st->flow.dst));
	__builtin_memcpy(st->flow.src, &iph.saddr, sizeof(iph.saddr));
	__builtin_memcpy(st->flow.dst, &iph.daddr, sizeof(iph.daddr));
	st->nhoff += iph.ihl << 2;
	parse_ip_proto(skb, st, iph.protocol);
	return 0;
}

SEC("socket")
int parse_ipv6(struct __sk_buff *skb)
{
	struct sockex3_state *st = state();
	struct ipv6hdr ip6;

	if (!st)
		return 0;
	if (sockex_load(skb, st->nhoff, &ip6, sizeof(ip6)))
		return 0;
	st->flow.family = SOCKEX_AF_INET6;
	__builtin_memcpy(st->flow.src, &ip6.saddr, sizeof(st->flow.src));
	__builtin_memcpy(st->flow.dst, &ip6.daddr, sizeof(st->flow.dst));
	st->nhoff += sizeof(ip6);
	parse_ip_proto(skb, st, ip6.nexthdr);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
