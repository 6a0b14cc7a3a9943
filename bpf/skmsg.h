/* SPDX-License-Identifier: GPL-2.0 */
/*
 * skmsg.h: keys and counters of skmsg.bpf.c (sockmap/sockhash with pass-through sk_msg and
 * sk_skb programs). Shared by the BPF side and the host; the host encodes and decodes them
 * through BTF, so the field names are Lua API.
 */
#ifndef SKMSG_H
#define SKMSG_H

/*
 * Key of `sock_hash`: one TCP connection as seen from the socket stored under it. Nothing in
 * skmsg.bpf.c builds keys, so the host picks them; this layout is a convention, with the
 * address bytes as on the wire so Lua makes them from text with net.pton. Note that libbpf
 * creates sockmap/sockhash maps without BTF (bpf_object__create_map() drops it for these
 * types), so unless the host recovers the key type from the object's .maps section, keys
 * cross as raw 40-byte strings:
 *     string.pack("=c16c16I2I2I2I2", sip16, dip16, sport, dport, family, 0)
 * with sip16 = net.pton("127.0.0.1") .. ("\0"):rep(12).
 *   sip, dip     network byte order, the address bytes as on the wire. AF_INET: the 4 bytes
 *                first, the other 12 zero. AF_INET6: all 16.
 *   sport, dport host byte order.
 *   family       AF_INET (2) or AF_INET6 (10).
 * 40 bytes, no implicit padding (hash keys are compared bytewise, so a hole would make equal
 * tuples differ).
 */
struct sock_key {
	__u8 sip[16];
	__u8 dip[16];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 pad;
};

/*
 * `msg_stats` is an ARRAY of struct skmsg_stat, one slot per program:
 *   key 0 (SKMSG_STAT_MSG)     msg_count: sendmsg/sendfile calls on a socket in the map,
 *                              bytes = msg->size of each
 *   key 1 (SKMSG_STAT_VERDICT) skb_verdict: received records (one per skb_parser message),
 *                              bytes = skb->len of each
 *   key 2 (SKMSG_STAT_PARSER)  skb_parser: calls; bytes = skb->len it saw (the parser may be
 *                              called again on the same data as more arrives)
 * The key is a plain __u32: an array map's BTF key must be a 4-byte integer.
 */
enum skmsg_stat_key {
	SKMSG_STAT_MSG = 0,
	SKMSG_STAT_VERDICT = 1,
	SKMSG_STAT_PARSER = 2,
	SKMSG_NR_STATS,
};

struct skmsg_stat {
	__u64 count;
	__u64 bytes;
};

#endif /* SKMSG_H */
