// SPDX-License-Identifier: GPL-2.0
/*
 * maps.bpf.c: the maps bench/maps.lua fills and reads: hash maps with 8-byte keys and
 * 8-byte (`narrow`) or 64-byte (`wide`) values. The bench sizes them before load
 * (maps = {narrow = {max_entries = N}}); no program touches them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct wide_value {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;
	__u64 last_ns;
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u32 pid;
	__u64 drops;
	__u64 retrans;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} narrow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct wide_value);
} wide SEC(".maps");

/* clang only emits BTF for types something uses; the maps above do */
char LICENSE[] SEC("license") = "GPL";
