/* SPDX-License-Identifier: GPL-2.0 */
/*
 * features/features.h: what the running kernel and this process can do, for C callers and
 * as sockhost.core.features(). Results are probed once per process, per group of kinds, on
 * first use (features/probes.c); mount-dependent facilities (bpffs, tracefs, cgroup2,
 * kprobe_events) are looked at again on every call. Includes only base.
 */
#ifndef SOCKHOST_FEATURES_FEATURES_H
#define SOCKHOST_FEATURES_FEATURES_H

#include <stddef.h>
#include <lua.h>

/* NULL when kind is present (or is not a kind features() knows), else buf filled with
 * "<kind>: <reason>[; <instead>]", e.g. "kprobe: kernel built without CONFIG_KPROBES (no
 * kprobe_events in tracefs); use a tracepoint or tp_btf", and buf returned. Attach code calls
 * it after a failed attach to turn a bare errno into the reason. Never raises; thread-safe. */
const char *sh_feature_missing(const char *kind, char *buf, size_t len);

int sh_features_open(lua_State *L); /* sockhost.features */

#endif
