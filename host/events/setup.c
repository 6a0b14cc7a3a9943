// SPDX-License-Identifier: GPL-2.0
/*
 * events/setup.c: setting up an event source from its Lua arguments: the record type (a BTF
 * codec, or raw bytes), the callback, opts.batch / opts.fields / opts.on_error, and the
 * columns a struct record is cut into, for batches and for the codec-free per-record path
 * (a struct of integers only). Everything here runs once per subscription and raises on bad
 * input; drain.c uses what it leaves in struct sh_evsrc and user value 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "btf/codec.h"
#include "btf/names.h"
#include "events/jsonl.h"
#include "events/source.h"
#include "lua/opts.h"
#include "obj/map.h"

#define BATCH_DEFAULT 4096
#define BATCH_MAX     (1 << 20)
#define COLUMNS_MAX   64

#define NEXT_ID_KEY   "sockhost.evsources.next_id" /* per state: ids order sockhost.stats() */

static const struct btf_type *peel(const struct btf *btf, __u32 *id)
{
	return sh_btf_peel(btf, id, SH_PEEL_MODS | SH_PEEL_TYPEDEFS);
}

static lua_Integer next_id(lua_State *L)
{
	lua_Integer id = 1;

	if (lua_getfield(L, LUA_REGISTRYINDEX, NEXT_ID_KEY) == LUA_TNUMBER)
		id = lua_tointeger(L, -1) + 1;
	lua_pop(L, 1);
	lua_pushinteger(L, id);
	lua_setfield(L, LUA_REGISTRYINDEX, NEXT_ID_KEY);
	return id;
}

struct sh_evsrc *sh_evsrc_new(lua_State *L, const struct sh_class *cls, size_t size,
			      const struct sh_evsrc_ops *ops, const char *kind)
{
	struct sh_evsrc *s = sh_handle_new(L, cls, size, 5);

	s->ops = ops;
	s->kind = kind;
	s->src.fd = -1;
	s->self_ref = LUA_NOREF;
	s->error_ref = LUA_NOREF;
	s->h.live = s;
	return s;
}

static enum sh_col_kind int_kind(size_t size, bool is_signed)
{
	switch (size) {
	case 1:
		return is_signed ? SH_COL_S8 : SH_COL_U8;
	case 2:
		return is_signed ? SH_COL_S16 : SH_COL_U16;
	case 4:
		return is_signed ? SH_COL_S32 : SH_COL_U32;
	default:
		return is_signed ? SH_COL_S64 : SH_COL_U64;
	}
}

/*
 * Columns for the top-level fields of struct type_id: plain integers are read directly, the
 * rest goes through a codec for the field's type. 0, or -1 with err filled (the columns
 * built so far stay in s->cols for sh_evsrc_close to free).
 */
static int build_columns(struct sh_evsrc *s, struct sh_map *m, __u32 type_id, char *err,
			 size_t errlen)
{
	const struct btf *btf = sh_map_btf(m);
	const struct btf_type *t = peel(btf, &type_id);
	const struct btf_member *mb;
	int n;

	if (!t || !btf_is_struct(t))
		return 0; /* a non-struct batch is one array of values */
	n = btf_vlen(t);
	if (n > COLUMNS_MAX) {
		snprintf(err, errlen, "%s has %d fields, at most %d are supported", s->type, n,
			 COLUMNS_MAX);
		return -1;
	}
	s->cols = calloc(n ? n : 1, sizeof(*s->cols));
	if (!s->cols) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	mb = btf_members(t);
	for (int i = 0; i < n; i++, mb++) {
		struct sh_column *c = &s->cols[s->ncols++];
		const char *name = btf__name_by_offset(btf, mb->name_off);
		__u32 bits = btf_member_bit_offset(t, i), bsz = btf_member_bitfield_size(t, i);
		__u32 fid = mb->type;
		const struct btf_type *ft = peel(btf, &fid);
		char cerr[200];

		if (!name || !*name) {
			snprintf(err, errlen, "%s has an anonymous member; name it", s->type);
			return -1;
		}
		snprintf(c->name, sizeof(c->name), "%s", name);
		c->off = bits / 8;
		if (ft && btf_is_int(ft) && (bsz || bits % 8)) {
			c->kind = SH_COL_BITS;
			c->bit_off = bits % 8;
			c->bit_size = bsz ? bsz : btf_int_bits(ft);
			c->is_signed = btf_int_encoding(ft) & BTF_INT_SIGNED;
			if (c->bit_off + c->bit_size > 64) {
				snprintf(err, errlen, "bitfield '%s' spans over 8 bytes", name);
				return -1;
			}
		} else if (ft && btf_is_int(ft) && !(btf_int_encoding(ft) & BTF_INT_BOOL) &&
			   (ft->size == 1 || ft->size == 2 || ft->size == 4 || ft->size == 8)) {
			c->kind = int_kind(ft->size, btf_int_encoding(ft) & BTF_INT_SIGNED);
		} else {
			c->kind = SH_COL_CODEC;
			c->codec = sh_codec_get(sh_map_codecs(m), fid, cerr, sizeof(cerr));
			if (!c->codec) {
				snprintf(err, errlen, "field '%s': %s", name, cerr);
				return -1;
			}
		}
	}
	return 0;
}

void sh_evsrc_free_columns(struct sh_evsrc *s)
{
	free(s->cols);
	s->cols = NULL;
	s->ncols = 0;
}

/* The batch table (user value 3): {field = {...}} for a struct, else one array. */
static void make_batch_table(lua_State *L, struct sh_evsrc *s, int ud_idx)
{
	if (s->ncols) {
		lua_createtable(L, 0, s->ncols);
		for (int i = 0; i < s->ncols; i++) {
			lua_createtable(L, s->batch, 0);
			lua_setfield(L, -2, s->cols[i].name);
		}
	} else {
		lua_createtable(L, s->batch, 0);
	}
	lua_setiuservalue(L, ud_idx, 3);
}

/*
 * Per-record decoding of a struct whose fields are all integers skips the codec: the field
 * names are Lua strings made once (user value 3, in field order), so a record costs one
 * table and no string hashing. Any other field (enum, array, string, nested struct) keeps the
 * codec for the whole record, so both paths give the same values.
 */
static void setup_flat(lua_State *L, struct sh_evsrc *s, struct sh_map *m, __u32 type_id,
		       int ud_idx)
{
	char err[256];

	if (build_columns(s, m, type_id, err, sizeof(err))) {
		sh_evsrc_free_columns(s);
		return;
	}
	for (int i = 0; i < s->ncols; i++)
		if (s->cols[i].kind == SH_COL_CODEC) {
			sh_evsrc_free_columns(s);
			return;
		}
	lua_createtable(L, s->ncols, 0);
	for (int i = 0; i < s->ncols; i++) {
		lua_pushstring(L, s->cols[i].name);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setiuservalue(L, ud_idx, 3);
}

/* opts.fields = {"a", "b"}: batch only these columns (fewer stores per record). */
static void select_fields(lua_State *L, struct sh_evsrc *s, int opts_idx)
{
	int n = 0;

	if (lua_getfield(L, opts_idx, "fields") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (!lua_istable(L, -1) || !s->ncols)
		luaL_error(L,
			   "%s '%s': opts.fields must be a list of field names of a struct "
			   "type, got %s",
			   s->kind, s->name, luaL_typename(L, -1));
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
		const char *f = lua_tostring(L, -1);
		int k;

		for (k = n; f && k < s->ncols && strcmp(s->cols[k].name, f); k++)
			;
		if (!f || k == s->ncols)
			luaL_error(L,
				   "%s '%s': opts.fields: %s is not a field of %s (or is listed "
				   "twice)",
				   s->kind, s->name, f ? f : luaL_typename(L, -1), s->type);
		struct sh_column tmp = s->cols[n];

		s->cols[n++] = s->cols[k];
		s->cols[k] = tmp;
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	if (!n)
		luaL_error(L, "%s '%s': opts.fields is empty", s->kind, s->name);
	s->ncols = n;
}

static void parse_opts(lua_State *L, struct sh_evsrc *s, int opts_idx)
{
	const char *fname = lua_pushfstring(L, "%s '%s'", s->kind, s->name);

	sh_opts_check(L, opts_idx, fname, s->ops->opt_names);
	lua_pop(L, 1);
	switch (lua_getfield(L, opts_idx, "batch")) {
	case LUA_TNIL:
		break;
	case LUA_TBOOLEAN:
		s->batch = lua_toboolean(L, -1) ? BATCH_DEFAULT : 0;
		break;
	case LUA_TNUMBER: {
		lua_Integer n = lua_tointeger(L, -1);

		if (n < 1 || n > BATCH_MAX)
			luaL_error(L, "%s '%s': opts.batch must be true or 1..%d records, got %s",
				   s->kind, s->name, BATCH_MAX, lua_tostring(L, -1));
		s->batch = (int)n;
		break;
	}
	default:
		luaL_error(L, "%s '%s': opts.batch must be true or a record count, got %s", s->kind,
			   s->name, luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	if (lua_getfield(L, opts_idx, "on_error") != LUA_TNIL) {
		const char *v = lua_tostring(L, -1);

		if (!v || (strcmp(v, "count") && strcmp(v, "stop")))
			luaL_error(L,
				   "%s '%s': opts.on_error must be \"stop\" or \"count\", "
				   "got %s",
				   s->kind, s->name, v ? v : luaL_typename(L, -1));
		s->count_errors = !strcmp(v, "count");
	}
	lua_pop(L, 1);
}

/* opts.ndjson = {out = file, ...}: the template (events/jsonl.c) and the file (user value 5). */
static void setup_ndjson(lua_State *L, struct sh_evsrc *s, int ud_idx, struct sh_map *m, int id,
			 int opts_idx)
{
	const char *what = lua_pushfstring(L, "%s '%s': opts.ndjson", s->kind, s->name);
	int top = lua_gettop(L);

	if (lua_getfield(L, opts_idx, "ndjson") != LUA_TTABLE)
		luaL_error(L, "%s must be a table {out = file, type = ..., fields = {...}}, got %s",
			   what, luaL_typename(L, -1));
	if (id < 0)
		luaL_error(L, "%s needs a record type (a struct in the object's BTF)", what);
	if (s->batch)
		luaL_error(L, "%s and opts.batch do not go together", what);
	lua_getfield(L, -1, "out");
	if (!luaL_testudata(L, -1, LUA_FILEHANDLE))
		luaL_error(L, "%s.out must be a file (io.stdout, io.open(...)), got %s", what,
			   luaL_typename(L, -1));
	lua_setiuservalue(L, ud_idx, 5);
	s->jsonl = sh_jsonl_compile(L, top + 1, sh_map_btf(m), (__u32)id, what);
	lua_settop(L, top - 1);
}

/* sub:set_output(file) -> sub: the opts.ndjson lines go to file from the next drain on (a
 * drain flushes before it returns, so every earlier line is in the old file already). This is
 * how a tool's --output follows a SIGHUP reopen (logrotate) without losing or repeating one. */
int sh_evsrc_l_set_output(lua_State *L)
{
	struct sh_evsrc *s = sh_evsrc_check(L, 1);
	luaL_Stream *f = luaL_checkudata(L, 2, LUA_FILEHANDLE);

	if (!s->jsonl)
		return luaL_error(L, "%s '%s': set_output: not subscribed with opts.ndjson",
				  s->kind, s->name);
	if (!f->closef)
		return luaL_argerror(L, 2, "attempt to use a closed file");
	lua_settop(L, 2);
	lua_setiuservalue(L, 1, 5);
	return 1;
}

void sh_evsrc_setup(lua_State *L, struct sh_evsrc *s, int ud_idx, struct sh_map *m, int type_idx,
		    int fn_idx, int opts_idx)
{
	const char *tname = luaL_optstring(L, type_idx, NULL);
	int id = -1;

	s->id = next_id(L);
	snprintf(s->name, sizeof(s->name), "%s", m->name);
	snprintf(s->type, sizeof(s->type), "raw bytes");
	bool has_ndjson = lua_istable(L, opts_idx) &&
			  lua_getfield(L, opts_idx, "ndjson") != LUA_TNIL;

	if (lua_istable(L, opts_idx))
		lua_pop(L, 1);
	if (has_ndjson && lua_isnil(L, fn_idx)) {
		/* opts.ndjson alone: the lines are the output, no Lua call per record */
	} else if (!lua_isfunction(L, fn_idx)) {
		if (!luaL_getmetafield(L, fn_idx, "__call"))
			luaL_error(L, "%s '%s': callback must be callable, got %s", s->kind,
				   s->name, luaL_typename(L, fn_idx));
		lua_pop(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, ud_idx, 1);
	lua_pushvalue(L, fn_idx);
	lua_setiuservalue(L, ud_idx, 2);
	if (tname) {
		const struct btf *btf = sh_map_btf(m);
		char errbuf[256];

		if (!btf)
			luaL_error(L,
				   "%s '%s': no BTF to decode type '%s' (compile the object "
				   "with clang -g)",
				   s->kind, s->name, tname);
		id = sh_btf_find_type(btf, tname);
		/* clang keeps only types reachable from globals, maps and signatures; a record
		 * type used only through a reserved pointer is the usual reason */
		if (id < 0)
			luaL_error(L,
				   "%s '%s': type '%s' not found in the object's BTF (a type used "
				   "only through a pointer is dropped by clang: add "
				   "SH_EVENT_TYPE(%s); at file scope in the BPF C)",
				   s->kind, s->name, tname, tname);
		s->codec = sh_codec_get(sh_map_codecs(m), (__u32)id, errbuf, sizeof(errbuf));
		if (!s->codec)
			luaL_error(L, "%s '%s': type '%s': %s", s->kind, s->name, tname, errbuf);
		s->min_size = sh_codec_size(s->codec);
		snprintf(s->type, sizeof(s->type), "%s", tname);
	}
	if (!lua_isnoneornil(L, opts_idx))
		parse_opts(L, s, opts_idx);
	if (s->batch) {
		char err[256];

		if (id >= 0 && build_columns(s, m, (__u32)id, err, sizeof(err)))
			luaL_error(L, "%s '%s': batch mode: %s", s->kind, s->name, err);
		if (!lua_isnoneornil(L, opts_idx))
			select_fields(L, s, opts_idx);
		make_batch_table(L, s, ud_idx);
	} else if (id >= 0) {
		setup_flat(L, s, m, (__u32)id, ud_idx);
	}
	if (has_ndjson)
		setup_ndjson(L, s, ud_idx, m, id, opts_idx);
}
