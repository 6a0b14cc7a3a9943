// SPDX-License-Identifier: GPL-2.0
/*
 * maps_ref.c: the plain C reference readers for bench/maps.lua. Reads every element
 * (key and value bytes, no decoding) of a pinned map with BPF_MAP_LOOKUP_BATCH or with
 * get_next_key + lookup, the way a hand-written libbpf tool would, and prints one line:
 *
 *   <elements> <best nanoseconds over the runs>
 *
 *   maps_ref PIN batch|next [RUNS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Batch of about 1 MiB, as sockhost uses. */
static long read_batch(int fd, struct bpf_map_info *info, char *keys, char *vals, __u32 cap)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 in = 0, out = 0;
	long total = 0;
	int started = 0;

	for (;;) {
		__u32 count = cap;
		int err = bpf_map_lookup_batch(fd, started ? &in : NULL, &out, keys, vals, &count,
					       &opts);

		if (err < 0 && errno != ENOENT) {
			perror("bpf_map_lookup_batch");
			exit(1);
		}
		total += count;
		if (err < 0)
			return total;
		in = out;
		started = 1;
	}
}

static long read_next(int fd, struct bpf_map_info *info, char *keys, char *vals)
{
	char *prev = NULL, *key = keys, *other = keys + info->key_size;
	long total = 0;

	while (bpf_map_get_next_key(fd, prev, key) == 0) {
		char *t;

		if (bpf_map_lookup_elem(fd, key, vals) == 0)
			total++;
		else if (errno != ENOENT) {
			perror("bpf_map_lookup_elem");
			exit(1);
		}
		prev = key;
		t = key;
		key = other;
		other = t;
	}
	return total;
}

int main(int argc, char **argv)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info), cap;
	long long best = -1;
	long total = 0;
	int fd, runs = argc > 3 ? atoi(argv[3]) : 1;
	char *keys, *vals;

	if (argc < 3 || (strcmp(argv[2], "batch") && strcmp(argv[2], "next"))) {
		fprintf(stderr, "usage: %s PIN batch|next [RUNS]\n", argv[0]);
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		perror(argv[1]);
		return 1;
	}
	cap = (1u << 20) / (info.key_size + info.value_size);
	if (cap > info.max_entries)
		cap = info.max_entries;
	keys = malloc((size_t)cap * info.key_size * 2);
	vals = malloc((size_t)cap * info.value_size);
	if (!keys || !vals)
		return 1;
	for (int r = 0; r < runs; r++) {
		long long t0 = now_ns(), dt;

		total = !strcmp(argv[2], "batch") ? read_batch(fd, &info, keys, vals, cap) :
						    read_next(fd, &info, keys, vals);
		dt = now_ns() - t0;
		if (best < 0 || dt < best)
			best = dt;
	}
	printf("%ld %lld\n", total, best);
	return 0;
}
