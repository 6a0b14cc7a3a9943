// SPDX-License-Identifier: GPL-2.0
/*
 * btf/plan.c: turns a BTF type into an immutable flat plan (btf/plan.h describes the layout)
 * once per type id and caches it per struct btf. Everything a conversion needs is computed
 * here, so btf/values.c walks a plan with no BTF lookups, no allocation beyond the Lua values
 * themselves and no string formatting unless an error is being raised.
 *
 * Lifetime: a cache belongs to one struct btf and must be freed before it; plans live until
 * sh_codec_cache_free. Build errors fill the caller's buffer with the type and field path.
 *
 * One file at 17 KB because it is one recursive builder: build() and the per-kind builders
 * it dispatches to (composite, array, int, enum) call each other and share the builder's
 * path and pool; split, they would need that state in a header of their own.
 *
 * Bytes are read and written in host order; sh_codec_get refuses BTF of the other byte order
 * and big-endian hosts (bitfield positions are computed for little-endian).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btf/names.h"
#include "btf/plan.h"

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
	[BTF_KIND_UNKN] = "void",	  [BTF_KIND_INT] = "int",
	[BTF_KIND_PTR] = "ptr",		  [BTF_KIND_ARRAY] = "array",
	[BTF_KIND_STRUCT] = "struct",	  [BTF_KIND_UNION] = "union",
	[BTF_KIND_ENUM] = "enum",	  [BTF_KIND_FWD] = "fwd",
	[BTF_KIND_TYPEDEF] = "typedef",	  [BTF_KIND_VOLATILE] = "volatile",
	[BTF_KIND_CONST] = "const",	  [BTF_KIND_RESTRICT] = "restrict",
	[BTF_KIND_FUNC] = "func",	  [BTF_KIND_FUNC_PROTO] = "func_proto",
	[BTF_KIND_VAR] = "var",		  [BTF_KIND_DATASEC] = "datasec",
	[BTF_KIND_FLOAT] = "float",	  [BTF_KIND_DECL_TAG] = "decl_tag",
	[BTF_KIND_TYPE_TAG] = "type_tag", [BTF_KIND_ENUM64] = "enum64",
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
	*tp = sh_btf_peel(btf, &id, SH_PEEL_ALL);
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
	/* an enum without enumerators has nothing to sort, and b->enums may still be NULL */
	e = n ? b->enums + first : NULL;
	if (n)
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
	b->nodes[idx].stride = t->size; /* whole size: a union reduces as one blob */
	if (btf_is_union(t))
		b->nodes[idx].flags |= SH_F_UNION;
	err = btf_is_datasec(t) ? add_vars(b, t, &count) : add_members(b, t, 0, &count);
	b->nodes[idx].count = count;
	b->depth--;
	return err;
}

static bool is_char(const struct btf *btf, __u32 id)
{
	/* qualifiers but not typedefs: u8/__u8 arrays hold binary data */
	const struct btf_type *t = sh_btf_peel(btf, &id, SH_PEEL_MODS);
	const char *name;

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
		[0] = { [1] = SH_OP_U8, [2] = SH_OP_U16, [4] = SH_OP_U32, [8] = SH_OP_U64 },
		[1] = { [1] = SH_OP_S8, [2] = SH_OP_S16, [4] = SH_OP_S32, [8] = SH_OP_S64 },
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

static const struct sh_codec *get_failed(char *err, size_t errlen, int e, const char *msg, __u32 id)
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
