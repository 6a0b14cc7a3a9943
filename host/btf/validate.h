/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btf/validate.h: checking an object's BTF before anything in sockhost trusts it. libbpf
 * keeps its user-space copy of an object's BTF even when the kernel refuses it, and the codec,
 * the globals and the names code index memory with its offsets and sizes, so each is checked
 * once, when the object (or a pinned map's BTF) is opened.
 */
#ifndef SOCKHOST_BTF_VALIDATE_H
#define SOCKHOST_BTF_VALIDATE_H

#include <stddef.h>
#include <bpf/btf.h>

/* Nesting of structs, unions and arrays by value that sockhost follows; deeper is refused. */
#define SH_BTF_NEST_MAX 64

/*
 * 0 when every type of btf is safe to decode, name and walk; else -1 with err filled, naming
 * the type and what is wrong ("type [7] 'struct ev' member 'x': bits 64..96 lie beyond the
 * struct's 8 bytes"). Checked: every name offset inside the string section; every referenced
 * type id present; member offsets and sizes inside their struct or union; variable offsets
 * and sizes inside their section; array sizes without overflow; no cycle through modifiers or
 * typedefs, and no struct that contains itself by value (through members, anonymous members
 * or arrays); nesting no deeper than SH_BTF_NEST_MAX.
 */
int sh_btf_validate(const struct btf *btf, char *err, size_t len);

#endif
