// SPDX-License-Identifier: GPL-2.0
/*
 * features/tracing.c: the kprobe and tracing groups: kprobe/kretprobe/uprobe/uretprobe as
 * attach kinds (the program type must load and the kernel must offer the perf PMU or
 * tracefs' <x>probe_events), and tp_btf/fentry/fexit/lsm against vmlinux BTF. An attach error
 * path that asks about kprobes probes only this.
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

static bool kprobe_pmu, uprobe_pmu, kernel_has_kprobes;

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

	kprobe_pmu = sh_feat_path_exists("/sys/bus/event_source/devices/kprobe/type");
	uprobe_pmu = sh_feat_path_exists("/sys/bus/event_source/devices/uprobe/type");
	snprintf(events, sizeof(events), "%s/kprobe_events", tracefs ? tracefs : "");
	kev = tracefs && sh_feat_path_exists(events);
	snprintf(events, sizeof(events), "%s/uprobe_events", tracefs ? tracefs : "");
	uev = tracefs && sh_feat_path_exists(events);
	if (!kprobe_pmu)
		kernel_has_kprobes = sh_feat_kallsyms_has("register_kprobe");
	/* the kprobe program type first: without it no kind below can work */
	memset(&prog_copy, 0, sizeof(prog_copy));
	sh_feat_probe_prog_type(&prog_copy, BPF_PROG_TYPE_KPROBE, "kprobe", sh_feat_caps_full());

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
	id = sh_feat_btf_first(btf, "btf_trace_", tps, BTF_KIND_TYPEDEF, &which);
	if (id)
		sh_feat_probe_btf_prog(tp, "tp_btf", "use a tracepoint or raw_tracepoint",
				       BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, true);
	else
		sh_feat_fail(tp, "use a tracepoint or raw_tracepoint",
			     "no btf_trace_sys_enter typedef in kernel BTF to probe with");

	fe_instead = tp->ok ? "use tp_btf or a tracepoint" : "use a tracepoint";
	id = sh_feat_btf_first(btf, "", funcs, BTF_KIND_FUNC, &which);
	if (id) {
		sh_feat_probe_btf_prog(fe, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
				       BPF_TRACE_FENTRY, id, true);
		sh_feat_probe_btf_prog(fx, "fentry/fexit", fe_instead, BPF_PROG_TYPE_TRACING,
				       BPF_TRACE_FEXIT, id, true);
	} else {
		sh_feat_fail(fe, fe_instead,
			     "no tcp_v4_connect function in kernel BTF to probe with");
		sh_feat_copy(fx, fe);
	}

	/* Load only: attaching an LSM program, even one that allows everything, would put
	 * sockhost into every security decision on a shared kernel. */
	id = sh_feat_btf_first(btf, "bpf_lsm_", lsms, BTF_KIND_FUNC, &which);
	if (!id)
		sh_feat_fail(lsm, NULL, "kernel built without CONFIG_BPF_LSM (no bpf_lsm_* hooks)");
	else if (sh_feat_lsm_active("bpf") == 0)
		sh_feat_fail(lsm, NULL, "BPF LSM not enabled (\"bpf\" missing from the lsm= list)");
	else
		sh_feat_probe_btf_prog(lsm, "lsm", NULL, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, id, false);

	/* "tracing" is the program type behind both */
	if (tp->ok || fe->ok)
		sh_feat_ok(tracing);
	else
		sh_feat_copy(tracing, fe);
}

void sh_feat_probe_kprobes(struct feat_set *s)
{
	char tracefs[PATH_MAX];

	probe_kprobes(s, sh_mount_find("tracefs", "/sys/kernel/tracing", tracefs, sizeof(tracefs)) ?
				 tracefs :
				 NULL);
}

void sh_feat_probe_tracing(struct feat_set *s)
{
	char why[160] = "";
	struct btf *btf = sh_feat_load_vmlinux(why, sizeof(why));

	probe_tracing(s, btf, why);
	btf__free(btf);
}

void sh_feat_kprobe_facts(bool *pmu, bool *has_kprobes)
{
	sh_feat_group(SH_FG_KPROBES);
	*pmu = kprobe_pmu;
	*has_kprobes = kernel_has_kprobes;
}
