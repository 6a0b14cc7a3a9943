// SPDX-License-Identifier: GPL-2.0
/*
 * obj/ringsize.c: event rings sized from memory, not from what a .bpf.c happened to declare.
 *
 * A ring buffer is the only slack between a burst in the kernel and the reader: 256 KiB
 * holds about 2,000 connection records, 40 ms at the rates a loopback benchmark reaches, so
 * a reader descheduled for longer loses records it could otherwise have read. Since 5.11 BPF
 * memory is charged to the memory cgroup, not to RLIMIT_MEMLOCK (8 MiB here, not raisable),
 * so the bound is memory: MemAvailable / 512, a power of 2 from 1 MiB to 16 MiB (16 MiB is
 * 140,000 such records, seconds of a busy host). On older kernels, where memlock is what
 * the kernel charges, a ring takes at most 1/4 of a finite RLIMIT_MEMLOCK. A declared size
 * above the default is kept; so is the log ring's; SOCKHOST_RING_SIZE (bytes, a power of 2
 * times the page size) overrides the default, and opts.maps[name].max_entries any of it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "obj/ringsize.h"

#define RING_MIN ((size_t)1 << 20)
#define RING_MAX ((size_t)16 << 20)

static size_t default_size;
static bool env_bad; /* SOCKHOST_RING_SIZE is set to something else than a valid size */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static size_t pow2_floor(size_t n)
{
	size_t p = 1;

	while (p <= n / 2)
		p *= 2;
	return p;
}

static size_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (size_t)kb * 1024;
}

/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. */
static bool memlock_charged(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major < 5 || (major == 5 && minor < 11);
}

static bool valid_size(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return n >= page && !(n & (n - 1)) && n <= ((size_t)1 << 31);
}

static void compute(void)
{
	const char *env = getenv("SOCKHOST_RING_SIZE");
	size_t n;

	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (!*end && valid_size((size_t)v)) {
			default_size = (size_t)v;
			return;
		}
		env_bad = true;
		return;
	}
	n = mem_available() / 512;
	if (n < RING_MIN)
		n = RING_MIN;
	if (n > RING_MAX)
		n = RING_MAX;
	n = pow2_floor(n);
	if (memlock_charged()) {
		struct rlimit rl;

		if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY) {
			size_t cap = pow2_floor((size_t)rl.rlim_cur / 4);

			if (cap < n)
				n = cap;
		}
	}
	if (!valid_size(n))
		n = (size_t)sysconf(_SC_PAGESIZE);
	default_size = n;
}

size_t sh_ring_default_size(void)
{
	pthread_once(&once, compute);
	return default_size;
}

int sh_rings_autosize(struct bpf_object *obj)
{
	size_t want = sh_ring_default_size();
	struct bpf_map *m;

	if (env_bad)
		return -1;
	bpf_object__for_each_map(m, obj) {
		if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF ||
		    !strcmp(bpf_map__name(m), "sockhost_log"))
			continue;
		if (bpf_map__max_entries(m) < want)
			bpf_map__set_max_entries(m, (__u32)want);
	}
	return 0;
}
