// SPDX-License-Identifier: GPL-2.0
/*
 * codec.c: turns a BTF type into an immutable flat plan once, then converts bytes to Lua
 * values (sh_codec_push) and Lua values to bytes (sh_codec_encode) by walking that plan with
 * no BTF lookups, no allocation beyond the Lua values themselves and no string formatting
 * unless an error is being raised. Ring-buffer records go through sh_codec_push at millions
 * per second, so everything a record needs is precomputed here.
 *
 * Plan layout: one malloc'd block per plan holding
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
 *
 * sh_codec_encode zeroes its output before it looks at the Lua value and may raise half way:
 * callers encode into scratch memory and copy on success, never straight into live data
 * (an mmaped .data section, say).
 *
 * Bytes are read and written in host order; sh_codec_get refuses BTF of the other byte order
 * and big-endian hosts (bitfield positions here are computed for little-endian).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

#define SH_F_SIGNED 0x1
#define SH_F_LENIENT 0x2 /* enum without BTF signedness: accept signed and unsigned range */
#define SH_F_DENSE 0x4   /* enum values are enums[aux].value + i: index directly */

struct sh_node {
	__u8 op;
	__u8 width; /* bytes loaded for a scalar: its size, or the window holding a bitfield */
	__u8 shift; /* bitfield: bit position inside the window */
	__u8 bits;  /* bitfield: size in bits; 0 when the scalar fills width */
	__u8 flags;
	__u16 name_len;
	__u32 name;   /* pool offset of the field name (struct members only) */
	__u32 tname;  /* pool offset of the type name, for messages */
	__u32 off;    /* byte offset inside the enclosing struct or array element */
	__u32 count;  /* struct: fields; array, chars: elements; enum: enumerators */
	__u32 stride; /* array: element size */
	__u32 next;   /* index of the node after this subtree */
	__u32 aux;    /* enum: first entry in enums[] */
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

/* ---- building a plan --------------------------------------------------------------------- */

struct builder {
	const struct btf *btf;
	struct sh_node *nodes;
	__u32 nnodes, ncap;
	struct sh_enum_entry *enums;
	__u32 nenums, ecap;
	char *pool;
	size_t plen, pcap;
	int depth, max_depth;
	char *err;
	size_t errlen;
	char root[128]; /* type name of the plan, for build errors */
	char path[256]; /* field path being built, for build errors */
	size_t pathlen;
};

static const char *const kind_names[] = {
	[BTF_KIND_UNKN] = "void", [BTF_KIND_INT] = "int", [BTF_KIND_PTR] = "ptr",
	[BTF_KIND_ARRAY] = "array", [BTF_KIND_STRUCT] = "struct", [BTF_KIND_UNION] = "union",
	[BTF_KIND_ENUM] = "enum", [BTF_KIND_FWD] = "fwd", [BTF_KIND_TYPEDEF] = "typedef",
	[BTF_KIND_VOLATILE] = "volatile", [BTF_KIND_CONST] = "const",
	[BTF_KIND_RESTRICT] = "restrict", [BTF_KIND_FUNC] = "func",
	[BTF_KIND_FUNC_PROTO] = "func_proto", [BTF_KIND_VAR] = "var",
	[BTF_KIND_DATASEC] = "datasec", [BTF_KIND_FLOAT] = "float",
	[BTF_KIND_DECL_TAG] = "decl_tag", [BTF_KIND_TYPE_TAG] = "type_tag",
	[BTF_KIND_ENUM64] = "enum64",
};

static const char *kind_name(const struct btf_type *t)
{
	__u16 k = btf_kind(t);

	return k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "unknown";
}

/* Fill the caller's err with "<msg> in '<type>'[ field '<path>']"; returns -err. */
static int fail(struct builder *b, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct builder *b, int err, const char *fmt, ...)
{
	size_t len = b->errlen;
	char *out = b->err;
	va_list ap;
	int n;

	if (!out || !len)
		return -err;
	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return -err;
	if (b->pathlen)
		snprintf(out + n, len - n, " in '%s' field '%s'", b->root, b->path);
	else
		snprintf(out + n, len - n, " in '%s'", b->root);
	return -err;
}

static void path_push(struct builder *b, const char *s, size_t *saved)
{
	*saved = b->pathlen;
	snprintf(b->path + b->pathlen, sizeof(b->path) - b->pathlen, "%s%s",
		 b->pathlen && s[0] != '[' ? "." : "", s);
	b->pathlen = strlen(b->path);
}

static void path_pop(struct builder *b, size_t saved)
{
	b->pathlen = saved;
	b->path[saved] = '\0';
}

static void *grow(void *p, __u32 *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;

	while (ncap < need)
		ncap *= 2;
	p = realloc(p, ncap * elem);
	if (p)
		*cap = ncap;
	return p;
}

static int add_node(struct builder *b)
{
	if (b->nnodes == b->ncap) {
		struct sh_node *n = grow(b->nodes, &b->ncap, b->nnodes + 1, sizeof(*n));

		if (!n)
			return fail(b, ENOMEM, "out of memory");
		b->nodes = n;
	}
	memset(&b->nodes[b->nnodes], 0, sizeof(b->nodes[0]));
	return b->nnodes++;
}

/* Copy s into the pool; returns its offset or -ENOMEM. */
static long pool_add(struct builder *b, const char *s, size_t len)
{
	long off;

	if (b->plen + len + 1 > b->pcap) {
		size_t ncap = b->pcap ? b->pcap : 256;
		char *p;

		while (ncap < b->plen + len + 1)
			ncap *= 2;
		p = realloc(b->pool, ncap);
		if (!p)
			return fail(b, ENOMEM, "out of memory");
		b->pool = p;
		b->pcap = ncap;
	}
	memcpy(b->pool + b->plen, s, len);
	b->pool[b->plen + len] = '\0';
	off = (long)b->plen;
	b->plen += len + 1;
	return off;
}

static long pool_type_name(struct builder *b, __u32 id)
{
	char buf[128];

	sh_btf_type_name(b->btf, id, buf, sizeof(buf));
	return pool_add(b, buf, strlen(buf));
}

/* Skip typedefs, qualifiers and VARs (a global's type). NULL t on a broken chain. */
static __u32 peel(const struct btf *btf, __u32 id, const struct btf_type **tp)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	int i;

	for (i = 0; t && i < 64 && (btf_is_typedef(t) || btf_is_mod(t) || btf_is_var(t)); i++) {
		id = t->type;
		t = btf__type_by_id(btf, id);
	}
	*tp = t && (btf_is_typedef(t) || btf_is_mod(t) || btf_is_var(t)) ? NULL : t;
	return id;
}

static int build(struct builder *b, __u32 id, __u32 bitoff, __u32 bitsz, const char *name);

static int cmp_entry(const void *a, const void *b)
{
	const struct sh_enum_entry *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name; /* pool order = declaration order */
}

/* Enumerators of t into enums[], in the value domain the node decodes to. */
static int build_enum(struct builder *b, int idx, const struct btf_type *t)
{
	__u32 i, n = btf_vlen(t), first = b->nenums;
	bool is_signed = btf_kflag(t), lenient = false;
	struct sh_enum_entry *e;

	if (btf_is_enum(t) && !is_signed) {
		/* Before kflag carried signedness (clang < 15), an ENUM has no sign: read it as
		 * signed when an enumerator is negative, as C gives such an enum an int type,
		 * and accept either range on input. */
		lenient = true;
		for (i = 0; i < n; i++)
			if (btf_enum(t)[i].val < 0)
				is_signed = true;
	}
	if (b->nenums + n > b->ecap) {
		e = grow(b->enums, &b->ecap, b->nenums + n, sizeof(*e));
		if (!e)
			return fail(b, ENOMEM, "out of memory");
		b->enums = e;
	}
	for (i = 0; i < n; i++) {
		const struct btf_enum *e32 = btf_enum(t) + i;
		__u32 name_off = btf_is_enum(t) ? e32->name_off : btf_enum64(t)[i].name_off;
		const char *s = btf__name_by_offset(b->btf, name_off);
		__s64 v;
		long off;

		if (!btf_is_enum(t))
			v = (__s64)btf_enum64_value(btf_enum64(t) + i);
		else
			v = is_signed ? (__s64)e32->val : (__s64)(__u32)e32->val;
		off = pool_add(b, s ? s : "", s ? strlen(s) : 0);
		if (off < 0)
			return (int)off;
		e = &b->enums[b->nenums++];
		e->value = v;
		e->name = (__u32)off;
		e->name_len = s ? strlen(s) : 0;
	}
	e = b->enums + first;
	qsort(e, n, sizeof(*e), cmp_entry);
	b->nodes[idx].flags |= SH_F_DENSE;
	for (i = 1; i < n; i++)
		if ((__u64)e[i].value - (__u64)e[0].value != i)
			b->nodes[idx].flags &= ~SH_F_DENSE;
	b->nodes[idx].op = SH_OP_ENUM;
	b->nodes[idx].aux = first;
	b->nodes[idx].count = n;
	b->nodes[idx].flags |= (is_signed ? SH_F_SIGNED : 0) | (lenient ? SH_F_LENIENT : 0);
	return 0;
}

/* Fields of struct/union t at bit offset base; anonymous composites are flattened. */
static int add_members(struct builder *b, const struct btf_type *t, __u32 base, __u32 *count)
{
	const struct btf_member *m = btf_members(t);
	__u32 i;
	int err;

	for (i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(b->btf, m->name_off);
		__u32 bitoff = base + btf_member_bit_offset(t, i);
		__u32 bitsz = btf_member_bitfield_size(t, i);
		const struct btf_type *mt;
		size_t saved;

		peel(b->btf, m->type, &mt);
		if (!mt)
			return fail(b, EINVAL, "broken BTF type chain at id %u", m->type);
		if (!name || !*name) {
			if (!bitsz && btf_is_composite(mt)) {
				err = add_members(b, mt, bitoff, count);
				if (err)
					return err;
			}
			continue; /* else an unnamed bitfield: padding */
		}
		path_push(b, name, &saved);
		err = build(b, m->type, bitoff, bitsz, name);
		path_pop(b, saved);
		if (err < 0)
			return err;
		(*count)++;
	}
	return 0;
}

static int add_vars(struct builder *b, const struct btf_type *t, __u32 *count)
{
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);
	__u32 i;
	int err;

	for (i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *vt = btf__type_by_id(b->btf, vs->type);
		const char *name;
		size_t saved;

		if (!vt || !btf_is_var(vt))
			continue; /* functions in .ksyms */
		name = btf__name_by_offset(b->btf, vt->name_off);
		path_push(b, name, &saved);
		err = build(b, vs->type, vs->offset * 8, 0, name);
		path_pop(b, saved);
		if (err < 0)
			return err;
		(*count)++;
	}
	return 0;
}

static int build_composite(struct builder *b, int idx, const struct btf_type *t)
{
	__u32 count = 0;
	int err;

	if (++b->depth > SH_MAX_DEPTH)
		return fail(b, EINVAL, "nesting deeper than %d levels", SH_MAX_DEPTH);
	if (b->depth > b->max_depth)
		b->max_depth = b->depth;
	b->nodes[idx].op = SH_OP_STRUCT;
	err = btf_is_datasec(t) ? add_vars(b, t, &count) : add_members(b, t, 0, &count);
	b->nodes[idx].count = count;
	b->depth--;
	return err;
}

static bool is_char(const struct btf *btf, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const char *name;

	while (t && btf_is_mod(t)) /* but not typedefs: u8/__u8 arrays hold binary data */
		t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_int(t) || t->size != 1 || btf_int_bits(t) != 8 || btf_int_offset(t))
		return false;
	name = btf__name_by_offset(btf, t->name_off);
	return name && (!strcmp(name, "char") || !strcmp(name, "signed char") ||
			!strcmp(name, "unsigned char"));
}

static int build_array(struct builder *b, int idx, const struct btf_type *t)
{
	const struct btf_array *a = btf_array(t);
	__s64 stride;
	size_t saved;
	int err;

	b->nodes[idx].count = a->nelems;
	if (is_char(b->btf, a->type)) {
		/* char/signed char/unsigned char arrays are C strings; typedef'd byte arrays
		 * (u8 mac[6], __u8 addr[16]) stay sequences so no byte is lost at a NUL. */
		b->nodes[idx].op = SH_OP_CHARS;
		return 0;
	}
	if (++b->depth > SH_MAX_DEPTH)
		return fail(b, EINVAL, "nesting deeper than %d levels", SH_MAX_DEPTH);
	if (b->depth > b->max_depth)
		b->max_depth = b->depth;
	b->nodes[idx].op = SH_OP_ARRAY;
	path_push(b, "[]", &saved);
	err = build(b, a->type, 0, 0, NULL);
	stride = err < 0 ? 0 : btf__resolve_size(b->btf, a->type);
	if (stride < 0)
		err = fail(b, EINVAL, "cannot size the element type");
	path_pop(b, saved);
	b->depth--;
	b->nodes[idx].stride = (__u32)stride;
	return err < 0 ? err : 0;
}

static int build_int(struct builder *b, int idx, const struct btf_type *t, __u32 bitsz)
{
	struct sh_node *n = &b->nodes[idx];
	bool is_signed = btf_int_encoding(t) & BTF_INT_SIGNED;
	static const __u8 ops[2][9] = {
		[0] = {[1] = SH_OP_U8, [2] = SH_OP_U16, [4] = SH_OP_U32, [8] = SH_OP_U64},
		[1] = {[1] = SH_OP_S8, [2] = SH_OP_S16, [4] = SH_OP_S32, [8] = SH_OP_S64},
	};

	if (is_signed)
		n->flags |= SH_F_SIGNED;
	if (btf_int_encoding(t) & BTF_INT_BOOL) {
		n->op = SH_OP_BOOL;
		return 0;
	}
	if (bitsz) {
		n->op = SH_OP_BITS;
		return 0;
	}
	if (t->size != 1 && t->size != 2 && t->size != 4 && t->size != 8)
		return fail(b, EINVAL, "unsupported %u-byte integer", t->size);
	n->op = ops[is_signed][t->size];
	return 0;
}

/*
 * One node for type id at bitoff (bits from the start of the enclosing struct or element),
 * bitsz > 0 for a bitfield. name is the struct member name or NULL. Returns the node index.
 */
static int build(struct builder *b, __u32 id, __u32 bitoff, __u32 bitsz, const char *name)
{
	const struct btf_type *t;
	struct sh_node *n;
	long tname, nm = 0;
	int idx, err = 0;
	char buf[64];

	id = peel(b->btf, id, &t);
	if (!t)
		return fail(b, EINVAL, "broken BTF type chain at id %u", id);
	if (!bitsz && btf_is_int(t) && (btf_int_offset(t) || btf_int_bits(t) != t->size * 8)) {
		/* Old-style bitfield: the INT itself carries bit offset and size. */
		bitoff += btf_int_offset(t);
		bitsz = btf_int_bits(t);
	}
	if (bitsz && !btf_is_int(t) && !btf_is_any_enum(t))
		return fail(b, EINVAL, "unsupported bitfield of BTF kind %s", kind_name(t));
	if (bitsz > 64 || (bitsz && bitoff % 8 + bitsz > 64))
		return fail(b, EINVAL, "unsupported %u-bit bitfield at bit %u", bitsz, bitoff % 8);
	if (!bitsz && bitoff % 8)
		return fail(b, EINVAL, "member not byte aligned (bit offset %u)", bitoff);
	if (bitsz && btf_is_int(t) && !(btf_int_encoding(t) & BTF_INT_BOOL)) {
		snprintf(buf, sizeof(buf), "%s %u-bit bitfield",
			 btf_int_encoding(t) & BTF_INT_SIGNED ? "signed" : "unsigned", bitsz);
		tname = pool_add(b, buf, strlen(buf));
	} else {
		tname = pool_type_name(b, id);
	}
	if (tname < 0)
		return (int)tname;
	if (name) {
		nm = pool_add(b, name, strlen(name));
		if (nm < 0)
			return (int)nm;
	}
	idx = add_node(b);
	if (idx < 0)
		return idx;
	n = &b->nodes[idx];
	n->off = bitoff / 8;
	n->name = (__u32)nm;
	n->name_len = name ? (__u16)strlen(name) : 0;
	n->tname = (__u32)tname;
	if (bitsz) {
		n->shift = bitoff % 8;
		n->bits = bitsz;
		n->width = (n->shift + bitsz + 7) / 8;
	} else {
		n->width = t->size <= 8 ? t->size : 0;
	}

	switch (btf_kind(t)) {
	case BTF_KIND_INT:
		err = build_int(b, idx, t, bitsz);
		break;
	case BTF_KIND_PTR:
		n->width = btf__pointer_size(b->btf) == 4 ? 4 : 8;
		n->op = n->width == 4 ? SH_OP_U32 : SH_OP_U64;
		break;
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		if (t->size > 8 || !t->size)
			return fail(b, EINVAL, "unsupported %u-byte enum", t->size);
		err = build_enum(b, idx, t);
		break;
	case BTF_KIND_FLOAT:
		if (t->size != 4 && t->size != 8)
			return fail(b, EINVAL, "unsupported %u-byte float", t->size);
		n->op = t->size == 4 ? SH_OP_F32 : SH_OP_F64;
		break;
	case BTF_KIND_ARRAY:
		err = build_array(b, idx, t);
		break;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_DATASEC:
		err = build_composite(b, idx, t);
		break;
	default:
		return fail(b, EINVAL, "unsupported BTF kind %s", kind_name(t));
	}
	if (err < 0)
		return err;
	b->nodes[idx].next = b->nnodes;
	return idx;
}

/* Move the builder's arrays into one block: header, enums, nodes, pool. */
static struct sh_codec *finish(struct builder *b, size_t size)
{
	size_t eoff = (sizeof(struct sh_codec) + 7) & ~(size_t)7;
	size_t noff = eoff + b->nenums * sizeof(struct sh_enum_entry);
	size_t poff = noff + b->nnodes * sizeof(struct sh_node);
	struct sh_codec *c = malloc(poff + b->plen + 1);
	char *base = (char *)c;

	if (!c)
		return NULL;
	c->next_owned = NULL;
	c->size = size;
	c->depth = b->max_depth;
	if (b->nenums)
		memcpy(base + eoff, b->enums, b->nenums * sizeof(struct sh_enum_entry));
	memcpy(base + noff, b->nodes, b->nnodes * sizeof(struct sh_node));
	if (b->plen)
		memcpy(base + poff, b->pool, b->plen);
	base[poff + b->plen] = '\0';
	c->enums = (const struct sh_enum_entry *)(base + eoff);
	c->nodes = (const struct sh_node *)(base + noff);
	c->pool = base + poff;
	return c;
}

struct sh_codec_cache *sh_codec_cache_new(const struct btf *btf)
{
	struct sh_codec_cache *cache;

	if (!btf) {
		errno = EINVAL;
		return NULL;
	}
	cache = calloc(1, sizeof(*cache));
	if (!cache) {
		errno = ENOMEM;
		return NULL;
	}
	cache->btf = btf;
	return cache;
}

void sh_codec_cache_free(struct sh_codec_cache *cache)
{
	struct sh_codec *c, *next;

	if (!cache)
		return;
	for (c = cache->owned; c; c = next) {
		next = c->next_owned;
		free(c);
	}
	free(cache->by_id);
	free(cache);
}

static const struct sh_codec *get_failed(char *err, size_t errlen, int e, const char *msg,
					 __u32 id)
{
	if (err && errlen)
		snprintf(err, errlen, msg, id);
	errno = e;
	return NULL;
}

const struct sh_codec *sh_codec_get(struct sh_codec_cache *cache, __u32 type_id, char *err,
				    size_t errlen)
{
	struct builder b = { .err = err, .errlen = errlen };
	const struct btf_type *t;
	struct sh_codec *c;
	__u32 peeled, cnt;
	__s64 size;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (type_id < cache->nids && cache->by_id[type_id])
		return cache->by_id[type_id];
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ ||
	    btf__endianness(cache->btf) != BTF_LITTLE_ENDIAN)
		return get_failed(err, errlen, ENOTSUP,
				  "BTF codec handles little-endian data and hosts only", 0);
	cnt = btf__type_cnt(cache->btf);
	if (type_id >= cnt)
		return get_failed(err, errlen, ENOENT, "no BTF type with id %u", type_id);
	if (cache->nids < cnt) {
		const struct sh_codec **p = realloc(cache->by_id, cnt * sizeof(*p));

		if (!p)
			return get_failed(err, errlen, ENOMEM, "out of memory", 0);
		memset(p + cache->nids, 0, (cnt - cache->nids) * sizeof(*p));
		cache->by_id = p;
		cache->nids = cnt;
	}
	peeled = peel(cache->btf, type_id, &t);
	if (t && cache->by_id[peeled])
		return cache->by_id[type_id] = cache->by_id[peeled];

	b.btf = cache->btf;
	sh_btf_type_name(b.btf, type_id, b.root, sizeof(b.root));
	ret = build(&b, type_id, 0, 0, NULL);
	size = ret < 0 ? -1 : btf__resolve_size(b.btf, type_id);
	if (ret >= 0 && size < 0)
		ret = fail(&b, EINVAL, "cannot size type");
	c = ret < 0 ? NULL : finish(&b, (size_t)size);
	if (ret >= 0 && !c)
		ret = fail(&b, ENOMEM, "out of memory");
	free(b.nodes);
	free(b.enums);
	free(b.pool);
	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	c->next_owned = cache->owned;
	cache->owned = c;
	cache->by_id[peeled] = c;
	cache->by_id[type_id] = c;
	return c;
}

size_t sh_codec_size(const struct sh_codec *c)
{
	return c->size;
}

/* ---- bytes -> Lua ------------------------------------------------------------------------ */

/* A scalar of any width or a bitfield, sign- or zero-extended to 64 bits. */
static inline __s64 load_scalar(const struct sh_node *n, const char *p)
{
	unsigned int bits = n->bits ? n->bits : n->width * 8u;
	__u64 v = 0;

	memcpy(&v, p, n->width);
	v >>= n->shift;
	if (bits >= 64)
		return (__s64)v;
	if (n->flags & SH_F_SIGNED)
		return (__s64)(v << (64 - bits)) >> (64 - bits);
	return (__s64)(v & ((1ull << bits) - 1));
}

static const struct sh_enum_entry *enum_find(const struct sh_codec *c, const struct sh_node *n,
					     __s64 v)
{
	const struct sh_enum_entry *e = c->enums + n->aux;
	__u32 lo = 0, hi = n->count;

	if (!hi)
		return NULL;
	if (n->flags & SH_F_DENSE) {
		__u64 i = (__u64)v - (__u64)e[0].value;

		return i < n->count ? e + i : NULL;
	}
	while (lo < hi) { /* first entry >= v */
		__u32 mid = lo + (hi - lo) / 2;

		if (e[mid].value < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->count && e[lo].value == v ? e + lo : NULL;
}

/* memcpy: fields of packed structs and ring-buffer records need not be aligned. */
#define PUSH_AS(op, type, push)                                                                    \
	case op: {                                                                                 \
		type v;                                                                            \
		memcpy(&v, p, sizeof(v));                                                          \
		push(L, v);                                                                        \
		return;                                                                            \
	}

static void push_node(lua_State *L, const struct sh_codec *c, const struct sh_node *n,
		      const char *p)
{
	const struct sh_enum_entry *e;
	const struct sh_node *f;
	__u32 i;

	switch (n->op) {
	PUSH_AS(SH_OP_U8, __u8, lua_pushinteger)
	PUSH_AS(SH_OP_U16, __u16, lua_pushinteger)
	PUSH_AS(SH_OP_U32, __u32, lua_pushinteger)
	/* Lua integers are signed 64-bit: a u64 >= 2^63 comes out as the same 64 bits, i.e.
	 * negative (math.ult and string.format("%x") give the unsigned view back), and
	 * sh_codec_encode takes such negative integers for u64 fields. */
	PUSH_AS(SH_OP_U64, __u64, lua_pushinteger)
	PUSH_AS(SH_OP_S8, __s8, lua_pushinteger)
	PUSH_AS(SH_OP_S16, __s16, lua_pushinteger)
	PUSH_AS(SH_OP_S32, __s32, lua_pushinteger)
	PUSH_AS(SH_OP_S64, __s64, lua_pushinteger)
	PUSH_AS(SH_OP_F32, float, lua_pushnumber)
	PUSH_AS(SH_OP_F64, double, lua_pushnumber)
	case SH_OP_BITS:
		lua_pushinteger(L, load_scalar(n, p));
		return;
	case SH_OP_BOOL:
		lua_pushboolean(L, load_scalar(n, p) != 0);
		return;
	case SH_OP_ENUM: {
		__s64 v = load_scalar(n, p);

		e = enum_find(c, n, v);
		if (e)
			lua_pushlstring(L, c->pool + e->name, e->name_len);
		else
			lua_pushinteger(L, v);
		return;
	}
	case SH_OP_CHARS:
		lua_pushlstring(L, p, strnlen(p, n->count));
		return;
	case SH_OP_ARRAY:
		f = n + 1;
		lua_createtable(L, n->count > 1u << 24 ? 0 : (int)n->count, 0);
		for (i = 0; i < n->count; i++, p += n->stride) {
			push_node(L, c, f, p);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		return;
	case SH_OP_STRUCT:
		f = n + 1;
		lua_createtable(L, 0, (int)n->count);
		for (i = 0; i < n->count; i++) {
			lua_pushlstring(L, c->pool + f->name, f->name_len);
			push_node(L, c, f, p + f->off);
			lua_rawset(L, -3);
			f = c->nodes + f->next;
		}
		return;
	}
}
#undef PUSH_AS

void sh_codec_push(lua_State *L, const struct sh_codec *c, const void *data)
{
	luaL_checkstack(L, 2 * c->depth + 4, "decoding a BTF value");
	push_node(L, c, c->nodes, data);
}

/* ---- Lua -> bytes ------------------------------------------------------------------------ */

struct enc {
	lua_State *L;
	const struct sh_codec *c;
	const char *what;
	int depth;
	struct {
		const struct sh_node *field; /* struct member, or NULL for an array index */
		lua_Integer index;
	} path[SH_MAX_DEPTH + 1];
};

/* Raise "<what>: [field '<path>': ]<message>". */
static int enc_fail(struct enc *e, const char *fmt, ...)
{
	lua_State *L = e->L;
	luaL_Buffer buf;
	char num[32];
	va_list ap;
	int i, msg;

	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	msg = lua_gettop(L);
	luaL_buffinit(L, &buf);
	luaL_addstring(&buf, e->what);
	luaL_addstring(&buf, ": ");
	if (e->depth) {
		luaL_addstring(&buf, "field '");
		for (i = 0; i < e->depth; i++) {
			if (e->path[i].field) {
				if (i)
					luaL_addchar(&buf, '.');
				luaL_addlstring(&buf, e->c->pool + e->path[i].field->name,
						e->path[i].field->name_len);
			} else {
				snprintf(num, sizeof(num), "[%lld]", (long long)e->path[i].index);
				luaL_addstring(&buf, num);
			}
		}
		luaL_addstring(&buf, "': ");
	}
	lua_pushvalue(L, msg);
	luaL_addvalue(&buf);
	luaL_pushresult(&buf);
	return luaL_error(L, "%s", lua_tostring(L, -1));
}

static const char *tname(const struct enc *e, const struct sh_node *n)
{
	return e->c->pool + n->tname;
}

/* The integer at idx: Lua integers, and floats with an exact integer value. Floats in
 * [2^63, 2^64) are taken as their u64 bits when wide_u64 (a u64 field). */
static lua_Integer enc_number(struct enc *e, int idx, const struct sh_node *n, bool wide_u64,
			      const char *expected)
{
	lua_State *L = e->L;
	lua_Number d;
	lua_Integer v;
	int ok;

	if (lua_isinteger(L, idx))
		return lua_tointeger(L, idx);
	if (lua_type(L, idx) != LUA_TNUMBER)
		enc_fail(e, "expected %s, got %s", expected, luaL_typename(L, idx));
	v = lua_tointegerx(L, idx, &ok);
	if (ok)
		return v;
	d = lua_tonumber(L, idx);
	if (wide_u64 && d >= 0x1p63 && d < 0x1p64)
		return (lua_Integer)(__u64)d;
	if (d != d || (d > -0x1p63 && d < 0x1p63))
		enc_fail(e, "number %f has no integer representation", d);
	return enc_fail(e, "number %f out of range for %s", d, tname(e, n));
}

/* An integer for a field of bits width, range checked; returns the bits to store. */
static __u64 enc_int(struct enc *e, int idx, const struct sh_node *n, unsigned int bits,
		     const char *expected)
{
	bool is_signed = n->flags & SH_F_SIGNED, lenient = n->flags & SH_F_LENIENT;
	lua_Integer v = enc_number(e, idx, n, !is_signed && bits == 64, expected);
	lua_Integer lo, hi;

	if (bits >= 64)
		return (__u64)v; /* u64 takes every Lua integer: negatives are the same bits */
	hi = (lua_Integer)((1ull << bits) - 1);
	lo = 0;
	if (is_signed || lenient)
		lo = -(lua_Integer)(1ull << (bits - 1));
	if (is_signed && !lenient)
		hi = (lua_Integer)((1ull << (bits - 1)) - 1);
	if (v < lo || v > hi)
		enc_fail(e, "integer %I out of range for %s", (LUAI_UACINT)v, tname(e, n));
	return (__u64)v;
}

static void store_scalar(const struct sh_node *n, char *p, __u64 v)
{
	__u64 w = 0, mask;

	if (!n->bits) {
		memcpy(p, &v, n->width);
		return;
	}
	mask = (n->bits >= 64 ? ~0ull : (1ull << n->bits) - 1) << n->shift;
	memcpy(&w, p, n->width);
	w = (w & ~mask) | ((v << n->shift) & mask);
	memcpy(p, &w, n->width);
}

static void add_list(luaL_Buffer *buf, const char *name, size_t len, int i)
{
	if (i == SH_LIST_MAX) {
		luaL_addstring(buf, ", ...");
		return;
	}
	if (i > SH_LIST_MAX)
		return;
	if (i)
		luaL_addstring(buf, ", ");
	luaL_addlstring(buf, name, len);
}

static __u64 enc_enum(struct enc *e, int idx, const struct sh_node *n)
{
	const struct sh_enum_entry *en = e->c->enums + n->aux;
	lua_State *L = e->L;
	luaL_Buffer buf;
	const char *s;
	size_t len;
	__u32 i, off;

	if (lua_type(L, idx) != LUA_TSTRING)
		return enc_int(e, idx, n, n->bits ? n->bits : n->width * 8u,
			       "enumerator name or integer");
	s = lua_tolstring(L, idx, &len);
	for (i = 0; i < n->count; i++)
		if (en[i].name_len == len && !memcmp(e->c->pool + en[i].name, s, len))
			return (__u64)en[i].value;
	/* An enum's names went into the pool one after another in declaration order. */
	luaL_buffinit(L, &buf);
	off = UINT32_MAX;
	for (i = 0; i < n->count; i++)
		off = en[i].name < off ? en[i].name : off;
	for (i = 0; i < n->count; i++) {
		len = strlen(e->c->pool + off);
		add_list(&buf, e->c->pool + off, len, (int)i);
		off += (__u32)len + 1;
	}
	luaL_pushresult(&buf);
	return enc_fail(e, "unknown enumerator '%s' for %s (valid: %s)", s, tname(e, n),
			lua_tostring(L, -1));
}

static void enc_node(struct enc *e, int idx, const struct sh_node *n, char *p);

static void enc_unknown_field(struct enc *e, int idx, const struct sh_node *n)
{
	lua_State *L = e->L;
	const struct sh_node *f;
	luaL_Buffer buf;
	const char *key;
	size_t len;
	__u32 i;

	lua_pushnil(L);
	for (;;) {
		if (!lua_next(L, idx)) {
			lua_pushliteral(L, "?"); /* not reached: the caller counted one */
			break;
		}
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			key = lua_tolstring(L, -1, &len);
			for (i = 0, f = n + 1; i < n->count; i++, f = e->c->nodes + f->next)
				if (f->name_len == len && !memcmp(e->c->pool + f->name, key, len))
					break;
			if (i < n->count)
				continue;
			lua_pushfstring(L, "'%s'", key);
		} else {
			luaL_tolstring(L, -1, NULL);
		}
		break; /* the key's description is on top */
	}
	luaL_buffinit(L, &buf);
	for (i = 0, f = n + 1; i < n->count; i++, f = e->c->nodes + f->next)
		add_list(&buf, e->c->pool + f->name, f->name_len, (int)i);
	luaL_pushresult(&buf);
	enc_fail(e, "unknown field %s in %s (fields: %s)", lua_tostring(L, -2), tname(e, n),
		 lua_tostring(L, -1));
}

static void enc_struct(struct enc *e, int idx, const struct sh_node *n, char *p)
{
	lua_State *L = e->L;
	const struct sh_node *f = n + 1;
	__u32 i, found = 0, keys = 0;

	if (lua_type(L, idx) != LUA_TTABLE)
		enc_fail(e, "expected table, got %s", luaL_typename(L, idx));
	/* Fields in plan order, so overlapping union members are written deterministically. */
	for (i = 0; i < n->count; i++) {
		lua_pushlstring(L, e->c->pool + f->name, f->name_len);
		if (lua_rawget(L, idx) != LUA_TNIL) {
			found++;
			e->path[e->depth].field = f;
			e->depth++;
			enc_node(e, lua_gettop(L), f, p + f->off);
			e->depth--;
		}
		lua_pop(L, 1);
		f = e->c->nodes + f->next;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		keys++;
		lua_pop(L, 1);
	}
	if (keys != found)
		enc_unknown_field(e, idx, n);
}

static void enc_array(struct enc *e, int idx, const struct sh_node *n, char *p)
{
	lua_State *L = e->L;
	lua_Unsigned len;
	lua_Integer k;

	if (lua_type(L, idx) != LUA_TTABLE)
		enc_fail(e, "expected table, got %s", luaL_typename(L, idx));
	len = lua_rawlen(L, idx);
	if (len > n->count)
		enc_fail(e, "sequence of %I elements too long for %s", (LUAI_UACINT)len,
			 tname(e, n));
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (!lua_isinteger(L, -2)) {
			if (lua_type(L, -2) == LUA_TSTRING)
				lua_pushfstring(L, "'%s'", lua_tostring(L, -2));
			else
				luaL_tolstring(L, -2, NULL);
			enc_fail(e, "unexpected key %s in sequence for %s", lua_tostring(L, -1),
				 tname(e, n));
		}
		k = lua_tointeger(L, -2);
		if (k < 1 || (lua_Unsigned)k > n->count)
			enc_fail(e, "index %I out of range for %s", (LUAI_UACINT)k, tname(e, n));
		e->path[e->depth].field = NULL;
		e->path[e->depth].index = k;
		e->depth++;
		enc_node(e, lua_gettop(L), n + 1, p + (size_t)(k - 1) * n->stride);
		e->depth--;
		lua_pop(L, 1);
	}
}

static void enc_node(struct enc *e, int idx, const struct sh_node *n, char *p)
{
	lua_State *L = e->L;
	const char *s;
	size_t len;
	__u64 v;

	switch (n->op) {
	case SH_OP_U8:
	case SH_OP_U16:
	case SH_OP_U32:
	case SH_OP_U64:
	case SH_OP_S8:
	case SH_OP_S16:
	case SH_OP_S32:
	case SH_OP_S64:
		v = enc_int(e, idx, n, n->width * 8u, "integer");
		memcpy(p, &v, n->width);
		return;
	case SH_OP_BITS:
		store_scalar(n, p, enc_int(e, idx, n, n->bits, "integer"));
		return;
	case SH_OP_BOOL:
		/* C's conversion to _Bool: any non-zero integer is true. */
		if (lua_type(L, idx) == LUA_TBOOLEAN)
			v = lua_toboolean(L, idx);
		else
			v = enc_number(e, idx, n, true, "boolean or integer") != 0;
		store_scalar(n, p, v);
		return;
	case SH_OP_ENUM:
		store_scalar(n, p, enc_enum(e, idx, n));
		return;
	case SH_OP_F32:
	case SH_OP_F64:
		if (lua_type(L, idx) != LUA_TNUMBER)
			enc_fail(e, "expected number, got %s", luaL_typename(L, idx));
		if (n->op == SH_OP_F32) {
			float f = (float)lua_tonumber(L, idx);

			memcpy(p, &f, sizeof(f));
		} else {
			double d = (double)lua_tonumber(L, idx);

			memcpy(p, &d, sizeof(d));
		}
		return;
	case SH_OP_CHARS:
		if (lua_type(L, idx) != LUA_TSTRING)
			enc_fail(e, "expected string, got %s", luaL_typename(L, idx));
		s = lua_tolstring(L, idx, &len);
		if (len > n->count)
			enc_fail(e, "string of %I bytes too long for %s", (LUAI_UACINT)len,
				 tname(e, n));
		memcpy(p, s, len); /* the rest stays zero */
		return;
	case SH_OP_ARRAY:
		enc_array(e, idx, n, p);
		return;
	case SH_OP_STRUCT:
		enc_struct(e, idx, n, p);
		return;
	}
}

void sh_codec_encode(lua_State *L, int idx, const struct sh_codec *c, void *out,
		     const char *what)
{
	struct enc e = { .L = L, .c = c, .what = what ? what : "value" };

	idx = lua_absindex(L, idx);
	memset(out, 0, c->size);
	luaL_checkstack(L, 2 * c->depth + 8, "encoding a BTF value");
	enc_node(&e, idx, c->nodes, out);
}
