/* SPDX-License-Identifier: GPL-2.0 */
/*
 * features/table.h: the answers features/ gives, private to features/: one entry per kind
 * ("sock_ops", "ringbuf", "kprobe", "bpffs" ...), grouped by what must be probed together.
 * probes.c fills each group once per process, the first time something asks about one of its
 * kinds (pthread_once per group); features.c answers sockhost.features() and
 * sh_feature_missing() from the groups and the live facts it reads on every call.
 */
#ifndef SOCKHOST_FEATURES_TABLE_H
#define SOCKHOST_FEATURES_TABLE_H

#include <stdbool.h>

#define SH_ENOTSUPP 524 /* kernel-internal errno that leaks out of bpf(2) */

/* The words users see for the most common gap (spec/features_spec.lua checks them) */
#define NO_KPROBES	 "kernel built without CONFIG_KPROBES (no kprobe_events in tracefs)"
#define NO_KPROBE_EVENTS "kernel built without CONFIG_KPROBE_EVENTS (no kprobe_events in tracefs)"
#define KPROBE_INSTEAD	 "use a tracepoint or tp_btf"

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

/* The groups, in the order their answers are layered: a later group's entry for a kind
 * replaces an earlier one's ("kprobe" the program type, then "kprobe" the attach). */
enum sh_feat_group {
	SH_FG_BPF, /* may this process use bpf(2) at all */
	SH_FG_PROGS, /* every program type */
	SH_FG_MAPS, /* every map type */
	SH_FG_FACILITIES, /* btf, perf_buffer, bpf_stats, test_run */
	SH_FG_KPROBES, /* kprobe, kretprobe, uprobe, uretprobe as attach kinds */
	SH_FG_TRACING, /* tp_btf, fentry, fexit, lsm, tracing */
	SH_FG_CGLINK, /* cgroup_link */
	SH_FG_COUNT,
};

/* The group's answers, probed on first use. Never NULL. */
const struct feat_set *sh_feat_group(enum sh_feat_group g);
/* The group that answers for kind (SH_FG_COUNT when none does). */
enum sh_feat_group sh_feat_group_of(const char *kind);
/* Non-empty when this process may not use bpf(2) at all (probes SH_FG_BPF). */
const char *sh_feat_bpf_denied(void);
/* Kprobe facts the live kprobe_events entry needs (probes SH_FG_KPROBES). */
void sh_feat_kprobe_facts(bool *pmu, bool *has_kprobes);

const char *sh_feat_errstr(int err);
struct feat *sh_feat_get(struct feat_set *s, const char *kind, const char *what);
void sh_feat_ok(struct feat *f);
void sh_feat_fail(struct feat *f, const char *instead, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sh_feat_copy(struct feat *dst, const struct feat *src);
void sh_feat_path(struct feat *f, const char *path);
const struct feat *sh_feat_find(const struct feat_set *s, const char *kind);

#endif
