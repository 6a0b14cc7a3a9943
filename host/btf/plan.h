/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btf/plan.h: the plan format of the BTF codec, private to btf/: plan.c builds plans from
 * BTF, values.c converts bytes <-> Lua values by walking them. The codec's API is
 * btf/codec.h; nothing outside btf/ reads struct sh_node.
 *
 * A plan is one malloc'd block holding
 *  - nodes[]: the type tree in preorder. A struct node is followed by its fields (each
 *    field's subtree, then the next field; node.next skips a whole subtree); an array node is
 *    followed by its one element node. Offsets are relative to the enclosing struct or array
 *    element, so an element subtree serves every element. Anonymous struct/union members are
 *    flattened into their parent with their offset added, which is how C code names them.
 *  - enums[]: enumerators of every enum node, per node sorted by value (first declared wins
 *    on duplicates) so decoding is a direct index (dense enums) or a binary search.
 *  - pool: field names, enumerator names and type names for messages, NUL-terminated and
 *    copied out of the BTF, so a plan never points into memory libbpf owns.
 *
 * Lifetime: a cache belongs to one struct btf and must be freed before it. Plans are owned by
 * the cache; a plan pointer is valid until sh_codec_cache_free. Plans never change once made,
 * so any number of maps and ring buffers may share one.
 */
#ifndef SOCKHOST_BTF_PLAN_H
#define SOCKHOST_BTF_PLAN_H

#include <lua.h>
#include <lauxlib.h>
#include "btf/codec.h"

/* Struct and array levels in one plan; deeper BTF is refused. Bounds the Lua stack use and
 * the field path kept while encoding. */
#define SH_MAX_DEPTH 32
/* Names listed in "unknown field"/"unknown enumerator" messages before "...". */
#define SH_LIST_MAX 40

enum sh_op {
	SH_OP_U8,
	SH_OP_U16,
	SH_OP_U32,
	SH_OP_U64,
	SH_OP_S8,
	SH_OP_S16,
	SH_OP_S32,
	SH_OP_S64,
	SH_OP_BITS, /* integer bitfield, or a BTF_KIND_INT with its own bit offset/size */
	SH_OP_BOOL,
	SH_OP_ENUM,
	SH_OP_F32,
	SH_OP_F64,
	SH_OP_CHARS, /* char array <-> string */
	SH_OP_ARRAY,
	SH_OP_STRUCT, /* also unions and datasecs */
};

#define SH_F_SIGNED  0x1
#define SH_F_LENIENT 0x2 /* enum without BTF signedness: accept signed and unsigned range */
#define SH_F_DENSE   0x4 /* enum values are enums[aux].value + i: index directly */
#define SH_F_UNION   0x8 /* struct node of a union: fields overlap */

struct sh_node {
	__u8 op;
	__u8 width; /* bytes loaded for a scalar: its size, or the window holding a bitfield */
	__u8 shift; /* bitfield: bit position inside the window */
	__u8 bits; /* bitfield: size in bits; 0 when the scalar fills width */
	__u8 flags;
	__u16 name_len;
	__u32 name; /* pool offset of the field name (struct members only) */
	__u32 tname; /* pool offset of the type name, for messages */
	__u32 off; /* byte offset inside the enclosing struct or array element */
	__u32 count; /* struct: fields; array, chars: elements; enum: enumerators */
	__u32 stride; /* array: element size; struct/union: its size */
	__u32 next; /* index of the node after this subtree */
	__u32 aux; /* enum: first entry in enums[] */
};

struct sh_enum_entry {
	__s64 value; /* in the node's domain: sign- or zero-extended like a decoded value */
	__u32 name;
	__u32 name_len;
};

struct sh_codec {
	struct sh_codec *next_owned; /* the cache's list of plans to free */
	size_t size;
	const struct sh_node *nodes;
	const struct sh_enum_entry *enums;
	const char *pool;
	int depth; /* struct/array nesting, for Lua stack checks and the encode path */
};

struct sh_codec_cache {
	const struct btf *btf;
	const struct sh_codec **by_id;
	__u32 nids;
	struct sh_codec *owned;
};

#endif
