// SPDX-License-Identifier: GPL-2.0
/*
 * features/probes.c: the BPF probes behind sockhost.features(). Every answer comes from doing
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
#include "features/table.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define GROUP_MAX 128

static char bpf_denied[160]; /* non-empty: this process may not use bpf(2) at all */

static bool kprobe_pmu, uprobe_pmu, kernel_has_kprobes;

/* ---- BPF helpers ------------------------------------------------------------------------- */

/* Load "r0 = ret; exit" with opts. Returns an fd or -errno. */
static int load_opts(enum bpf_prog_type type, int ret, struct bpf_prog_load_opts *opts)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd;

	fd = bpf_prog_load(type, "sh_probe", "GPL", insns, 2, opts);
	return fd < 0 ? -errno : fd;
}

static int load_trivial(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id, int ret)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = eat, .attach_btf_id = btf_id);

	return load_opts(type, ret, &opts);
}

/* libbpf_probe_bpf_prog_type() answers only yes or no: redo its load (same attach types) to
 * learn why the kernel said no. Returns a positive errno, 0 if it loads after all. */
static int prog_type_errno(enum bpf_prog_type t)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	int fd;

	switch (t) {
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
		opts.expected_attach_type = BPF_CGROUP_INET4_CONNECT;
		break;
	case BPF_PROG_TYPE_CGROUP_SOCKOPT:
		opts.expected_attach_type = BPF_CGROUP_GETSOCKOPT;
		break;
	case BPF_PROG_TYPE_SK_LOOKUP:
		opts.expected_attach_type = BPF_SK_LOOKUP;
		break;
	case BPF_PROG_TYPE_LIRC_MODE2:
		opts.expected_attach_type = BPF_LIRC_MODE2;
		break;
	case BPF_PROG_TYPE_SYSCALL:
		opts.prog_flags = BPF_F_SLEEPABLE;
		break;
	case BPF_PROG_TYPE_TRACING:
	case BPF_PROG_TYPE_LSM:
	case BPF_PROG_TYPE_EXT:
		/* libbpf expects EINVAL ("attach_btf_id 1 is not a function") as its yes */
		opts.expected_attach_type = t == BPF_PROG_TYPE_TRACING ? BPF_TRACE_FENTRY :
					    t == BPF_PROG_TYPE_LSM     ? BPF_LSM_MAC :
									 0;
		opts.attach_btf_id = 1;
		break;
	default:
		break;
	}
	fd = load_opts(t, 0, &opts);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return -fd;
}

/* First of names that is a kind in vmlinux BTF (prefix is prepended), 0 when none. */
static __u32 btf_first(const struct btf *btf, const char *prefix, const char *const *names,
		       __u32 kind, const char **which)
{
	char full[128];
	int id;

	if (!btf)
		return 0;
	for (; *names; names++) {
		snprintf(full, sizeof(full), "%s%s", prefix, *names);
		id = btf__find_by_name_kind(btf, full, kind);
		if (id > 0) {
			*which = *names;
			return id;
		}
	}
	return 0;
}

/* Load a BPF_PROG_TYPE_TRACING/LSM program against btf_id and, when attach is set, attach it
 * for a moment (raw_tracepoint_open with a NULL name is the tracing attach), so "ok" means a
 * script's program will both load and attach. On failure fills f with "<label> load refused:
 * <errno text>" or "... attach refused: ...". */
static void probe_btf_prog(struct feat *f, const char *label, const char *instead,
			   enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id,
			   bool attach)
{
	int fd, lfd;

	fd = load_trivial(type, eat, btf_id, 0);
	if (fd < 0) {
		sh_feat_fail(f, instead, "%s load refused: %s", label, sh_feat_errstr(fd));
		return;
	}
	if (attach) {
		lfd = bpf_raw_tracepoint_open(NULL, fd);
		if (lfd < 0) {
			lfd = -errno;
			close(fd);
			sh_feat_fail(f, instead, "%s attach refused: %s", label,
				     sh_feat_errstr(lfd));
			return;
		}
		close(lfd);
	}
	close(fd);
	sh_feat_ok(f);
}

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Is sym a symbol in /proc/kallsyms? Names are readable even when addresses are hidden. */
static bool kallsyms_has(const char *sym)
{
	char line[512], name[256];
	bool found = false;
	FILE *fp;

	fp = fopen("/proc/kallsyms", "re");
	if (!fp)
		return false;
	while (!found && fgets(line, sizeof(line), fp))
		if (sscanf(line, "%*s %*s %255s", name) == 1 && !strcmp(name, sym))
			found = true;
	fclose(fp);
	return found;
}

/* Does /sys/kernel/security/lsm list name? -1 when it cannot be read (securityfs absent). */
static int lsm_active(const char *name)
{
	char buf[512], *tok, *save = NULL;
	size_t n;
	FILE *fp;

	fp = fopen("/sys/kernel/security/lsm", "re");
	if (!fp)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (tok = strtok_r(buf, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save))
		if (!strcmp(tok, name))
			return 1;
	return 0;
}

/* Effective capabilities: full means every program type is allowed (CAP_SYS_ADMIN, or
 * CAP_BPF with CAP_PERFMON and CAP_NET_ADMIN). */
static bool caps_full(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	__u64 eff;

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0;
	eff = (__u64)data[1].effective << 32 | data[0].effective;
#define HAS(c) (eff & (1ULL << (c)))
	return HAS(CAP_SYS_ADMIN) || (HAS(CAP_BPF) && HAS(CAP_PERFMON) && HAS(CAP_NET_ADMIN));
#undef HAS
}

/* ---- the probes --------------------------------------------------------------------------- */

/* One program type into f. */
static void probe_prog_type(struct feat *f, enum bpf_prog_type t, const char *name, bool full)
{
	int r, err;

	if (sh_feat_bpf_denied()[0]) {
		sh_feat_fail(f, NULL, "%s", sh_feat_bpf_denied());
		return;
	}
	r = libbpf_probe_bpf_prog_type(t, NULL);
	if (r > 0) {
		sh_feat_ok(f);
		return;
	}
	if (r < 0) {
		sh_feat_fail(f, NULL, "could not probe: %s", sh_feat_errstr(r));
		return;
	}
	err = prog_type_errno(t);
	if ((err == EPERM || err == EACCES) && !full)
		sh_feat_fail(f, NULL,
			     "not permitted with this process's capabilities "
			     "(needs CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN, or root)");
	else if (err == EPERM || err == EACCES)
		sh_feat_fail(f, NULL, "%s load refused: %s", name, sh_feat_errstr(err));
	else if (err)
		sh_feat_fail(f, NULL, "program type not supported by this kernel (%s)",
			     sh_feat_errstr(err));
	else
		sh_feat_fail(f, NULL, "kernel refused a minimal %s program", name);
}

static void probe_prog_types(struct feat_set *s, bool full)
{
	const char *name;
	int t;

	for (t = BPF_PROG_TYPE_SOCKET_FILTER; (name = libbpf_bpf_prog_type_str(t)); t++)
		probe_prog_type(sh_feat_get(s, name, "program type"), t, name, full);
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

/* kprobe/uprobe: the program type must load and the kernel must offer a way to create the
 * probe, either the perf PMU (libbpf's first choice) or tracefs's <x>probe_events. */
static void probe_kprobes(struct feat_set *s, const char *tracefs)
{
	struct feat prog_copy, *prog = &prog_copy;
	char events[PATH_MAX + 32];
	bool kev, uev;
	struct feat *kp, *ukp;
	const char *k;
	int i;

	kprobe_pmu = path_exists("/sys/bus/event_source/devices/kprobe/type");
	uprobe_pmu = path_exists("/sys/bus/event_source/devices/uprobe/type");
	snprintf(events, sizeof(events), "%s/kprobe_events", tracefs ? tracefs : "");
	kev = tracefs && path_exists(events);
	snprintf(events, sizeof(events), "%s/uprobe_events", tracefs ? tracefs : "");
	uev = tracefs && path_exists(events);
	if (!kprobe_pmu)
		kernel_has_kprobes = kallsyms_has("register_kprobe");
	/* the kprobe program type first: without it no kind below can work */
	memset(&prog_copy, 0, sizeof(prog_copy));
	probe_prog_type(&prog_copy, BPF_PROG_TYPE_KPROBE, "kprobe", caps_full());

	for (i = 0; i < 2; i++) {
		k = i ? "kretprobe" : "kprobe";
		kp = sh_feat_get(s, k, "program type");
		if (prog && !prog->ok)
			sh_feat_copy(kp, prog);
		else if (!kprobe_pmu && !kev && kernel_has_kprobes)
			sh_feat_fail(kp, KPROBE_INSTEAD, "%s", NO_KPROBE_EVENTS);
		else if (!kprobe_pmu && !kev)
			sh_feat_fail(kp, KPROBE_INSTEAD, "%s", NO_KPROBES);
		else
			sh_feat_ok(kp);

		k = i ? "uretprobe" : "uprobe";
		ukp = sh_feat_get(s, k, "program type");
		if (prog && !prog->ok)
			sh_feat_copy(ukp, prog);
		else if (!uprobe_pmu && !uev)
			sh_feat_fail(ukp, NULL,
				     "kernel built without CONFIG_UPROBE_EVENTS (no "
				     "uprobe_events in tracefs)");
		else
			sh_feat_ok(ukp);
	}
}

static void probe_tracing(struct feat_set *s, const struct btf *btf, const char *btf_why)
{
	static const char *const funcs[] = { "tcp_v4_connect", "tcp_sendmsg", "do_sys_openat2",
					     NULL };
	static const char *const tps[] = { "sys_enter", "sched_process_exec", "sched_switch",
					   NULL };
	static const char *const lsms[] = { "socket_connect", "file_open", NULL };
	struct feat *tp = sh_feat_get(s, "tp_btf", "program type");
	struct feat *fe = sh_feat_get(s, "fentry", "program type");
	struct feat *fx = sh_feat_get(s, "fexit", "program type");
	struct feat *lsm = sh_feat_get(s, "lsm", "program type");
	struct feat *tracing = sh_feat_get(s, "tracing", "program type");
	const char *which = NULL, *fe_instead;
	__u32 id;

	if (sh_feat_bpf_denied()[0]) {
		sh_feat_fail(tp, NULL, "%s", sh_feat_bpf_denied());
		sh_feat_copy(fe, tp);
		sh_feat_copy(fx, tp);
		sh_feat_copy(lsm, tp);
		sh_feat_copy(tracing, tp);
		return;
	}
	if (!btf) {
		sh_feat_fail(tp, "use a tracepoint or raw_tracepoint", "needs kernel BTF (%s)",
			     btf_why);
		sh_feat_fail(fe, "use a tracepoint", "needs kernel BTF (%s)", btf_why);
		sh_feat_copy(fx, fe);
		sh_feat_copy(lsm, fe);
		sh_feat_copy(tracing, fe);
		return;
	}

	/* libbpf resolves SEC("tp_btf/X") to the typedef btf_trace_X */
	id = btf_first(btf, "btf_trace_", tps, BTF_KIND_TYPEDEF, &which);
	if (id)
		probe_btf_prog(tp, "tp_btf", "use a tracepoint or raw_tracepoint",
			       BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, true);
	else
		sh_feat_fail(tp, "use a tracepoint or raw_tracepoint",
			     "no btf_trace_sys_enter typedef in kernel BTF to probe with");

	fe_instead = tp->ok ? "use tp_btf or a tracepoint" : "use a tracepoint";
	id = btf_first(btf, "", funcs, BTF_KIND_FUNC, &which);
	if (id) {
		probe_btf_prog(fe, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
			       BPF_TRACE_FENTRY, id, true);
		probe_btf_prog(fx, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
			       BPF_TRACE_FEXIT, id, true);
	} else {
		sh_feat_fail(fe, fe_instead,
			     "no tcp_v4_connect function in kernel BTF to probe with");
		sh_feat_copy(fx, fe);
	}

	/* Load only: attaching an LSM program, even one that allows everything, would put
	 * sockhost into every security decision on a shared kernel. */
	id = btf_first(btf, "bpf_lsm_", lsms, BTF_KIND_FUNC, &which);
	if (!id)
		sh_feat_fail(lsm, NULL, "kernel built without CONFIG_BPF_LSM (no bpf_lsm_* hooks)");
	else if (lsm_active("bpf") == 0)
		sh_feat_fail(lsm, NULL, "BPF LSM not enabled (\"bpf\" missing from the lsm= list)");
	else
		probe_btf_prog(lsm, "lsm", NULL, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, id, false);

	/* "tracing" is the program type behind both */
	if (tp->ok || fe->ok)
		sh_feat_ok(tracing);
	else
		sh_feat_copy(tracing, fe);
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
	prog = load_trivial(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, 0, 1);
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

/* The running kernel's BTF, from sysfs first so libbpf never falls back to searching vmlinux
 * files (and warning when it finds none); NULL with why filled. */
static struct btf *load_vmlinux(char *why, size_t len)
{
	struct btf *btf;

	if (!path_exists("/sys/kernel/btf/vmlinux")) {
		snprintf(why, len,
			 "no /sys/kernel/btf/vmlinux: kernel built without "
			 "CONFIG_DEBUG_INFO_BTF");
		return NULL;
	}
	btf = btf__load_vmlinux_btf();
	if (!btf)
		snprintf(why, len, "cannot parse /sys/kernel/btf/vmlinux: %s",
			 sh_feat_errstr(errno));
	return btf;
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
	*btfp = load_vmlinux(btf_why, why_len);
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
	fd = load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);
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
	int fd = load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);

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
	probe_prog_types(s, caps_full());
}

static void probe_maps(struct feat_set *s)
{
	probe_map_types(s, caps_full());
}

static void probe_facilities_group(struct feat_set *s)
{
	char why[160] = "";
	struct btf *btf = NULL;

	probe_facilities(s, &btf, why, sizeof(why));
	btf__free(btf);
}

static void probe_kprobes_group(struct feat_set *s)
{
	char tracefs[PATH_MAX];

	probe_kprobes(s, sh_mount_find("tracefs", "/sys/kernel/tracing", tracefs, sizeof(tracefs)) ?
				 tracefs :
				 NULL);
}

static void probe_tracing_group(struct feat_set *s)
{
	char why[160] = "";
	struct btf *btf = load_vmlinux(why, sizeof(why));

	probe_tracing(s, btf, why);
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
	[SH_FG_KPROBES] = probe_kprobes_group,
	[SH_FG_TRACING] = probe_tracing_group,
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

void sh_feat_kprobe_facts(bool *pmu, bool *has_kprobes)
{
	sh_feat_group(SH_FG_KPROBES);
	*pmu = kprobe_pmu;
	*has_kprobes = kernel_has_kprobes;
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
