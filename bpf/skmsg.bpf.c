// SPDX-License-Identifier: GPL-2.0
/*
 * skmsg: a sockhash and a sockmap with pass-through programs, for attaching sk_msg and sk_skb
 * programs to socket maps and counting what goes through. Nothing is redirected: every
 * program returns SK_PASS, so sockets in the maps behave as if the programs were not there.
 *
 * Attach msg_count (BPF_SK_MSG_VERDICT) and/or skb_parser + skb_verdict
 * (BPF_SK_SKB_STREAM_PARSER / _VERDICT) to `sock_map` or `sock_hash`, then insert
 * established TCP sockets: userspace updates take the socket's fd as the value.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "skmsg.h"

/*
 * Values are __u64 rather than __u32: on update the kernel reads the fd from either size,
 * but a lookup from userspace answers only for 8-byte values (it returns the socket cookie;
 * a 4-byte map gives ENOSPC). The __type()s document key and value; libbpf still creates
 * both socket maps without BTF (see skmsg.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 64);
	__type(key, struct sock_key);
	__type(value, __u64);
} sock_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} sock_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SKMSG_NR_STATS);
	__type(key, __u32);
	__type(value, struct skmsg_stat);
} msg_stats SEC(".maps");

static __always_inline void account(__u32 key, __u32 bytes)
{
	struct skmsg_stat *s = bpf_map_lookup_elem(&msg_stats, &key);

	/* Sockets in one map are used from several CPUs at once: add atomically. */
	if (s) {
		__sync_fetch_and_add(&s->count, 1);
		__sync_fetch_and_add(&s->bytes, bytes);
	}
}

SEC("sk_msg")
int msg_count(struct sk_msg_md *msg)
{
	account(SKMSG_STAT_MSG, msg->size);
	return SK_PASS;
}

/*
 * The stream parser returns the length of the next complete message in the receive queue;
 * skb->len means "whatever has arrived is one message", i.e. no framing.
 */
SEC("sk_skb/stream_parser")
int skb_parser(struct __sk_buff *skb)
{
	account(SKMSG_STAT_PARSER, skb->len);
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int skb_verdict(struct __sk_buff *skb)
{
	account(SKMSG_STAT_VERDICT, skb->len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
