/* SPDX-License-Identifier: GPL-2.0 */
/*
 * features/probe.h: the probing primitives (kernel.c) and the groups probed outside
 * probes.c (tracing.c), private to features/.
 */
#ifndef SOCKHOST_FEATURES_PROBE_H
#define SOCKHOST_FEATURES_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "features/table.h"

/* Load "r0 = ret; exit" with opts, or with an expected attach type and BTF id: an fd or
 * -errno. */
int sh_feat_load_opts(enum bpf_prog_type type, int ret, struct bpf_prog_load_opts *opts);
int sh_feat_load_trivial(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id, int ret);
/* Why the kernel refuses a minimal program of type t: a positive errno, 0 if it loads. */
int sh_feat_prog_type_errno(enum bpf_prog_type t);
/* One program type's answer into f. */
void sh_feat_probe_prog_type(struct feat *f, enum bpf_prog_type t, const char *name, bool full);
/* First of names (with prefix) that is a kind in btf: its id (which named), 0 when none. */
__u32 sh_feat_btf_first(const struct btf *btf, const char *prefix, const char *const *names,
			__u32 kind, const char **which);
/* Load (and, with attach, attach for a moment) a TRACING/LSM program against btf_id. */
void sh_feat_probe_btf_prog(struct feat *f, const char *label, const char *instead,
			    enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id,
			    bool attach);
bool sh_feat_path_exists(const char *path);
bool sh_feat_kallsyms_has(const char *sym);
/* Does /sys/kernel/security/lsm list name? -1 when it cannot be read. */
int sh_feat_lsm_active(const char *name);
/* Every program type allowed (CAP_SYS_ADMIN, or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN)? */
bool sh_feat_caps_full(void);
/* The running kernel's BTF from sysfs; NULL with why filled. */
struct btf *sh_feat_load_vmlinux(char *why, size_t len);

/* The groups tracing.c fills. */
void sh_feat_probe_kprobes(struct feat_set *s);
void sh_feat_probe_tracing(struct feat_set *s);

#endif
