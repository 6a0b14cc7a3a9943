// SPDX-License-Identifier: GPL-2.0
/*
 * btf/validate.c: sh_btf_validate (btf/validate.h). One pass over every type for what is
 * local to a type (names, ids, member and variable extents), then a depth-first walk of the
 * "contains by value" graph (struct/union -> member types, array -> element, typedef and
 * modifiers -> target; pointers end a path) with three colours, which finds both modifier
 * cycles and structs that contain themselves. Allocates one colour byte per type; frees it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "btf/validate.h"

struct check {
	const struct btf *btf;
	__u32 n; /* type count, ids 1..n-1 */
	__u8 *colour; /* 0 unseen, 1 on the walk's path, 2 done */
	char *err;
	size_t len;
	bool sizes_known; /* after the walk: no cycle left, so an unsized type overflows */
};

static int failf(struct check *c, __u32 id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failf(struct check *c, __u32 id, const char *fmt, ...)
{
	const struct btf_type *t = btf__type_by_id(c->btf, id);
	const char *name = t ? btf__name_by_offset(c->btf, t->name_off) : NULL;
	size_t used;
	va_list ap;

	snprintf(c->err, c->len, "type [%u] '%s': ", id, name && *name ? name : "(anon)");
	used = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + used, c->len > used ? c->len - used : 0, fmt, ap);
	va_end(ap);
	return -1;
}

static bool name_ok(struct check *c, __u32 off)
{
	return btf__name_by_offset(c->btf, off) != NULL;
}

static bool id_ok(struct check *c, __u32 id)
{
	return id == 0 || (id < c->n && btf__type_by_id(c->btf, id));
}

/* Bytes a type takes, or -1 (unsized: void, func_proto, a broken chain). */
static long long size_of(struct check *c, __u32 id)
{
	long long sz = btf__resolve_size(c->btf, id);

	return sz < 0 ? -1 : sz;
}

static int check_members(struct check *c, __u32 id, const struct btf_type *t)
{
	const struct btf_member *m = btf_members(t);
	__u64 limit = (__u64)t->size * 8, prev_end = 0;
	const char *prev = NULL;

	for (__u16 i = 0; i < btf_vlen(t); i++, m++) {
		const struct btf_type *mt;
		const char *mname;
		__u64 off = btf_member_bit_offset(t, i), bits = btf_member_bitfield_size(t, i);
		long long sz;

		if (!name_ok(c, m->name_off))
			return failf(c, id,
				     "member %u: name offset %u is outside the string section", i,
				     m->name_off);
		mname = btf__name_by_offset(c->btf, m->name_off);
		if (!id_ok(c, m->type) || !m->type)
			return failf(c, id, "member '%s': type id %u does not exist", mname,
				     m->type);
		mt = btf__type_by_id(c->btf, m->type);
		if (btf_is_datasec(mt) || btf_is_var(mt) || btf_is_func(mt))
			return failf(c, id, "member '%s': type %u is a %s, not a value", mname,
				     m->type,
				     btf_is_datasec(mt) ? "section" :
				     btf_is_var(mt)	? "variable" :
							  "function");
		sz = size_of(c, m->type);
		if (sz < 0)
			return failf(c, id, "member '%s': type %u has no size", mname, m->type);
		if (!bits)
			bits = (__u64)sz * 8;
		if (off + bits > limit)
			return failf(c, id,
				     "member '%s': bits %llu..%llu lie beyond the %s's %u bytes",
				     *mname ? mname : "(anon)", (unsigned long long)off,
				     (unsigned long long)(off + bits),
				     btf_is_union(t) ? "union" : "struct", t->size);
		/* struct members follow each other (clang emits them in order, bitfields
		 * packed); one that starts inside the one before it would make encoding write
		 * over it */
		if (c->sizes_known && !btf_is_union(t) && off < prev_end)
			return failf(c, id,
				     "member '%s': bits %llu..%llu overlap member '%s' before it",
				     *mname ? mname : "(anon)", (unsigned long long)off,
				     (unsigned long long)(off + bits),
				     prev && *prev ? prev : "(anon)");
		if (off + bits > prev_end) {
			prev_end = off + bits;
			prev = mname;
		}
	}
	return 0;
}

static int check_datasec(struct check *c, __u32 id, const struct btf_type *t)
{
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);

	for (__u16 i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *var;
		long long sz;

		if (!id_ok(c, vs->type) || !vs->type)
			return failf(c, id, "variable %u: type id %u does not exist", i, vs->type);
		var = btf__type_by_id(c->btf, vs->type);
		if (!name_ok(c, var->name_off))
			return failf(c, id,
				     "variable %u: name offset %u is outside the string section", i,
				     var->name_off);
		if ((__u64)vs->offset + vs->size > t->size)
			return failf(c, id,
				     "variable '%s': bytes %u..%llu lie beyond the section's %u",
				     btf__name_by_offset(c->btf, var->name_off), vs->offset,
				     (unsigned long long)vs->offset + vs->size, t->size);
		sz = size_of(c, vs->type);
		/* unsized: a cycle the walk names better, or an overflow said after the walk */
		if (sz < 0 && c->sizes_known)
			return failf(c, id,
				     "variable '%s': its type has no size (or one that overflows)",
				     btf__name_by_offset(c->btf, var->name_off));
		if (sz >= 0 && (unsigned long long)sz > vs->size)
			return failf(c, id, "variable '%s': its type takes %lld bytes, its slot %u",
				     btf__name_by_offset(c->btf, var->name_off), sz, vs->size);
	}
	return 0;
}

static int check_enum(struct check *c, __u32 id, const struct btf_type *t)
{
	__u16 n = btf_vlen(t);

	for (__u16 i = 0; i < n; i++) {
		__u32 off = btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off;

		if (!name_ok(c, off))
			return failf(c, id,
				     "enumerator %u: name offset %u is outside the string "
				     "section",
				     i, off);
	}
	return 0;
}

/* What is local to one type. */
static int check_type(struct check *c, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(c->btf, id);

	if (!t)
		return failf(c, id, "missing");
	if (!name_ok(c, t->name_off))
		return failf(c, id, "name offset %u is outside the string section", t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return check_members(c, id, t);
	case BTF_KIND_DATASEC:
		return check_datasec(c, id, t);
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		return check_enum(c, id, t);
	case BTF_KIND_INT:
		/* the codec reads an int's bits at their offset inside its size (the kernel's
		 * rules too); an int reaching past its bytes would read past the value */
		if (!btf_int_bits(t) || btf_int_bits(t) > 128)
			return failf(c, id, "an int of %u bits", btf_int_bits(t));
		if (t->size != 1 && t->size != 2 && t->size != 4 && t->size != 8 && t->size != 16)
			return failf(c, id, "an int of %u bytes (1, 2, 4, 8 or 16)", t->size);
		if ((__u64)btf_int_offset(t) + btf_int_bits(t) > (__u64)t->size * 8)
			return failf(c, id, "bits %u..%u lie beyond its %u bytes",
				     btf_int_offset(t), btf_int_offset(t) + btf_int_bits(t),
				     t->size);
		return 0;
	case BTF_KIND_ARRAY: {
		const struct btf_type *et;
		__u32 eid = btf_array(t)->type;

		if (!id_ok(c, eid) || !id_ok(c, btf_array(t)->index_type))
			return failf(c, id, "array element or index type does not exist");
		et = btf__type_by_id(c->btf, eid);
		if (et && (btf_is_datasec(et) || btf_is_var(et) || btf_is_func(et)))
			return failf(c, id, "an array of a %s",
				     btf_is_datasec(et) ? "section" :
				     btf_is_var(et)	? "variable" :
							  "function");
		/* decoding makes one Lua value per element: elements of no bytes would let a
		 * few bytes of BTF ask for millions of them */
		if (btf_array(t)->nelems > 1 && size_of(c, eid) == 0)
			return failf(c, id, "%u elements of 0 bytes", btf_array(t)->nelems);
		/* the codec strides elements by this size: it must exist and not overflow */
		if (size_of(c, id) < 0 && size_of(c, eid) >= 0)
			return failf(c, id, "%u elements of %lld bytes overflow",
				     btf_array(t)->nelems, size_of(c, eid));
		return 0;
	}
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
	case BTF_KIND_VAR: {
		const struct btf_type *to;

		if (!id_ok(c, t->type))
			return failf(c, id, "refers to type id %u, which does not exist", t->type);
		/* a value's type: never a variable, a section or a function */
		to = btf__type_by_id(c->btf, t->type);
		if (to && (btf_is_var(to) || btf_is_datasec(to) || btf_is_func(to)))
			return failf(c, id, "a %s of a %s",
				     btf_kind(t) == BTF_KIND_VAR ? "variable" :
				     btf_is_typedef(t)		 ? "typedef" :
								   "qualifier",
				     btf_is_var(to)	? "variable" :
				     btf_is_datasec(to) ? "section" :
							  "function");
		return 0;
	}
	case BTF_KIND_PTR:
	case BTF_KIND_FUNC:
	case BTF_KIND_DECL_TAG:
		if (!id_ok(c, t->type))
			return failf(c, id, "refers to type id %u, which does not exist", t->type);
		return 0;
	default:
		return 0;
	}
}

/* The value-containment walk from id; depth is the nesting so far. */
static int walk(struct check *c, __u32 id, int depth)
{
	const struct btf_type *t;
	int err = 0;

	if (!id || id >= c->n || c->colour[id] == 2)
		return 0;
	if (c->colour[id] == 1)
		return failf(c, id,
			     "contains itself (a cycle through its members, typedefs or "
			     "modifiers)");
	if (depth > SH_BTF_NEST_MAX)
		return failf(c, id, "nested deeper than %d levels", SH_BTF_NEST_MAX);
	t = btf__type_by_id(c->btf, id);
	c->colour[id] = 1;
	switch (btf_kind(t)) {
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION: {
		const struct btf_member *m = btf_members(t);

		for (__u16 i = 0; i < btf_vlen(t) && !err; i++, m++)
			err = walk(c, m->type, depth + 1);
		break;
	}
	case BTF_KIND_DATASEC: {
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);

		for (__u16 i = 0; i < btf_vlen(t) && !err; i++, vs++)
			err = walk(c, vs->type, depth + 1);
		break;
	}
	case BTF_KIND_ARRAY:
		err = walk(c, btf_array(t)->type, depth + 1);
		break;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
	case BTF_KIND_VAR:
		err = walk(c, t->type, depth + 1);
		break;
	default: /* pointers, functions, scalars: a path ends here */
		break;
	}
	c->colour[id] = 2;
	return err;
}

int sh_btf_validate(const struct btf *btf, char *err, size_t len)
{
	struct check c = { .btf = btf, .n = btf__type_cnt(btf), .err = err, .len = len };
	int rc = 0;

	if (len)
		err[0] = '\0';
	/*
	 * Every record is a multiple of 4 bytes, so the first one's address says whether all are
	 * aligned as struct btf_type must be: a header length or type offset that is not a
	 * multiple of 4 (which libbpf 1.1.2 accepts) would have every read below misaligned.
	 */
	if (c.n > 1 && ((uintptr_t)btf__type_by_id(btf, 1) & (__alignof__(struct btf_type) - 1))) {
		snprintf(err, len,
			 "BTF type section is not 4-byte aligned (header length plus type offset "
			 "must be a multiple of 4)");
		return -1;
	}
	for (__u32 id = 1; id < c.n && !rc; id++)
		rc = check_type(&c, id);
	if (rc)
		return rc;
	c.colour = calloc(c.n ? c.n : 1, 1);
	if (!c.colour) {
		snprintf(err, len, "out of memory checking BTF");
		return -1;
	}
	for (__u32 id = 1; id < c.n && !rc; id++)
		rc = walk(&c, id, 0);
	free(c.colour);
	c.sizes_known = true;
	/* what a cycle would have made fail first: unsized variables, overlapping members */
	for (__u32 id = 1; id < c.n && !rc; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (btf_is_datasec(t))
			rc = check_datasec(&c, id, t);
		else if (btf_is_struct(t))
			rc = check_members(&c, id, t);
	}
	return rc;
}
