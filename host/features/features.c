// SPDX-License-Identifier: GPL-2.0
/*
 * features/features.c: sockhost.core.features() — which program types, map types, attach
 * kinds and kernel facilities this kernel and this process really have — and
 * sh_feature_missing() for C callers (features/features.h). The BPF answers come from
 * features/probes.c, per group and on first use; mount-dependent facilities (bpffs, tracefs,
 * cgroup2, kprobe_events) are looked at again on every call, because sockhost itself may
 * mount bpffs later. Each features() call builds a fresh Lua table, so scripts cannot change
 * the cache.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/mounts.h"
#include "features/features.h"
#include "features/table.h"

#define LIVE_MAX 8

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* ---- facilities looked at on every call ---------------------------------------------------- */

/* The live facts; the kprobe_events entry only when want is NULL or names it (it probes the
 * kprobes group). */
static void probe_live(struct feat_set *s, const char *want)
{
	bool kprobe_pmu, kernel_has_kprobes;
	char path[PATH_MAX], events[PATH_MAX + 32];
	bool tracefs;
	struct feat *f;

	s->n = 0;

	f = sh_feat_get(s, "cgroup2", "facility");
	if (sh_mount_find("cgroup2", NULL, path, sizeof(path))) {
		sh_feat_ok(f);
		sh_feat_path(f, path);
	} else {
		sh_feat_fail(f, "mount -t cgroup2 none <dir>", "no cgroup2 mount in /proc/mounts");
	}

	f = sh_feat_get(s, "bpffs", "facility");
	if (sh_mount_find("bpf", "/sys/fs/bpf", path, sizeof(path))) {
		sh_feat_ok(f);
		sh_feat_path(f, path);
	} else {
		sh_feat_fail(f, "pinning mounts it, or: mount -t bpf bpf /sys/fs/bpf",
			     "bpffs not mounted");
	}

	f = sh_feat_get(s, "tracefs", "facility");
	tracefs = sh_mount_find("tracefs", "/sys/kernel/tracing", path, sizeof(path));
	if (tracefs) {
		sh_feat_ok(f);
		sh_feat_path(f, path);
	} else {
		sh_feat_fail(f, "mount -t tracefs tracefs /sys/kernel/tracing",
			     "tracefs not mounted");
	}

	if (want && strcmp(want, "kprobe_events"))
		return;
	sh_feat_kprobe_facts(&kprobe_pmu, &kernel_has_kprobes);
	f = sh_feat_get(s, "kprobe_events", "facility");
	snprintf(events, sizeof(events), "%s/kprobe_events", path);
	if (tracefs && path_exists(events)) {
		sh_feat_ok(f);
		sh_feat_path(f, events);
	} else if (!kprobe_pmu && !kernel_has_kprobes) {
		sh_feat_fail(f, KPROBE_INSTEAD, "%s", NO_KPROBES);
	} else if (!kprobe_pmu) {
		sh_feat_fail(f, KPROBE_INSTEAD, "%s", NO_KPROBE_EVENTS);
	} else if (!tracefs) {
		sh_feat_fail(f, "kprobes still attach through the kprobe PMU",
			     "tracefs not mounted");
	} else {
		sh_feat_fail(f, "kprobes still attach through the kprobe PMU",
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
	const struct feat_set *g;
	struct feat tp;
	const struct feat *f;
	int i;

	probe_live(live, NULL);
	lua_createtable(L, 0, 256);
	for (int k = 0; k < SH_FG_COUNT; k++)
		for (g = sh_feat_group(k), i = 0; i < g->n; i++) {
			f = &g->f[i];
			if (!strcmp(f->kind, "tracepoint") && f->ok &&
			    !sh_feat_find(live, "tracefs")->ok) {
				/* libbpf reads the event id from <tracefs>/events/<cat>/<name>/id */
				tp = *f;
				snprintf(
					tp.note, sizeof(tp.note),
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
	if (sh_feat_bpf_denied()[0])
		lua_pushstring(L, sh_feat_bpf_denied());
	else
		lua_pushnil(L);
	return 2;
}

const char *sh_feature_missing(const char *kind, char *buf, size_t len)
{
	struct feat live_feats[LIVE_MAX];
	struct feat_set live = { .f = live_feats, .cap = LIVE_MAX };
	const struct feat *f;
	enum sh_feat_group g;

	if (!kind || !buf || !len)
		return NULL;
	probe_live(&live, kind);
	f = sh_feat_find(&live, kind);
	g = sh_feat_group_of(kind);
	if (!f && g != SH_FG_COUNT)
		f = sh_feat_find(sh_feat_group(g), kind);
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
