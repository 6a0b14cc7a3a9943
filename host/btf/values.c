// SPDX-License-Identifier: GPL-2.0
/*
 * btf/values.c: conversions that walk a plan made by btf/plan.c: bytes -> Lua values
 * (sh_codec_push), Lua values -> bytes (sh_codec_encode) and the per-CPU reduction of two
 * slots (sh_codec_sum). No BTF lookups and no allocation beyond the Lua values themselves;
 * strings are formatted only when an error is raised. Ring-buffer records and map walks come
 * through sh_codec_push at millions per second.
 *
 * sh_codec_encode zeroes its output before it looks at the Lua value and may raise half way:
 * callers encode into scratch memory and copy on success, never straight into live data
 * (an mmaped .data section, say).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "btf/plan.h"

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
#define PUSH_AS(op, type, push)           \
	case op: {                        \
		type v;                   \
		memcpy(&v, p, sizeof(v)); \
		push(L, v);               \
		return;                   \
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
			/* the pool's NUL-terminated name hits Lua's API string cache (keyed by
			 * address), so the name is not hashed per element; a new table has no
			 * metatable: this is a raw set */
			push_node(L, c, f, p + f->off);
			lua_setfield(L, -2, c->pool + f->name);
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

void sh_codec_encode(lua_State *L, int idx, const struct sh_codec *c, void *out, const char *what)
{
	struct enc e = { .L = L, .c = c, .what = what ? what : "value" };

	idx = lua_absindex(L, idx);
	memset(out, 0, c->size);
	luaL_checkstack(L, 2 * c->depth + 8, "encoding a BTF value");
	enc_node(&e, idx, c->nodes, out);
}

/* ---- per-CPU reduction ------------------------------------------------------------------- */

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* acc += src in type's arithmetic; unsigned types for the signed fields too: wrapping, as the
 * kernel's counters do. */
#define SUM_AS(type)                        \
	do {                                \
		type a, b;                  \
		memcpy(&a, acc, sizeof(a)); \
		memcpy(&b, src, sizeof(b)); \
		a += b;                     \
		memcpy(acc, &a, sizeof(a)); \
	} while (0)

static void sum_node(const struct sh_node *nodes, const struct sh_node *n, char *acc,
		     const char *src)
{
	const struct sh_node *f;
	__u32 i;

	switch (n->op) {
	case SH_OP_U8:
	case SH_OP_S8:
		SUM_AS(__u8);
		return;
	case SH_OP_U16:
	case SH_OP_S16:
		SUM_AS(__u16);
		return;
	case SH_OP_U32:
	case SH_OP_S32:
		SUM_AS(__u32);
		return;
	case SH_OP_U64:
	case SH_OP_S64:
		SUM_AS(__u64);
		return;
	case SH_OP_F32:
		SUM_AS(float);
		return;
	case SH_OP_F64:
		SUM_AS(double);
		return;
	case SH_OP_BITS:
		store_scalar(n, acc, (__u64)load_scalar(n, acc) + (__u64)load_scalar(n, src));
		return;
	case SH_OP_BOOL:
	case SH_OP_ENUM:
		if (!load_scalar(n, acc))
			store_scalar(n, acc, (__u64)load_scalar(n, src));
		return;
	case SH_OP_CHARS:
		if (all_zero(acc, n->count))
			memcpy(acc, src, n->count);
		return;
	case SH_OP_ARRAY:
		for (i = 0; i < n->count; i++)
			sum_node(nodes, n + 1, acc + (size_t)i * n->stride,
				 src + (size_t)i * n->stride);
		return;
	case SH_OP_STRUCT:
		if (n->flags & SH_F_UNION) {
			if (all_zero(acc, n->stride))
				memcpy(acc, src, n->stride);
			return;
		}
		f = n + 1;
		for (i = 0; i < n->count; i++) {
			sum_node(nodes, f, acc + f->off, src + f->off);
			f = nodes + f->next;
		}
		return;
	}
}
#undef SUM_AS

void sh_codec_sum(const struct sh_codec *c, void *acc, const void *src)
{
	sum_node(c->nodes, c->nodes, acc, src);
}
