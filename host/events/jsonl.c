// SPDX-License-Identifier: GPL-2.0
/*
 * events/jsonl.c: NDJSON lines from record bytes (events/jsonl.h). The description, in Lua:
 *
 *   ndjson = {
 *      out = io.stdout,                 -- where drain.c writes (setup.c keeps it)
 *      type = "close",                  -- "type": a constant string, first
 *      ts = { "start_ns", "duration_ns" }, -- "ts": the sum of these ns fields on `clock`, or
 *      clock = "boottime",              --   "now" (default): when the record was read;
 *                                       --   printed as wall-clock seconds, 6 decimals
 *      fields = {                       -- the rest, in this order (default: every member)
 *         "pid", "comm",                --   as the BTF type says: integer, string (char[]),
 *                                       --   boolean, enum name, array of integers
 *         { "role", names = { [1] = "client" } },     -- integer -> string (else the number)
 *         { "saddr", addr = "family" }, -- u8[4]/u8[16]/__u32 -> text, by a family field's
 *                                       --   value (2, 10) or addr = 4 / 6
 *         { "duration_us", from = "duration_ns", div = 1000 }, -- other key; integer division
 *         { "states", count = "nstates", names = TCP, more = "..." }, -- an array's first
 *                                       --   `count` elements; `more` appended past its end
 *         { "old", from = "args[0]", when = { "op", 10 } }, -- an element; written only in
 *                                       --   records whose op is 10
 *      },
 *   }
 *
 * `from` may name a nested member ("tuple.sport"). Everything is resolved to offsets here;
 * encoding reads only the record. Strings stop at the first NUL or the array's end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "btf/names.h"
#include "events/jsonl.h"

#define FIELDS_MAX 64
#define TS_MAX	   4
#define KEY_MAX	   64

enum jk {
	JK_INT,
	JK_BITS,
	JK_BOOL,
	JK_ENUM,
	JK_STR,
	JK_ARRAY,
	JK_ADDR,
};

struct name {
	long long v;
	char *json; /* the escaped, quoted string */
	size_t len;
};

/* An integer somewhere in the record. */
struct ival {
	size_t off;
	unsigned char size, bit_off, bit_size; /* bit_size 0: not a bitfield */
	bool is_signed;
};

struct field {
	enum jk kind;
	char key[KEY_MAX + 4]; /* "key": */
	size_t keylen;
	struct ival v; /* the value (JK_ARRAY, JK_STR, JK_ADDR: off and element size) */
	int nelem; /* arrays, strings, addresses: elements */
	struct name *names; /* names = {...}, and BTF enums */
	int nnames;
	unsigned long long div;
	bool has_count;
	struct ival count;
	char *more; /* quoted */
	bool fam_field;
	struct ival fam;
	int fam_fixed; /* AF_INET / AF_INET6 */
	bool has_when; /* when = {"member", value}: only in records where member == value */
	struct ival when;
	unsigned long long when_value;
};

struct sh_jsonl {
	char *prefix; /* {"type":"x", */
	size_t prefix_len;
	int nts; /* 0: "now" */
	struct ival ts[TS_MAX];
	clockid_t clock;
	long long offset_ns; /* wall clock - clock, this drain */
	int nfields;
	struct field f[FIELDS_MAX];
	size_t max; /* the longest line a record can make */
	char *buf;
	size_t len, cap;
};

/* ---- output buffer ------------------------------------------------------------------------ */

static bool reserve(struct sh_jsonl *j, size_t n)
{
	if (j->len + n <= j->cap)
		return true;
	size_t cap = j->cap ? j->cap : 512;

	while (cap < j->len + n)
		cap *= 2;
	char *b = realloc(j->buf, cap);

	if (!b)
		return false;
	j->buf = b;
	j->cap = cap;
	return true;
}

static inline void put(struct sh_jsonl *j, const char *s, size_t n)
{
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static inline void put_u64(struct sh_jsonl *j, unsigned long long v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(j, tmp + i, sizeof(tmp) - i);
}

static inline void put_s64(struct sh_jsonl *j, long long v)
{
	if (v < 0) {
		j->buf[j->len++] = '-';
		put_u64(j, 0ULL - (unsigned long long)v);
	} else {
		put_u64(j, (unsigned long long)v);
	}
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;

	if (s[0] < 0xc2)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
	if (!len || len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string of the n bytes at s (worst case 6 bytes per byte, plus quotes). */
static void put_str(struct sh_jsonl *j, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	j->buf[j->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		size_t u;

		if (c == '"' || c == '\\') {
			j->buf[j->len++] = '\\';
			j->buf[j->len++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			j->buf[j->len++] = (char)c;
		} else if (c >= 0x80 && (u = utf8_len(s + i, n - i))) {
			put(j, (const char *)s + i, u);
			i += u - 1;
		} else if (c == '\n') {
			put(j, "\\n", 2);
		} else if (c == '\t') {
			put(j, "\\t", 2);
		} else {
			put(j, "\\u00", 4);
			j->buf[j->len++] = hex[c >> 4];
			j->buf[j->len++] = hex[c & 15];
		}
	}
	j->buf[j->len++] = '"';
}

/* ---- reading the record ------------------------------------------------------------------- */

static inline unsigned long long load_u(const unsigned char *p, unsigned char size)
{
	switch (size) {
	case 1:
		return *p;
	case 2: {
		__u16 v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		__u32 v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		__u64 v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

/* The integer as 64 bits: sign-extended when signed. */
static inline unsigned long long load(const struct ival *iv, const unsigned char *rec)
{
	const unsigned char *p = rec + iv->off;
	unsigned long long v;

	if (iv->bit_size) {
		v = 0;
		for (int i = 0; i < (iv->bit_off + iv->bit_size + 7) / 8; i++)
			v |= (unsigned long long)p[i] << (8 * i);
		v >>= iv->bit_off;
		if (iv->bit_size < 64) {
			v &= (1ULL << iv->bit_size) - 1;
			if (iv->is_signed && (v >> (iv->bit_size - 1)))
				v |= ~0ULL << iv->bit_size;
		}
		return v;
	}
	v = load_u(p, iv->size);
	if (iv->is_signed && iv->size < 8 && (v >> (8 * iv->size - 1)))
		v |= ~0ULL << (8 * iv->size);
	return v;
}

static inline void put_int(struct sh_jsonl *j, const struct ival *iv, unsigned long long v)
{
	if (iv->is_signed)
		put_s64(j, (long long)v);
	else
		put_u64(j, v);
}

static const struct name *find_name(const struct field *f, long long v)
{
	int lo = 0, hi = f->nnames - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (f->names[mid].v == v)
			return &f->names[mid];
		if (f->names[mid].v < v)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* A value that may have a name: the name, else the number. */
static inline void put_named(struct sh_jsonl *j, const struct field *f, const struct ival *iv,
			     unsigned long long v)
{
	const struct name *nm = f->nnames ? find_name(f, (long long)v) : NULL;

	if (nm)
		put(j, nm->json, nm->len);
	else
		put_int(j, iv, v);
}

static void put_addr(struct sh_jsonl *j, const struct field *f, const unsigned char *rec)
{
	char text[INET6_ADDRSTRLEN];
	int fam = f->fam_field ? (int)load(&f->fam, rec) : f->fam_fixed;
	const unsigned char *p = rec + f->v.off;
	size_t bytes = (size_t)f->nelem * f->v.size;

	if ((fam == AF_INET && bytes >= 4) || (fam == AF_INET6 && bytes >= 16)) {
		if (inet_ntop(fam, p, text, sizeof(text))) {
			put_str(j, (const unsigned char *)text, strlen(text));
			return;
		}
	}
	put(j, "null", 4); /* a family the field cannot hold (0 before it is known) */
}

static void put_field(struct sh_jsonl *j, const struct field *f, const unsigned char *rec)
{
	put(j, f->key, f->keylen);
	switch (f->kind) {
	case JK_INT:
	case JK_BITS: {
		unsigned long long v = load(&f->v, rec);

		if (f->div) {
			if (f->v.is_signed)
				v = (unsigned long long)((long long)v / (long long)f->div);
			else
				v /= f->div;
		}
		put_named(j, f, &f->v, v);
		break;
	}
	case JK_BOOL:
		if (load(&f->v, rec))
			put(j, "true", 4);
		else
			put(j, "false", 5);
		break;
	case JK_ENUM:
		put_named(j, f, &f->v, load(&f->v, rec));
		break;
	case JK_STR: {
		const unsigned char *s = rec + f->v.off;
		const unsigned char *z = memchr(s, 0, (size_t)f->nelem);

		put_str(j, s, z ? (size_t)(z - s) : (size_t)f->nelem);
		break;
	}
	case JK_ARRAY: {
		long long n = f->nelem;
		struct ival e = f->v;

		if (f->has_count) {
			long long c = (long long)load(&f->count, rec);

			n = c < 0 ? 0 : c < n ? c : n;
		}
		j->buf[j->len++] = '[';
		for (long long i = 0; i < n; i++) {
			if (i)
				j->buf[j->len++] = ',';
			e.off = f->v.off + (size_t)i * f->v.size;
			put_named(j, f, &e, load(&e, rec));
		}
		if (f->more && f->has_count && (long long)load(&f->count, rec) > f->nelem) {
			if (n)
				j->buf[j->len++] = ',';
			put(j, f->more, strlen(f->more));
		}
		j->buf[j->len++] = ']';
		break;
	}
	case JK_ADDR:
		put_addr(j, f, rec);
		break;
	}
}

/* The most bytes a field can take: names and strings escaped, arrays of 20-digit numbers. */
static size_t field_max(const struct field *f)
{
	size_t name = 0, n = f->keylen + 8;

	for (int i = 0; i < f->nnames; i++)
		if (f->names[i].len > name)
			name = f->names[i].len;
	if (name < 21)
		name = 21;
	switch (f->kind) {
	case JK_STR:
		return n + 6 * (size_t)f->nelem + 2;
	case JK_ARRAY:
		return n + (size_t)f->nelem * (name + 1) + (f->more ? strlen(f->more) + 1 : 0) + 2;
	case JK_ADDR:
		return n + INET6_ADDRSTRLEN + 2;
	default:
		return n + name;
	}
}

void sh_jsonl_begin(struct sh_jsonl *j)
{
	struct timespec rt, ct;

	if (!j->nts || j->clock == CLOCK_REALTIME) {
		j->offset_ns = 0;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(j->clock, &ct);
	j->offset_ns = (rt.tv_sec - ct.tv_sec) * 1000000000LL + (rt.tv_nsec - ct.tv_nsec);
}

const char *sh_jsonl_encode(struct sh_jsonl *j, const void *data, size_t *len)
{
	const unsigned char *rec = data;
	long long ns;

	j->len = 0;
	if (!reserve(j, j->max))
		return NULL;
	put(j, j->prefix, j->prefix_len);
	if (j->nts) {
		ns = j->offset_ns;
		for (int i = 0; i < j->nts; i++)
			ns += (long long)load(&j->ts[i], rec);
	} else {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		ns = now.tv_sec * 1000000000LL + now.tv_nsec;
	}
	{
		char frac[8];
		long long us = ns / 1000;

		put(j, "\"ts\":", 5);
		put_s64(j, us / 1000000);
		snprintf(frac, sizeof(frac), ".%06lld", us % 1000000 < 0 ? 0 : us % 1000000);
		put(j, frac, 7);
	}
	for (int i = 0; i < j->nfields; i++) {
		const struct field *f = &j->f[i];

		if (f->has_when && load(&f->when, rec) != f->when_value)
			continue;
		j->buf[j->len++] = ',';
		put_field(j, f, rec);
	}
	put(j, "}\n", 2);
	*len = j->len;
	return j->buf;
}

/* ---- compiling the description ---------------------------------------------------------- */

void sh_jsonl_free(struct sh_jsonl *j)
{
	if (!j)
		return;
	for (int i = 0; i < j->nfields; i++) {
		for (int k = 0; k < j->f[i].nnames; k++)
			free(j->f[i].names[k].json);
		free(j->f[i].names);
		free(j->f[i].more);
	}
	free(j->prefix);
	free(j->buf);
	free(j);
}

/* A quoted, escaped copy of s (malloc'ed). */
static char *quote(const char *s, size_t n, size_t *outlen)
{
	struct sh_jsonl tmp = { 0 };

	if (!reserve(&tmp, 6 * n + 3))
		return NULL;
	put_str(&tmp, (const unsigned char *)s, n);
	tmp.buf[tmp.len] = 0;
	if (outlen)
		*outlen = tmp.len;
	return tmp.buf;
}

struct ctx {
	lua_State *L;
	const struct btf *btf;
	__u32 type_id;
	const char *what;
	struct sh_jsonl *j;
};

/* Raise after freeing the template (the error message is formatted first). */
static int fail(struct ctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sh_jsonl_free(c->j);
	c->j = NULL;
	return luaL_error(c->L, "%s: %s", c->what, msg);
}

/* Find member `path` (dotted) of the record struct: its peeled type, byte and bit offsets. */
static const struct btf_type *member(struct ctx *c, const char *path, __u32 *type_out,
				     size_t *bit_off, __u32 *bitfield)
{
	__u32 id = c->type_id;
	const struct btf_type *t = sh_btf_peel(c->btf, &id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);
	size_t off = 0;
	const char *p = path;

	*bitfield = 0;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		const char *br = memchr(p, '[', n);
		const struct btf_member *mb;
		long index = -1;
		int i, vlen;

		if (br) { /* "name[N]": element N of an array member */
			char *end;

			index = strtol(br + 1, &end, 10);
			if (end == br + 1 || *end != ']' || end + 1 != p + n || index < 0)
				return NULL;
			n = (size_t)(br - p);
		}
		if (!t || !btf_is_composite(t))
			return NULL;
		mb = btf_members(t);
		vlen = btf_vlen(t);
		for (i = 0; i < vlen; i++, mb++) {
			const char *name = btf__name_by_offset(c->btf, mb->name_off);

			if (name && strlen(name) == n && !strncmp(name, p, n))
				break;
		}
		if (i == vlen)
			return NULL;
		off += btf_member_bit_offset(t, i);
		*bitfield = btf_member_bitfield_size(t, i);
		id = mb->type;
		t = sh_btf_peel(c->btf, &id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);
		if (index >= 0) {
			const struct btf_type *et;

			if (!t || !btf_is_array(t) || (__u32)index >= btf_array(t)->nelems)
				return NULL;
			id = btf_array(t)->type;
			et = sh_btf_peel(c->btf, &id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);
			if (!et || !et->size)
				return NULL;
			off += (size_t)index * et->size * 8;
			t = et;
			*bitfield = 0;
		}
		if (!dot)
			break;
		p = dot + 1;
	}
	*type_out = id;
	*bit_off = off;
	return t;
}

static bool is_char(const struct btf *btf, const struct btf_type *t)
{
	const char *name = btf__name_by_offset(btf, t->name_off);

	/* plain char only: __u8 (unsigned char) arrays are bytes, as in the codec */
	return btf_is_int(t) && t->size == 1 &&
	       ((btf_int_encoding(t) & BTF_INT_CHAR) || (name && !strcmp(name, "char")));
}

/* An integer member for ts/count/family: its ival, or raise. */
static struct ival int_member(struct ctx *c, const char *path, const char *use)
{
	struct ival iv = { 0 };
	__u32 id, bsz;
	size_t bit;
	const struct btf_type *t = member(c, path, &id, &bit, &bsz);

	if (!t || !(btf_is_int(t) || btf_is_any_enum(t)) || t->size > 8)
		fail(c, "%s '%s' is not an integer field of the record", use, path);
	iv.size = (unsigned char)t->size;
	iv.is_signed = btf_is_int(t) ? (btf_int_encoding(t) & BTF_INT_SIGNED) : false;
	iv.off = bit / 8;
	if (bsz || bit % 8) {
		iv.bit_off = bit % 8;
		iv.bit_size = (unsigned char)(bsz ? bsz : t->size * 8);
	}
	return iv;
}

static int cmp_name(const void *a, const void *b)
{
	const struct name *x = a, *y = b;

	return x->v < y->v ? -1 : x->v > y->v;
}

/* names = { [value] = "text", ... } at idx into f. */
static void read_names(struct ctx *c, struct field *f, int idx, const char *key)
{
	lua_State *L = c->L;
	int n = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		n++;
		lua_pop(L, 1);
	}
	f->names = calloc(n ? n : 1, sizeof(*f->names));
	if (!f->names)
		fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t len;
		const char *s;

		if (!lua_isinteger(L, -2) || lua_type(L, -1) != LUA_TSTRING) {
			lua_pop(L, 2);
			fail(c, "field '%s': names must map integers to strings", key);
		}
		s = lua_tolstring(L, -1, &len);
		f->names[f->nnames].v = (long long)lua_tointeger(L, -2);
		f->names[f->nnames].json = quote(s, len, &f->names[f->nnames].len);
		if (!f->names[f->nnames].json) {
			lua_pop(L, 2);
			fail(c, "out of memory");
		}
		f->nnames++;
		lua_pop(L, 1);
	}
	qsort(f->names, f->nnames, sizeof(*f->names), cmp_name);
}

/* A BTF enum's enumerators as names. */
static void enum_names(struct ctx *c, struct field *f, const struct btf_type *t)
{
	int n = btf_vlen(t);

	f->names = calloc(n ? n : 1, sizeof(*f->names));
	if (!f->names)
		fail(c, "out of memory");
	for (int i = 0; i < n; i++) {
		const char *s;
		long long v;

		if (btf_is_enum(t)) {
			s = btf__name_by_offset(c->btf, btf_enum(t)[i].name_off);
			v = btf_kflag(t) ? (long long)btf_enum(t)[i].val :
					   (long long)(__u32)btf_enum(t)[i].val;
		} else {
			s = btf__name_by_offset(c->btf, btf_enum64(t)[i].name_off);
			v = (long long)btf_enum64_value(btf_enum64(t) + i);
		}
		f->names[f->nnames].v = v;
		f->names[f->nnames].json =
			quote(s ? s : "", s ? strlen(s) : 0, &f->names[f->nnames].len);
		if (!f->names[f->nnames].json)
			fail(c, "out of memory");
		f->nnames++;
	}
	qsort(f->names, f->nnames, sizeof(*f->names), cmp_name);
}

static const char *const field_opts[] = { "from",  "names", "addr", "div",
					  "count", "more",  "when", NULL };

/* One entry of fields = {...}: a name, or { key, from=, names=, addr=, div=, count=, more= }
 * at stack top. */
static void add_field(struct ctx *c, int i)
{
	lua_State *L = c->L;
	int e = lua_gettop(L);
	struct field *f;
	const char *key, *from;
	const struct btf_type *t;
	__u32 id, bsz;
	size_t bit, klen;
	bool tab = lua_istable(L, e);

	if (c->j->nfields == FIELDS_MAX)
		fail(c, "more than %d fields", FIELDS_MAX);
	f = &c->j->f[c->j->nfields++];
	if (tab) {
		lua_pushnil(L);
		while (lua_next(L, e)) {
			bool ok = lua_isinteger(L, -2) && lua_tointeger(L, -2) == 1;

			for (int k = 0; !ok && field_opts[k]; k++)
				ok = lua_type(L, -2) == LUA_TSTRING &&
				     !strcmp(lua_tostring(L, -2), field_opts[k]);
			if (!ok) {
				const char *bad = lua_type(L, -2) == LUA_TSTRING ?
							  lua_tostring(L, -2) :
							  luaL_typename(L, -2);
				lua_pop(L, 2);
				fail(c,
				     "fields[%d]: unknown option '%s' (valid: from, names, addr, div, count, more, when)",
				     i, bad);
			}
			lua_pop(L, 1);
		}
		lua_rawgeti(L, e, 1);
	} else {
		lua_pushvalue(L, e);
	}
	if (lua_type(L, -1) != LUA_TSTRING)
		fail(c, "fields[%d] must be a field name or a table {name, ...}, got %s", i,
		     luaL_typename(L, tab ? -1 : e));
	key = lua_tolstring(L, -1, &klen);
	if (!klen || klen > KEY_MAX)
		fail(c, "fields[%d]: a key of 1 to %d bytes, got %d", i, KEY_MAX, (int)klen);
	if (!strcmp(key, "ts") || !strcmp(key, "type"))
		fail(c,
		     "field '%s': the key \"%s\" is the line's own (type, ts): rename it, {\"%s\", from = \"%s\"}",
		     key, key, key[1] == 's' ? "t" : "kind", key);
	{
		size_t qlen;
		char *q = quote(key, klen, &qlen);

		if (!q || qlen + 2 > sizeof(f->key)) {
			free(q);
			fail(c, "fields[%d]: key '%s' is too long once escaped", i, key);
		}
		memcpy(f->key, q, qlen);
		f->key[qlen] = ':';
		f->keylen = qlen + 1;
		free(q);
	}
	from = key;
	if (tab && lua_getfield(L, e, "from") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TSTRING)
			fail(c, "field '%s': from must be a field name", key);
		from = lua_tostring(L, -1);
	}
	t = member(c, from, &id, &bit, &bsz);
	if (!t) {
		char tname[128];

		fail(c, "field '%s': %s has no member '%s'", key,
		     sh_btf_type_name(c->btf, c->type_id, tname, sizeof(tname)), from);
	}
	f->v.off = bit / 8;
	if (btf_is_array(t)) {
		const struct btf_array *a = btf_array(t);
		__u32 eid = a->type;
		const struct btf_type *et =
			sh_btf_peel(c->btf, &eid, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);

		if (!et || !(btf_is_int(et) || btf_is_any_enum(et)) || et->size > 8 ||
		    (et->size & (et->size - 1)))
			fail(c, "field '%s': an array of something other than integers", key);
		f->nelem = (int)a->nelems;
		f->v.size = (unsigned char)et->size;
		f->v.is_signed = btf_is_int(et) && (btf_int_encoding(et) & BTF_INT_SIGNED);
		f->kind = is_char(c->btf, et) ? JK_STR : JK_ARRAY;
		if (btf_is_any_enum(et))
			enum_names(c, f, et);
	} else if (btf_is_int(t) || btf_is_any_enum(t)) {
		if (t->size > 8 || (t->size & (t->size - 1)))
			fail(c, "field '%s': a %u-byte integer", key, t->size);
		f->v.size = (unsigned char)t->size;
		f->v.is_signed = btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_SIGNED);
		f->nelem = 1;
		if (bsz || bit % 8) {
			f->kind = JK_BITS;
			f->v.bit_off = bit % 8;
			f->v.bit_size = (unsigned char)(bsz ? bsz : t->size * 8);
		} else if (btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_BOOL)) {
			f->kind = JK_BOOL;
		} else if (btf_is_any_enum(t)) {
			f->kind = JK_ENUM;
			enum_names(c, f, t);
		} else {
			f->kind = JK_INT;
		}
	} else {
		fail(c, "field '%s': a %s is not supported (list its members instead, as \"%s.x\")",
		     key, btf_is_composite(t) ? "struct or union" : "non-integer", from);
	}
	if (!tab) {
		lua_settop(L, e);
		return;
	}
	if (lua_getfield(L, e, "names") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			fail(c, "field '%s': names must be a table", key);
		if (f->kind == JK_STR)
			fail(c, "field '%s': names on a string", key);
		for (int k = 0; k < f->nnames; k++)
			free(f->names[k].json);
		free(f->names);
		f->names = NULL;
		f->nnames = 0;
		read_names(c, f, lua_gettop(L), key);
		if (f->kind == JK_ENUM)
			f->kind = JK_INT;
	}
	if (lua_getfield(L, e, "div") != LUA_TNIL) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
			fail(c, "field '%s': div must be a positive integer", key);
		if (f->kind != JK_INT && f->kind != JK_BITS)
			fail(c, "field '%s': div on something other than an integer", key);
		f->div = (unsigned long long)lua_tointeger(L, -1);
	}
	if (lua_getfield(L, e, "count") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TSTRING)
			fail(c, "field '%s': count must name an integer field", key);
		if (f->kind != JK_ARRAY)
			fail(c, "field '%s': count on something other than an array", key);
		f->count = int_member(c, lua_tostring(L, -1), "count");
		f->has_count = true;
	}
	if (lua_getfield(L, e, "more") != LUA_TNIL) {
		size_t n;
		const char *s = lua_tolstring(L, -1, &n);

		if (lua_type(L, -1) != LUA_TSTRING || !f->has_count)
			fail(c, "field '%s': more must be a string, next to count", key);
		f->more = quote(s, n, NULL);
		if (!f->more)
			fail(c, "out of memory");
	}
	if (lua_getfield(L, e, "when") != LUA_TNIL) {
		if (!lua_istable(L, -1) || lua_rawgeti(L, -1, 1) != LUA_TSTRING ||
		    lua_rawgeti(L, -2, 2) != LUA_TNUMBER || !lua_isinteger(L, -1))
			fail(c, "field '%s': when must be {\"member\", integer}", key);
		f->when = int_member(c, lua_tostring(L, -2), "when");
		f->when_value = (unsigned long long)lua_tointeger(L, -1);
		if (f->when.size < 8 && !f->when.bit_size)
			f->when_value &= f->when.is_signed ? ~0ULL :
							     (1ULL << (8 * f->when.size)) - 1;
		f->has_when = true;
		lua_pop(L, 2);
	}
	if (lua_getfield(L, e, "addr") != LUA_TNIL) {
		size_t bytes = (size_t)f->nelem * f->v.size;

		if (f->kind != JK_ARRAY && f->kind != JK_INT && f->kind != JK_STR)
			fail(c, "field '%s': addr on something other than bytes or an integer",
			     key);
		if (lua_type(L, -1) == LUA_TSTRING) {
			f->fam = int_member(c, lua_tostring(L, -1), "addr");
			f->fam_field = true;
			if (bytes < 4)
				fail(c, "field '%s': %d bytes cannot hold an address", key,
				     (int)bytes);
		} else if (lua_isinteger(L, -1) &&
			   (lua_tointeger(L, -1) == 4 || lua_tointeger(L, -1) == 6)) {
			f->fam_fixed = lua_tointeger(L, -1) == 4 ? AF_INET : AF_INET6;
			if (bytes < (f->fam_fixed == AF_INET ? 4u : 16u))
				fail(c, "field '%s': %d bytes cannot hold an IPv%d address", key,
				     (int)bytes, (int)lua_tointeger(L, -1));
		} else {
			fail(c, "field '%s': addr must be 4, 6 or the name of a family field", key);
		}
		f->kind = JK_ADDR;
	}
	lua_settop(L, e);
}

static const char *const opts[] = { "out", "type", "ts", "clock", "fields", NULL };

struct sh_jsonl *sh_jsonl_compile(lua_State *L, int idx, const struct btf *btf, __u32 type_id,
				  const char *what)
{
	struct ctx c = { L, btf, type_id, what, NULL };
	struct sh_jsonl *j;
	__u32 id = type_id;
	const struct btf_type *t = sh_btf_peel(btf, &id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);

	idx = lua_absindex(L, idx);
	if (!t || !btf_is_struct(t))
		luaL_error(L, "%s: the record type must be a struct", what);
	c.type_id = id;
	c.j = j = calloc(1, sizeof(*j));
	if (!j)
		luaL_error(L, "%s: out of memory", what);
	j->clock = CLOCK_BOOTTIME;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		bool ok = false;

		for (int k = 0; !ok && opts[k]; k++)
			ok = lua_type(L, -2) == LUA_TSTRING &&
			     !strcmp(lua_tostring(L, -2), opts[k]);
		if (!ok) {
			const char *bad = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) :
									   luaL_typename(L, -2);
			lua_pop(L, 2);
			fail(&c, "unknown option '%s' (valid: out, type, ts, clock, fields)", bad);
		}
		lua_pop(L, 1);
	}
	/* "type" */
	{
		size_t n = 0;
		const char *s = NULL;
		char *q;

		if (lua_getfield(L, idx, "type") != LUA_TNIL) {
			if (lua_type(L, -1) != LUA_TSTRING)
				fail(&c, "type must be a string, got %s", luaL_typename(L, -1));
			s = lua_tolstring(L, -1, &n);
		}
		q = s ? quote(s, n, &n) : NULL;
		j->prefix = malloc(n + 16);
		if (!j->prefix || (s && !q)) {
			free(q);
			fail(&c, "out of memory");
		}
		j->prefix_len = s ? (size_t)sprintf(j->prefix, "{\"type\":%s,", q) :
				    (size_t)sprintf(j->prefix, "{");
		free(q);
		lua_pop(L, 1);
	}
	/* "clock", "ts" */
	if (lua_getfield(L, idx, "clock") != LUA_TNIL) {
		const char *s = lua_tostring(L, -1);

		if (s && !strcmp(s, "boottime"))
			j->clock = CLOCK_BOOTTIME;
		else if (s && !strcmp(s, "monotonic"))
			j->clock = CLOCK_MONOTONIC;
		else if (s && !strcmp(s, "realtime"))
			j->clock = CLOCK_REALTIME;
		else
			fail(&c,
			     "clock must be \"boottime\", \"monotonic\" or \"realtime\", got %s",
			     s ? s : luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	switch (lua_getfield(L, idx, "ts")) {
	case LUA_TNIL:
		break;
	case LUA_TSTRING:
		if (strcmp(lua_tostring(L, -1), "now"))
			j->ts[j->nts++] = int_member(&c, lua_tostring(L, -1), "ts");
		break;
	case LUA_TTABLE:
		for (int i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
			if (lua_type(L, -1) != LUA_TSTRING || j->nts == TS_MAX)
				fail(&c, "ts must be \"now\", a field name or up to %d field names",
				     TS_MAX);
			j->ts[j->nts++] = int_member(&c, lua_tostring(L, -1), "ts");
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		break;
	default:
		fail(&c, "ts must be \"now\", a field name or a list of them, got %s",
		     luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	/* "fields" */
	if (lua_getfield(L, idx, "fields") != LUA_TNIL) {
		int n;

		if (!lua_istable(L, -1))
			fail(&c, "fields must be a list, got %s", luaL_typename(L, -1));
		n = (int)luaL_len(L, -1);
		if (!n)
			fail(&c, "fields is empty");
		for (int i = 1; i <= n; i++) {
			lua_rawgeti(L, -1, i);
			add_field(&c, i);
			lua_pop(L, 1);
		}
	} else {
		const struct btf_member *mb = btf_members(t);

		for (int i = 0; i < btf_vlen(t); i++, mb++) {
			lua_pushstring(L, btf__name_by_offset(btf, mb->name_off));
			add_field(&c, i + 1);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	j->max = j->prefix_len + 40;
	for (int i = 0; i < j->nfields; i++)
		j->max += field_max(&j->f[i]);
	return j;
}
