// SPDX-License-Identifier: GPL-2.0
/*
 * features/kernel.c: the probing primitives every group uses (features/probe.h): a
 * two-instruction program of any type, why the kernel refused one, a BTF-typed program loaded
 * and attached for a moment, the running kernel's BTF, kallsyms, the LSM list and this
 * process's capabilities. Each call releases everything it made before it returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Load "r0 = ret; exit" with opts. Returns an fd or -errno. */
int sh_feat_load_opts(enum bpf_prog_type type, int ret, struct bpf_prog_load_opts *opts)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd;

	fd = bpf_prog_load(type, "sh_probe", "GPL", insns, 2, opts);
	return fd < 0 ? -errno : fd;
}

int sh_feat_load_trivial(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id, int ret)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = eat, .attach_btf_id = btf_id);

	return sh_feat_load_opts(type, ret, &opts);
}

/* libbpf_probe_bpf_prog_type() answers only yes or no: redo its load (same attach types) to
 * learn why the kernel said no. Returns a positive errno, 0 if it loads after all. */
int sh_feat_prog_type_errno(enum bpf_prog_type t)
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
	fd = sh_feat_load_opts(t, 0, &opts);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return -fd;
}

/* First of names that is a kind in vmlinux BTF (prefix is prepended), 0 when none. */
__u32 sh_feat_btf_first(const struct btf *btf, const char *prefix, const char *const *names,
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
void sh_feat_probe_btf_prog(struct feat *f, const char *label, const char *instead,
			    enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id,
			    bool attach)
{
	int fd, lfd;

	fd = sh_feat_load_trivial(type, eat, btf_id, 0);
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

bool sh_feat_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Is sym a symbol in /proc/kallsyms? Names are readable even when addresses are hidden. */
bool sh_feat_kallsyms_has(const char *sym)
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
int sh_feat_lsm_active(const char *name)
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
bool sh_feat_caps_full(void)
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

/* The running kernel's BTF, from sysfs first so libbpf never falls back to searching vmlinux
 * files (and warning when it finds none); NULL with why filled. */
struct btf *sh_feat_load_vmlinux(char *why, size_t len)
{
	struct btf *btf;

	if (!sh_feat_path_exists("/sys/kernel/btf/vmlinux")) {
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

/* One program type into f. */
void sh_feat_probe_prog_type(struct feat *f, enum bpf_prog_type t, const char *name, bool full)
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
	err = sh_feat_prog_type_errno(t);
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
