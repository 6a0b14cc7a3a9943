/* SPDX-License-Identifier: GPL-2.0 */
/*
 * features.c: sockhost.core.features() — which program types, map types, attach kinds and
 * kernel facilities this kernel and this process really have. Every answer comes from doing
 * the thing: loading a two-instruction program of each type, creating each map type, loading
 * and attaching fentry/tp_btf programs against vmlinux BTF ids, linking a cgroup_skb program
 * to a throw-away child cgroup. Nothing is guessed from the kernel version.
 *
 * For the lead — exported C helper, prototype in sh_features.h (not features.h: that
 * name would shadow glibc's <features.h> for every file built with -I host):
 *
 *   const char *sh_feature_missing(const char *kind, char *buf, size_t len);
 *
 *   NULL when kind is present (or unknown here), else "<kind>: <reason>[; <instead>]" in buf,
 *   e.g. "kprobe: kernel built without CONFIG_KPROBES (no kprobe_events in tracefs); use a
 *   tracepoint or tp_btf". The attach code calls it after a failed attach.
 *
 * Lifetime: the BPF probes run once per process (pthread_once) into a static table that is
 * never freed and never changes afterwards; every fd, program, link, BTF and the probe cgroup
 * (<cgroup2>/sockhost-probe-<pid>, never the root) are released before the probe returns.
 * Mount-dependent facilities (bpffs, tracefs, cgroup2, kprobe_events) are looked at again on
 * every call, because sockhost itself may mount bpffs later. Each features() call builds a
 * fresh Lua table, so scripts cannot change the cache.
 *
 * Probes use raw bpf_prog_load/bpf_map_create and libbpf_probe_*(), never bpf_object, so
 * libbpf prints nothing while probing (error.c owns libbpf_set_print).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <lua.h>
#include <lauxlib.h>

#include "sh_features.h"
#include "internal.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#define SH_ENOTSUPP 524 /* kernel-internal errno that leaks out of bpf(2) */

#define FEAT_MAX 128

/* The words users see for the most common gap (spec/features_spec.lua checks them) */
#define NO_KPROBES "kernel built without CONFIG_KPROBES (no kprobe_events in tracefs)"
#define NO_KPROBE_EVENTS "kernel built without CONFIG_KPROBE_EVENTS (no kprobe_events in tracefs)"
#define KPROBE_INSTEAD "use a tracepoint or tp_btf"

struct feat {
	char kind[40];
	const char *what; /* "program type", "map type", "attach", "facility" */
	bool ok;
	char reason[200];
	char instead[64];
	char path[512];
	char note[120];
};

struct feat_set {
	struct feat *f;
	int n, cap;
};

#define LIVE_MAX 8

static struct feat cache_feats[FEAT_MAX];
static struct feat_set cache = { .f = cache_feats, .cap = FEAT_MAX };
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static char bpf_denied[160]; /* non-empty: this process may not use bpf(2) at all */
static bool kprobe_pmu, uprobe_pmu, kernel_has_kprobes;

static const char *errstr(int err)
{
	if (err < 0)
		err = -err;
	if (err == SH_ENOTSUPP)
		return "not supported by this kernel (ENOTSUPP)";
	return strerror(err);
}

/* The entry for kind in s, created (not ok, empty texts) when missing. NULL when full. */
static struct feat *feat_get(struct feat_set *s, const char *kind, const char *what)
{
	struct feat *f;
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].kind, kind))
			return &s->f[i];
	if (s->n == s->cap)
		return NULL;
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	f->what = what;
	return f;
}

static void feat_ok(struct feat *f)
{
	if (!f)
		return;
	f->ok = true;
	f->reason[0] = f->instead[0] = '\0';
}

static void feat_fail(struct feat *f, const char *instead, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void feat_fail(struct feat *f, const char *instead, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	f->ok = false;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
	snprintf(f->instead, sizeof(f->instead), "%s", instead ? instead : "");
}

static void feat_copy(struct feat *dst, const struct feat *src)
{
	if (!dst || !src)
		return;
	dst->ok = src->ok;
	memcpy(dst->reason, src->reason, sizeof(dst->reason));
	memcpy(dst->instead, src->instead, sizeof(dst->instead));
}

static void feat_path(struct feat *f, const char *path)
{
	size_t n = strlen(path);

	if (!f)
		return;
	if (n >= sizeof(f->path)) {
		snprintf(f->note, sizeof(f->note), "path longer than %zu bytes not shown",
			 sizeof(f->path) - 1);
		return;
	}
	memcpy(f->path, path, n + 1);
}

static const struct feat *feat_find(const struct feat_set *s, const char *kind)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].kind, kind))
			return &s->f[i];
	return NULL;
}

/* ---- mounts and files -------------------------------------------------------------------- */

/* Mount point of a filesystem type from /proc/mounts (getmntent decodes \040 escapes). The
 * preferred directory wins when it is one of several mounts of that type. */
static bool find_mount(const char *fstype, const char *prefer, char *out, size_t len)
{
	struct mntent ent, *m;
	char buf[4096];
	bool found = false;
	FILE *fp;

	fp = setmntent("/proc/mounts", "re");
	if (!fp)
		return false;
	while ((m = getmntent_r(fp, &ent, buf, sizeof(buf)))) {
		if (strcmp(m->mnt_type, fstype))
			continue;
		if (!found || (prefer && !strcmp(m->mnt_dir, prefer))) {
			snprintf(out, len, "%s", m->mnt_dir);
			found = true;
		}
		if (!prefer || !strcmp(m->mnt_dir, prefer))
			break;
	}
	endmntent(fp);
	return found;
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

static int load_trivial(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id,
			int ret)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = eat,
		    .attach_btf_id = btf_id);

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
		feat_fail(f, instead, "%s load refused: %s", label, errstr(fd));
		return;
	}
	if (attach) {
		lfd = bpf_raw_tracepoint_open(NULL, fd);
		if (lfd < 0) {
			lfd = -errno;
			close(fd);
			feat_fail(f, instead, "%s attach refused: %s", label, errstr(lfd));
			return;
		}
		close(lfd);
	}
	close(fd);
	feat_ok(f);
}

/* ---- the probes (run once per process) --------------------------------------------------- */

static void probe_prog_types(struct feat_set *s, bool full)
{
	const char *name;
	struct feat *f;
	int t, r, err;

	for (t = BPF_PROG_TYPE_SOCKET_FILTER; (name = libbpf_bpf_prog_type_str(t)); t++) {
		f = feat_get(s, name, "program type");
		if (bpf_denied[0]) {
			feat_fail(f, NULL, "%s", bpf_denied);
			continue;
		}
		r = libbpf_probe_bpf_prog_type(t, NULL);
		if (r > 0) {
			feat_ok(f);
			continue;
		}
		if (r < 0) {
			feat_fail(f, NULL, "could not probe: %s", errstr(r));
			continue;
		}
		err = prog_type_errno(t);
		if ((err == EPERM || err == EACCES) && !full)
			feat_fail(f, NULL, "not permitted with this process's capabilities "
					   "(needs CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN, or root)");
		else if (err == EPERM || err == EACCES)
			feat_fail(f, NULL, "%s load refused: %s", name, errstr(err));
		else if (err)
			feat_fail(f, NULL, "program type not supported by this kernel (%s)",
				  errstr(err));
		else
			feat_fail(f, NULL, "kernel refused a minimal %s program", name);
	}
}

static void probe_map_types(struct feat_set *s, bool full)
{
	char key[40];
	const char *name;
	struct feat *f;
	int t, r;

	for (t = BPF_MAP_TYPE_HASH; (name = libbpf_bpf_map_type_str(t)); t++) {
		/* "struct_ops" is both a program and a map type */
		snprintf(key, sizeof(key), feat_find(s, name) ? "%s_map" : "%s", name);
		f = feat_get(s, key, "map type");
		if (bpf_denied[0]) {
			feat_fail(f, NULL, "%s", bpf_denied);
			continue;
		}
		r = libbpf_probe_bpf_map_type(t, NULL);
		if (r > 0)
			feat_ok(f);
		else if (r == 0 && !full)
			feat_fail(f, NULL, "not permitted with this process's capabilities "
					   "(needs CAP_BPF+CAP_NET_ADMIN, or root)");
		else if (r == 0)
			feat_fail(f, NULL, "map type not supported by this kernel");
		else
			feat_fail(f, NULL, "could not probe: %s", errstr(r));
	}
}

/* kprobe/uprobe: the program type must load and the kernel must offer a way to create the
 * probe, either the perf PMU (libbpf's first choice) or tracefs's <x>probe_events. */
static void probe_kprobes(struct feat_set *s, const char *tracefs)
{
	const struct feat *found = feat_find(s, "kprobe");
	struct feat prog_copy, *prog = NULL;
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
	/* the "kprobe" program-type entry is about to become the attach answer */
	if (found) {
		prog_copy = *found;
		prog = &prog_copy;
	}

	for (i = 0; i < 2; i++) {
		k = i ? "kretprobe" : "kprobe";
		kp = feat_get(s, k, "program type");
		if (prog && !prog->ok)
			feat_copy(kp, prog);
		else if (!kprobe_pmu && !kev && kernel_has_kprobes)
			feat_fail(kp, KPROBE_INSTEAD, "%s", NO_KPROBE_EVENTS);
		else if (!kprobe_pmu && !kev)
			feat_fail(kp, KPROBE_INSTEAD, "%s", NO_KPROBES);
		else
			feat_ok(kp);

		k = i ? "uretprobe" : "uprobe";
		ukp = feat_get(s, k, "program type");
		if (prog && !prog->ok)
			feat_copy(ukp, prog);
		else if (!uprobe_pmu && !uev)
			feat_fail(ukp, NULL, "kernel built without CONFIG_UPROBE_EVENTS (no "
					     "uprobe_events in tracefs)");
		else
			feat_ok(ukp);
	}
}

static void probe_tracing(struct feat_set *s, const struct btf *btf, const char *btf_why)
{
	static const char *const funcs[] = { "tcp_v4_connect", "tcp_sendmsg", "do_sys_openat2",
					     NULL };
	static const char *const tps[] = { "sys_enter", "sched_process_exec", "sched_switch",
					   NULL };
	static const char *const lsms[] = { "socket_connect", "file_open", NULL };
	struct feat *tp = feat_get(s, "tp_btf", "program type");
	struct feat *fe = feat_get(s, "fentry", "program type");
	struct feat *fx = feat_get(s, "fexit", "program type");
	struct feat *lsm = feat_get(s, "lsm", "program type");
	struct feat *tracing = feat_get(s, "tracing", "program type");
	const char *which = NULL, *fe_instead;
	__u32 id;

	if (bpf_denied[0]) {
		feat_fail(tp, NULL, "%s", bpf_denied);
		feat_copy(fe, tp);
		feat_copy(fx, tp);
		feat_copy(lsm, tp);
		feat_copy(tracing, tp);
		return;
	}
	if (!btf) {
		feat_fail(tp, "use a tracepoint or raw_tracepoint", "needs kernel BTF (%s)",
			  btf_why);
		feat_fail(fe, "use a tracepoint", "needs kernel BTF (%s)", btf_why);
		feat_copy(fx, fe);
		feat_copy(lsm, fe);
		feat_copy(tracing, fe);
		return;
	}

	/* libbpf resolves SEC("tp_btf/X") to the typedef btf_trace_X */
	id = btf_first(btf, "btf_trace_", tps, BTF_KIND_TYPEDEF, &which);
	if (id)
		probe_btf_prog(tp, "tp_btf", "use a tracepoint or raw_tracepoint",
			       BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, true);
	else
		feat_fail(tp, "use a tracepoint or raw_tracepoint",
			  "no btf_trace_sys_enter typedef in kernel BTF to probe with");

	fe_instead = tp->ok ? "use tp_btf or a tracepoint" : "use a tracepoint";
	id = btf_first(btf, "", funcs, BTF_KIND_FUNC, &which);
	if (id) {
		probe_btf_prog(fe, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
			       BPF_TRACE_FENTRY, id, true);
		probe_btf_prog(fx, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
			       BPF_TRACE_FEXIT, id, true);
	} else {
		feat_fail(fe, fe_instead, "no tcp_v4_connect function in kernel BTF to probe with");
		feat_copy(fx, fe);
	}

	/* Load only: attaching an LSM program, even one that allows everything, would put
	 * sockhost into every security decision on a shared kernel. */
	id = btf_first(btf, "bpf_lsm_", lsms, BTF_KIND_FUNC, &which);
	if (!id)
		feat_fail(lsm, NULL, "kernel built without CONFIG_BPF_LSM (no bpf_lsm_* hooks)");
	else if (lsm_active("bpf") == 0)
		feat_fail(lsm, NULL, "BPF LSM not enabled (\"bpf\" missing from the lsm= list)");
	else
		probe_btf_prog(lsm, "lsm", NULL, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, id, false);

	/* "tracing" is the program type behind both */
	if (tp->ok || fe->ok)
		feat_ok(tracing);
	else
		feat_copy(tracing, fe);
}

/* Link a cgroup_skb program to a child cgroup of our own, then take everything down again.
 * Never the root cgroup: this is a shared kernel. */
static void probe_cgroup_link(struct feat_set *s)
{
	struct feat *f = feat_get(s, "cgroup_link", "attach");
	char root[PATH_MAX], dir[PATH_MAX + 64];
	int cg = -1, prog = -1, link, err, tries;

	if (bpf_denied[0]) {
		feat_fail(f, NULL, "%s", bpf_denied);
		return;
	}
	if (!find_mount("cgroup2", NULL, root, sizeof(root))) {
		feat_fail(f, "mount cgroup2 (mount -t cgroup2 none <dir>)",
			  "no cgroup2 mount in /proc/mounts");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/sockhost-probe-%d", root, (int)getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = errno;
		feat_fail(f, NULL, "cannot create probe cgroup %s: %s", dir, strerror(err));
		return;
	}
	cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		err = errno;
		feat_fail(f, NULL, "cannot open probe cgroup %s: %s", dir, strerror(err));
		goto err_rmdir;
	}
	prog = load_trivial(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, 0, 1);
	if (prog < 0) {
		feat_fail(f, NULL, "cgroup_skb load refused: %s", errstr(prog));
		goto err_close_cg;
	}
	link = bpf_link_create(prog, cg, BPF_CGROUP_INET_INGRESS, NULL);
	if (link < 0) {
		err = errno;
		feat_fail(f, "bpf_prog_attach (legacy cgroup attach)",
			  "bpf_link_create on a cgroup refused: %s", errstr(err));
		goto err_close_prog;
	}
	close(link);
	feat_ok(f);
err_close_prog:
	close(prog);
err_close_cg:
	close(cg);
err_rmdir:
	/* a cgroup with no tasks can go even with programs still attached; EBUSY only if
	 * something moved into it, which we retry briefly */
	for (tries = 0; rmdir(dir) && errno == EBUSY && tries < 50; tries++)
		usleep(10000);
}

static void probe_facilities(struct feat_set *s, struct btf **btfp, char *btf_why,
			     size_t why_len)
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
	f = feat_get(s, "btf", "facility");
	feat_path(f, "/sys/kernel/btf/vmlinux");
	if (!path_exists("/sys/kernel/btf/vmlinux")) {
		snprintf(btf_why, why_len, "no /sys/kernel/btf/vmlinux: kernel built without "
					   "CONFIG_DEBUG_INFO_BTF");
		feat_fail(f, NULL, "%s", btf_why);
	} else if (!(*btfp = btf__load_vmlinux_btf())) {
		err = errno;
		snprintf(btf_why, why_len, "cannot parse /sys/kernel/btf/vmlinux: %s",
			 errstr(err));
		feat_fail(f, NULL, "%s", btf_why);
	} else {
		feat_ok(f);
	}

	if (bpf_denied[0]) {
		static const char *const need_bpf[] = { "perf_buffer", "bpf_stats", "test_run",
							NULL };
		const char *const *k;

		for (k = need_bpf; *k; k++)
			feat_fail(feat_get(s, *k, "facility"), NULL, "%s", bpf_denied);
		return;
	}

	/* perf_buffer needs the map and one BPF-output perf event per CPU */
	f = feat_get(s, "perf_buffer", "facility");
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERF_EVENT_ARRAY, NULL) <= 0) {
		feat_fail(f, "use a ring buffer", "perf_event_array maps not supported");
	} else {
		cpu = sched_getcpu();
		fd = syscall(SYS_perf_event_open, &pa, -1, cpu < 0 ? 0 : cpu, -1,
			     PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			err = errno;
			feat_fail(f, "use a ring buffer",
				  "perf_event_open (BPF output) refused: %s", errstr(err));
		} else {
			close(fd);
			feat_ok(f);
		}
	}

	f = feat_get(s, "bpf_stats", "facility");
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0) {
		err = errno;
		feat_fail(f, NULL, "BPF_ENABLE_STATS refused: %s", errstr(err));
	} else {
		close(fd);
		feat_ok(f);
	}

	f = feat_get(s, "test_run", "facility");
	fd = load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);
	if (fd < 0) {
		feat_fail(f, NULL, "socket_filter load refused: %s", errstr(fd));
	} else {
		err = bpf_prog_test_run_opts(fd, &topts) ? errno : 0;
		close(fd);
		if (err)
			feat_fail(f, NULL, "BPF_PROG_TEST_RUN refused: %s", errstr(err));
		else
			feat_ok(f);
	}
}

static void probe_all(void)
{
	struct feat_set *s = &cache;
	char tracefs[PATH_MAX], btf_why[160] = "";
	struct btf *btf = NULL;
	bool full = caps_full();
	struct feat *f;
	int fd;

	/* One load decides whether bpf(2) is usable at all: if not, every BPF kind says so in
	 * the same words instead of a wall of unexplained false. */
	f = feat_get(s, "bpf", "facility");
	fd = load_trivial(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, 0);
	if (fd == -EPERM || fd == -EACCES) {
		snprintf(bpf_denied, sizeof(bpf_denied),
			 "BPF not permitted: run as root or grant CAP_BPF+CAP_PERFMON (%s)",
			 errstr(fd));
		feat_fail(f, NULL, "%s", bpf_denied);
	} else if (fd == -ENOSYS) {
		snprintf(bpf_denied, sizeof(bpf_denied),
			 "BPF not available: kernel built without CONFIG_BPF_SYSCALL (%s)",
			 errstr(fd));
		feat_fail(f, NULL, "%s", bpf_denied);
	} else {
		if (fd >= 0)
			close(fd);
		feat_ok(f);
	}

	probe_prog_types(s, full);
	probe_map_types(s, full);
	probe_facilities(s, &btf, btf_why, sizeof(btf_why));
	probe_kprobes(s, find_mount("tracefs", "/sys/kernel/tracing", tracefs,
				    sizeof(tracefs)) ? tracefs : NULL);
	probe_tracing(s, btf, btf_why);
	probe_cgroup_link(s);
	btf__free(btf);
}

/* ---- facilities looked at on every call ---------------------------------------------------- */

static void probe_live(struct feat_set *s)
{
	char path[PATH_MAX], events[PATH_MAX + 32];
	bool tracefs;
	struct feat *f;

	s->n = 0;

	f = feat_get(s, "cgroup2", "facility");
	if (find_mount("cgroup2", NULL, path, sizeof(path))) {
		feat_ok(f);
		feat_path(f, path);
	} else {
		feat_fail(f, "mount -t cgroup2 none <dir>", "no cgroup2 mount in /proc/mounts");
	}

	f = feat_get(s, "bpffs", "facility");
	if (find_mount("bpf", "/sys/fs/bpf", path, sizeof(path))) {
		feat_ok(f);
		feat_path(f, path);
	} else {
		feat_fail(f, "pinning mounts it, or: mount -t bpf bpf /sys/fs/bpf",
			  "bpffs not mounted");
	}

	f = feat_get(s, "tracefs", "facility");
	tracefs = find_mount("tracefs", "/sys/kernel/tracing", path, sizeof(path));
	if (tracefs) {
		feat_ok(f);
		feat_path(f, path);
	} else {
		feat_fail(f, "mount -t tracefs tracefs /sys/kernel/tracing", "tracefs not mounted");
	}

	f = feat_get(s, "kprobe_events", "facility");
	snprintf(events, sizeof(events), "%s/kprobe_events", path);
	if (tracefs && path_exists(events)) {
		feat_ok(f);
		feat_path(f, events);
	} else if (!kprobe_pmu && !kernel_has_kprobes) {
		feat_fail(f, KPROBE_INSTEAD, "%s", NO_KPROBES);
	} else if (!kprobe_pmu) {
		feat_fail(f, KPROBE_INSTEAD, "%s", NO_KPROBE_EVENTS);
	} else if (!tracefs) {
		feat_fail(f, "kprobes still attach through the kprobe PMU",
			  "tracefs not mounted");
	} else {
		feat_fail(f, "kprobes still attach through the kprobe PMU",
			  "no kprobe_events in tracefs at %s", path);
	}
}

static void feat_push(lua_State *L, const struct feat *f)
{
	lua_createtable(L, 0, 4);
	lua_pushboolean(L, f->ok);
	lua_setfield(L, -2, "ok");
	lua_pushstring(L, f->what);
	lua_setfield(L, -2, "what");
	if (!f->ok && f->reason[0]) {
		lua_pushstring(L, f->reason);
		lua_setfield(L, -2, "reason");
	}
	if (!f->ok && f->instead[0]) {
		lua_pushstring(L, f->instead);
		lua_setfield(L, -2, "instead");
	}
	if (f->path[0]) {
		lua_pushstring(L, f->path);
		lua_setfield(L, -2, "path");
	}
	if (f->note[0]) {
		lua_pushstring(L, f->note);
		lua_setfield(L, -2, "note");
	}
}

/* sockhost.core.features() -> {[kind] = {ok =, what =, reason =, instead =, path =, note =}},
 * plus a second result: the one message when bpf(2) is not usable at all, else nil. */
static int l_features(lua_State *L)
{
	struct feat live_feats[LIVE_MAX];
	struct feat_set live_set = { .f = live_feats, .cap = LIVE_MAX }, *live = &live_set;
	struct feat tp;
	const struct feat *f;
	int i;

	pthread_once(&cache_once, probe_all);
	probe_live(live);

	lua_createtable(L, 0, cache.n + live->n);
	for (i = 0; i < cache.n; i++) {
		f = &cache.f[i];
		if (!strcmp(f->kind, "tracepoint") && f->ok && !feat_find(live, "tracefs")->ok) {
			/* libbpf reads the event id from <tracefs>/events/<cat>/<name>/id */
			tp = *f;
			snprintf(tp.note, sizeof(tp.note),
				 "attaching by category/name reads the event id from tracefs, "
				 "which is not mounted");
			f = &tp;
		}
		feat_push(L, f);
		lua_setfield(L, -2, f->kind);
	}
	for (i = 0; i < live->n; i++) {
		feat_push(L, &live->f[i]);
		lua_setfield(L, -2, live->f[i].kind);
	}
	if (bpf_denied[0])
		lua_pushstring(L, bpf_denied);
	else
		lua_pushnil(L);
	return 2;
}

const char *sh_feature_missing(const char *kind, char *buf, size_t len)
{
	struct feat live_feats[LIVE_MAX];
	struct feat_set live = { .f = live_feats, .cap = LIVE_MAX };
	const struct feat *f;

	if (!kind || !buf || !len)
		return NULL;
	pthread_once(&cache_once, probe_all);
	probe_live(&live);
	f = feat_find(&live, kind);
	if (!f)
		f = feat_find(&cache, kind);
	if (!f || f->ok)
		return NULL;
	if (f->instead[0])
		snprintf(buf, len, "%s: %s; %s", kind, f->reason, f->instead);
	else
		snprintf(buf, len, "%s: %s", kind, f->reason);
	return buf;
}

int sh_features_open(lua_State *L)
{
	lua_pushcfunction(L, l_features);
	lua_setfield(L, -2, "features");
	return 0;
}
