// SPDX-License-Identifier: GPL-2.0
/*
 * features/probes.c: the groups behind sockhost.features(), and the probes of program types,
 * map types, facilities and cgroup links (kprobes and tracing: features/tracing.c). Every answer comes from doing
 * the thing: loading a two-instruction program of each type, creating each map type, loading
 * and attaching fentry/tp_btf programs against vmlinux BTF ids, asking the kernel for a
 * cgroup link. Nothing is guessed from the kernel version, and nothing is created anywhere
 * (no cgroup, no attachment that outlives the probe).
 *
 * Lazy and per group (bpftrace's bpffeature.h, cilium's features/): each group of
 * features/table.h is probed once per process, the first time one of its kinds is asked
 * about, under its own pthread_once; a group's table never changes afterwards and is never
 * freed. An attach error path that asks about kprobes probes kprobes only.
 *
 * Probes use raw bpf_prog_load/bpf_map_create and libbpf_probe_*(), never bpf_object, so
 * libbpf prints nothing while probing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "base/mounts.h"
#include "features/probe.h"
#include "features/table.h"

#define GROUP_MAX 128

static char bpf_denied[160]; /* non-empty: this process may not use bpf(2) at all */

/* ---- the probes --------------------------------------------------------------------------- */

static void probe_prog_types(struct feat_set *s, bool full)
{
	const char *name;
	int t;

	for (t = BPF_PROG_TYPE_SOCKET_FILTER; (name = libbpf_bpf_prog_type_str(t)); t++)
		sh_feat_probe_prog_type(sh_feat_get(s, name, "program type"), t, name, full);
}

static void probe_map_types(struct feat_set *s, bool full)
{
	char key[40];
	const char *name;
	struct feat *f;
	int t, r;

	for (t = BPF_MAP_TYPE_HASH; (name = libbpf_bpf_map_type_str(t)); t++) {
		/* "struct_ops" is both a program and a map type */
		snprintf(key, sizeof(key), !strcmp(name, "struct_ops") ? "%s_map" : "%s", name);
		f = sh_feat_get(s, key, "map type");
		if (sh_feat_bpf_denied()[0]) {
			sh_feat_fail(f, NULL, "%s", sh_feat_bpf_denied());
			continue;
		}
		r = libbpf_probe_bpf_map_type(t, NULL);
		if (r > 0)
			sh_feat_ok(f);
		else if (r == 0 && !full)
			sh_feat_fail(f, NULL,
				     "not permitted with this process's capabilities "
				     "(needs CAP_BPF+CAP_NET_ADMIN, or root)");
		else if (r == 0)
			sh_feat_fail(f, NULL, "map type not supported by this kernel");
		else
			sh_feat_fail(f, NULL, "could not probe: %s", sh_feat_errstr(r));
	}
}

/* Does the kernel link cgroup programs (BPF_LINK_CREATE, 5.7)? Asked without a cgroup: a
 * link_create on fd -1 fails with EBADF when the command exists (it looks the cgroup fd up)
 * and with EINVAL when it does not. Nothing is created or attached anywhere. */
static void probe_cgroup_link(struct feat_set *s)
{
	struct feat *f = sh_feat_get(s, "cgroup_link", "attach");
	int prog, link, err;

	if (sh_feat_bpf_denied()[0]) {
		sh_feat_fail(f, NULL, "%s", sh_feat_bpf_denied());
		return;
	}
	prog = sh_feat_load_trivial(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, 0, 1);
	if (prog < 0) {
		sh_feat_fail(f, NULL, "cgroup_skb load refused: %s", sh_feat_errstr(prog));
		return;
	}
	link = bpf_link_create(prog, -1, BPF_CGROUP_INET_INGRESS, NULL);
	err = link < 0 ? errno : 0;
	if (link >= 0)
		close(link);
	close(prog);
	if (err == EBADF)
		sh_feat_ok(f);
	else
		sh_feat_fail(f, "bpf_prog_attach (legacy cgroup attach)",
			     "bpf_link_create on a cgroup refused: %s",
			     sh_feat_errstr(err ? err : EINVAL));
}

static void probe_facilities(struct feat_set *s, struct btf **btfp, char *btf_why, size_t why_len)
{
	struct perf_event_attr pa = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.size = sizeof(pa),
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		.wakeup_events = 1,
	};
	char data[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = data, .data_size_in = sizeof(data),
		    .repeat = 1);
	struct feat *f;
	int fd, err, cpu;

	/* kernel BTF: sysfs first, so libbpf never falls back to searching vmlinux files (and
	 * warning when it finds none) */
	f = sh_feat_get(s, "btf", "facility");
	sh_feat_path(f, "/sys/kernel/btf/vmlinux");
	*btfp = sh_feat_load_vmlinux(btf_why, why_len);
	if (*btfp)
		sh_feat_ok(f);
	else
		sh_feat_fail(f, NULL, "%s", btf_why);

	if (sh_feat_bpf_denied()[0]) {
		static const char *const need_bpf[] = { "perf_buffer", "bpf_stats", "test_run",
							NULL };
		const char *const *k;

		for (k = need_bpf; *k; k++)
			sh_feat_fail(sh_feat_get(s, *k, "facility"), NULL, "%s",
				     sh_feat_bpf_denied());
		return;
	}

	/* perf_buffer needs the map and one BPF-output perf event per CPU */
	f = sh_feat_get(s, "perf_buffer", "facility");
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERF_EVENT_ARRAY, NULL) <= 0) {
		sh_feat_fail(f, "use a ring buffer", "perf_event_array maps not supported");
	} else {
		cpu = sched_getcpu();
		fd = syscall(SYS_perf_event_open, &pa, -1, cpu < 0 ? 0 : cpu, -1,
			     PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			err = errno;
			sh_feat_fail(f, "use a ring buffer",
				     "perf_event_open (BPF output) refused: %s",
				     sh_feat_errstr(err));
		} else {
			close(fd);
			sh_feat_ok(f);
		}
	}

	f = sh_feat_get(s, "bpf_stats", "facility");
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0) {
		err = errno;
		sh_feat_fail(f, NULL, "BPF_ENABLE_STATS refused: %s", sh_feat_errstr(err));
	} else {
		close(fd);
		sh_feat_ok(f);
	}

	f = sh_feat_get(s, "test_run", "facility");
	fd = sh_feat_load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);
	if (fd < 0) {
		sh_feat_fail(f, NULL, "socket_filter load refused: %s", sh_feat_errstr(fd));
	} else {
		err = bpf_prog_test_run_opts(fd, &topts) ? errno : 0;
		close(fd);
		if (err)
			sh_feat_fail(f, NULL, "BPF_PROG_TEST_RUN refused: %s", sh_feat_errstr(err));
		else
			sh_feat_ok(f);
	}
}

/* ---- the groups ------------------------------------------------------------------------- */

/* One load decides whether bpf(2) is usable at all: if not, every BPF kind says so in the
 * same words instead of a wall of unexplained false. */
static void probe_bpf(struct feat_set *s)
{
	struct feat *f = sh_feat_get(s, "bpf", "facility");
	int fd = sh_feat_load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);

	if (fd == -EPERM || fd == -EACCES) {
		snprintf(bpf_denied, sizeof(bpf_denied),
			 "BPF not permitted: run as root or grant CAP_BPF+CAP_PERFMON (%s)",
			 sh_feat_errstr(fd));
		sh_feat_fail(f, NULL, "%s", bpf_denied);
	} else if (fd == -ENOSYS) {
		snprintf(bpf_denied, sizeof(bpf_denied),
			 "BPF not available: kernel built without CONFIG_BPF_SYSCALL (%s)",
			 sh_feat_errstr(fd));
		sh_feat_fail(f, NULL, "%s", bpf_denied);
	} else {
		if (fd >= 0)
			close(fd);
		sh_feat_ok(f);
	}
}

static void probe_progs(struct feat_set *s)
{
	probe_prog_types(s, sh_feat_caps_full());
}

static void probe_maps(struct feat_set *s)
{
	probe_map_types(s, sh_feat_caps_full());
}

static void probe_facilities_group(struct feat_set *s)
{
	char why[160] = "";
	struct btf *btf = NULL;

	probe_facilities(s, &btf, why, sizeof(why));
	btf__free(btf);
}

struct group {
	struct feat feats[GROUP_MAX];
	struct feat_set set;
	pthread_once_t once;
};

static struct group groups[SH_FG_COUNT] = {
	[0 ... SH_FG_COUNT - 1] = { .once = PTHREAD_ONCE_INIT },
};

static void (*const probers[SH_FG_COUNT])(struct feat_set *) = {
	[SH_FG_BPF] = probe_bpf,
	[SH_FG_PROGS] = probe_progs,
	[SH_FG_MAPS] = probe_maps,
	[SH_FG_FACILITIES] = probe_facilities_group,
	[SH_FG_KPROBES] = sh_feat_probe_kprobes,
	[SH_FG_TRACING] = sh_feat_probe_tracing,
	[SH_FG_CGLINK] = probe_cgroup_link,
};

static void run(enum sh_feat_group g)
{
	groups[g].set.f = groups[g].feats;
	groups[g].set.cap = GROUP_MAX;
	probers[g](&groups[g].set);
}

#define ONCE(g)                    \
	static void once_##g(void) \
	{                          \
		run(g);            \
	}
ONCE(SH_FG_BPF)
ONCE(SH_FG_PROGS)
ONCE(SH_FG_MAPS)
ONCE(SH_FG_FACILITIES)
ONCE(SH_FG_KPROBES)
ONCE(SH_FG_TRACING)
ONCE(SH_FG_CGLINK)

static void (*const once_fns[SH_FG_COUNT])(void) = {
	once_SH_FG_BPF,	    once_SH_FG_PROGS,	once_SH_FG_MAPS,   once_SH_FG_FACILITIES,
	once_SH_FG_KPROBES, once_SH_FG_TRACING, once_SH_FG_CGLINK,
};

const struct feat_set *sh_feat_group(enum sh_feat_group g)
{
	if (g != SH_FG_BPF)
		pthread_once(&groups[SH_FG_BPF].once, once_fns[SH_FG_BPF]);
	pthread_once(&groups[g].once, once_fns[g]);
	return &groups[g].set;
}

const char *sh_feat_bpf_denied(void)
{
	sh_feat_group(SH_FG_BPF);
	return bpf_denied;
}

static bool listed(const char *kind, const char *const *names)
{
	for (; *names; names++)
		if (!strcmp(kind, *names))
			return true;
	return false;
}

enum sh_feat_group sh_feat_group_of(const char *kind)
{
	static const char *const kprobes[] = { "kprobe", "kretprobe", "uprobe", "uretprobe", NULL };
	static const char *const tracing[] = { "tp_btf", "fentry", "fexit", "lsm", "tracing", NULL };
	static const char *const facilities[] = { "btf", "perf_buffer", "bpf_stats", "test_run",
						  NULL };
	const char *name;
	char key[48];

	if (!strcmp(kind, "bpf"))
		return SH_FG_BPF;
	if (listed(kind, kprobes))
		return SH_FG_KPROBES;
	if (listed(kind, tracing))
		return SH_FG_TRACING;
	if (!strcmp(kind, "cgroup_link"))
		return SH_FG_CGLINK;
	if (listed(kind, facilities))
		return SH_FG_FACILITIES;
	for (int t = 0; (name = libbpf_bpf_prog_type_str(t)); t++)
		if (!strcmp(kind, name))
			return SH_FG_PROGS;
	for (int t = 0; (name = libbpf_bpf_map_type_str(t)); t++) {
		snprintf(key, sizeof(key), "%s_map", name);
		if (!strcmp(kind, name) || !strcmp(kind, key))
			return SH_FG_MAPS;
	}
	return SH_FG_COUNT;
}
