// SPDX-License-Identifier: GPL-2.0
/*
 * sockcount: two socket filters (SO_ATTACH_BPF) for attach/replace/detach/test_run. `count`
 * counts and accepts every packet, `drop_all` counts and drops every packet; each counts into
 * its own slot of `counts` (see sockcount.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sockcount.h"

/*
 * Only look at IP packets of this protocol (IPPROTO_*: 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6);
 * packets of another protocol, and non-IP packets, pass both programs untouched and
 * uncounted. 0: every packet.
 */
const volatile __u32 proto_filter = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKCOUNT_NR_KEYS);
	__type(key, __u32);
	__type(value, struct sockcount_value);
} counts SEC(".maps");

/*
 * The IP protocol of the packet, read relative to the network header. skb->data points at
 * different layers depending on the socket the filter is attached to (link layer for
 * AF_PACKET, transport layer for UDP ...), so fixed offsets from skb->data would be wrong on
 * one of them; bpf_skb_load_bytes_relative(BPF_HDR_START_NET) works for all. IPv6 extension
 * headers are not walked: the first next-header is taken as the protocol.
 */
static __always_inline int ip_proto(struct __sk_buff *skb)
{
	__u8 b[10];

	if (bpf_skb_load_bytes_relative(skb, 0, b, 1, BPF_HDR_START_NET))
		return -1;
	switch (b[0] >> 4) {
	case 4:
		if (bpf_skb_load_bytes_relative(skb, 0, b, 10, BPF_HDR_START_NET))
			return -1;
		return b[9];
	case 6:
		if (bpf_skb_load_bytes_relative(skb, 0, b, 7, BPF_HDR_START_NET))
			return -1;
		return b[6];
	}
	return -1;
}

static __always_inline bool wanted(struct __sk_buff *skb)
{
	return !proto_filter || ip_proto(skb) == (int)proto_filter;
}

static __always_inline void account(__u32 key, struct __sk_buff *skb)
{
	struct sockcount_value *v = bpf_map_lookup_elem(&counts, &key);

	/* Filters of different sockets run on several CPUs at once: add atomically. */
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, skb->len);
	}
}

SEC("socket")
int count(struct __sk_buff *skb)
{
	if (wanted(skb))
		account(SOCKCOUNT_KEY_COUNT, skb);
	/* A socket filter returns how many bytes of the packet to keep: all of them. */
	return skb->len;
}

SEC("socket")
int drop_all(struct __sk_buff *skb)
{
	if (!wanted(skb))
		return skb->len;
	account(SOCKCOUNT_KEY_DROP_ALL, skb);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
