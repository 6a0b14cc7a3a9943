/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockcount.h: what the socket filters in sockcount.bpf.c count. Shared by the BPF side and
 * the host; the map `counts` is decoded through BTF, so the field names are Lua API.
 */
#ifndef SOCKCOUNT_H
#define SOCKCOUNT_H

/*
 * `counts` is an ARRAY of 2 struct sockcount_value, one slot per program, so a spec that
 * swaps programs on a socket can tell which one saw a packet:
 *   key 0 (SOCKCOUNT_KEY_COUNT)     counted by `count` (accepts the packet)
 *   key 1 (SOCKCOUNT_KEY_DROP_ALL)  counted by `drop_all` (drops it)
 * The key stays a plain __u32 (not the enum below): the kernel only accepts BTF for an array
 * whose key type is a 4-byte integer, and libbpf would silently create the map without BTF.
 *
 * bytes adds up skb->len as the filter sees it: for a socket of family AF_PACKET that is the
 * whole frame including the link layer header; for AF_INET/AF_INET6 sockets the payload
 * from the transport header on (UDP: header + data). Under BPF_PROG_TEST_RUN the kernel
 * strips the 14-byte Ethernet header from the test data first, so skb->len (and the return
 * value of `count`) is #data - 14.
 */
enum sockcount_key {
	SOCKCOUNT_KEY_COUNT = 0,
	SOCKCOUNT_KEY_DROP_ALL = 1,
	SOCKCOUNT_NR_KEYS,
};

struct sockcount_value {
	__u64 packets;
	__u64 bytes;
};

#endif /* SOCKCOUNT_H */
