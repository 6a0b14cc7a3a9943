/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btf/names.h: BTF types by name, names of BTF types, and THE peel (typedefs, qualifiers,
 * VARs) every BTF walk in sockhost goes through. Stateless; reads only the struct btf given.
 */
#ifndef SOCKHOST_BTF_NAMES_H
#define SOCKHOST_BTF_NAMES_H

#include <stddef.h>
#include <bpf/btf.h>

/* What sh_btf_peel skips. */
#define SH_PEEL_MODS	 0x1 /* const, volatile, restrict, type_tag */
#define SH_PEEL_TYPEDEFS 0x2
#define SH_PEEL_VARS	 0x4 /* a global's VAR -> its type */
#define SH_PEEL_ALL	 (SH_PEEL_MODS | SH_PEEL_TYPEDEFS | SH_PEEL_VARS)
/* Longest chain sh_btf_peel follows: deeper is a cycle or a corrupt BTF. */
#define SH_PEEL_MAX 64

/* Skip what `what` names, starting at *id; *id becomes the id of the type returned. NULL on
 * a broken chain (a missing id, or longer than SH_PEEL_MAX: a modifier cycle). */
const struct btf_type *sh_btf_peel(const struct btf *btf, __u32 *id, unsigned int what);
/* Resolve a type by name: "struct event", "event", "enum op", "__u32", "u64". Returns the
 * type id, or a negative errno. */
int sh_btf_find_type(const struct btf *btf, const char *name);
/* Human name of a type for messages ("struct event", "u32", "char[16]"). */
const char *sh_btf_type_name(const struct btf *btf, __u32 type_id, char *buf, size_t len);

#endif
