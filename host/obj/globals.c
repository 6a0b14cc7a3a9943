// SPDX-License-Identifier: GPL-2.0
/*
 * obj/globals.c: obj.globals (obj/globals.h). The proxy is a table with a metatable whose
 * functions hold the object as an upvalue; it is cached in the object's user value 1, so it
 * lives as long as the object. Values go through the BTF codec: encoded into scratch memory
 * first and copied on success, so a bad value never half-writes a live section.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "btf/codec.h"
#include "lua/class.h"
#include "obj/globals.h"
#include "obj/object.h"

static const char *object_name(struct sh_object *o)
{
	return bpf_object__name(sh_object_bpf(o));
}

void sh_globals_map(struct sh_object *o)
{
	struct bpf_map *map;

	o->ndatasec = 0;
	bpf_object__for_each_map(map, sh_object_bpf(o)) {
		struct sh_datasec *d;
		size_t size;

		if (!bpf_map__is_internal(map) ||
		    o->ndatasec == (int)(sizeof(o->datasec) / sizeof(o->datasec[0])))
			continue;
		d = &o->datasec[o->ndatasec++];
		d->map = map;
		d->mem = NULL;
		bpf_map__initial_value(map, &size);
		d->size = size;
		d->readonly = bpf_map__map_flags(map) & BPF_F_RDONLY_PROG;
		if (!o->loaded || d->readonly || !(bpf_map__map_flags(map) & BPF_F_MMAPABLE))
			continue;
		/* libbpf 1.1 remaps global data only for skeletons, so map it ourselves: reads
		 * and writes then see the kernel's live values. */
		void *mem =
			mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
		if (mem != MAP_FAILED)
			d->mem = mem;
	}
}

void sh_globals_unmap(struct sh_object *o)
{
	for (int i = 0; i < o->ndatasec; i++) {
		if (o->datasec[i].mem)
			munmap(o->datasec[i].mem, o->datasec[i].size);
		o->datasec[i].mem = NULL;
	}
	o->ndatasec = 0;
}

/* ---- globals ------------------------------------------------------------------------------ */

struct global_ref {
	struct sh_datasec *sec;
	const struct sh_codec *codec;
	__u32 offset;
};

static bool find_global(lua_State *L, struct sh_object *o, const char *name, struct global_ref *ref)
{
	const struct btf *btf = o->btf;
	char err[256];

	if (!btf)
		luaL_error(L,
			   "object '%s' has no BTF, so its globals cannot be typed "
			   "(compile with clang -g)",
			   object_name(o));
	if (!o->ndatasec)
		sh_globals_map(o);
	for (int i = 0; i < o->ndatasec; i++) {
		struct sh_datasec *d = &o->datasec[i];
		__u32 sec_id = bpf_map__btf_value_type_id(d->map);
		const struct btf_type *t = sec_id ? btf__type_by_id(btf, sec_id) : NULL;
		const struct btf_var_secinfo *vs;

		if (!t || !btf_is_datasec(t))
			continue;
		vs = btf_var_secinfos(t);
		for (int j = 0; j < btf_vlen(t); j++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);

			if (strcmp(btf__name_by_offset(btf, var->name_off), name))
				continue;
			ref->sec = d;
			ref->offset = vs->offset;
			ref->codec = sh_codec_get(o->codecs, var->type, err, sizeof(err));
			if (!ref->codec)
				luaL_error(L, "global '%s': %s", name, err);
			/* the section's bytes are libbpf's copy of the ELF section: a symbol the ELF
			 * places past it must not become an out-of-bounds access */
			if ((size_t)vs->offset + sh_codec_size(ref->codec) > d->size)
				/* lua_pushfstring knows no %u or %zu: %I takes a lua_Integer */
				luaL_error(
					L,
					"object '%s': global '%s' lies at bytes %I..%I of a %I-byte "
					"section (malformed object)",
					object_name(o), name, (lua_Integer)vs->offset,
					(lua_Integer)(vs->offset + sh_codec_size(ref->codec)),
					(lua_Integer)d->size);
			return true;
		}
	}
	return false;
}

bool sh_global_locate(struct sh_object *o, const char *name, int *fd, size_t *map_size,
		      size_t *offset, size_t *size)
{
	if (!o->btf || !o->loaded)
		return false;
	for (int i = 0; i < o->ndatasec; i++) {
		struct sh_datasec *d = &o->datasec[i];
		__u32 sec_id = bpf_map__btf_value_type_id(d->map);
		const struct btf_type *t = sec_id ? btf__type_by_id(o->btf, sec_id) : NULL;
		const struct btf_var_secinfo *vs;

		if (!t || !btf_is_datasec(t) || d->readonly || !d->mem ||
		    !(bpf_map__map_flags(d->map) & BPF_F_MMAPABLE))
			continue;
		vs = btf_var_secinfos(t);
		for (int j = 0; j < btf_vlen(t); j++, vs++) {
			const struct btf_type *var = btf__type_by_id(o->btf, vs->type);

			if (!var || strcmp(btf__name_by_offset(o->btf, var->name_off), name))
				continue;
			if ((size_t)vs->offset + vs->size > d->size)
				return false;
			*fd = bpf_map__fd(d->map);
			*map_size = d->size;
			*offset = vs->offset;
			*size = vs->size;
			return true;
		}
	}
	return false;
}

static void push_global_names(lua_State *L, struct sh_object *o)
{
	struct sh_names nm;

	sh_names_init(L, &nm);
	for (int i = 0; o->btf && i < o->ndatasec; i++) {
		__u32 sec_id = bpf_map__btf_value_type_id(o->datasec[i].map);
		const struct btf_type *t = sec_id ? btf__type_by_id(o->btf, sec_id) : NULL;
		const struct btf_var_secinfo *vs;

		if (!t || !btf_is_datasec(t))
			continue;
		vs = btf_var_secinfos(t);
		for (int j = 0; j < btf_vlen(t); j++, vs++) {
			const struct btf_type *var = btf__type_by_id(o->btf, vs->type);

			sh_names_add(&nm, btf__name_by_offset(o->btf, var->name_off));
		}
	}
	sh_names_push(&nm);
}

static struct global_ref check_global(lua_State *L, struct sh_object *o, const char *name)
{
	struct global_ref ref;

	if (!find_global(L, o, name, &ref)) {
		push_global_names(L, o);
		luaL_error(L, "object '%s' has no global '%s' (globals: %s)", object_name(o), name,
			   lua_tostring(L, -1));
	}
	return ref;
}

/* Where the bytes of a datasec are: libbpf's initial value before load and for .rodata
 * (frozen at load, so it stays equal to the kernel's), our mmap after load. */
static void *datasec_mem(struct sh_datasec *d, bool loaded)
{
	size_t size;

	if (loaded && d->mem)
		return d->mem;
	return (void *)bpf_map__initial_value(d->map, &size);
}

static int object_get_global(lua_State *L, struct sh_object *o, const char *name)
{
	struct global_ref ref = check_global(L, o, name);
	char *mem = datasec_mem(ref.sec, o->loaded);

	if (o->loaded && !ref.sec->mem && !ref.sec->readonly) {
		/* a datasec the kernel would not let us mmap: read it through a lookup */
		__u32 zero = 0;
		char *buf = lua_newuserdatauv(L, ref.sec->size, 0);

		if (bpf_map_lookup_elem(bpf_map__fd(ref.sec->map), &zero, buf) < 0)
			return sh_raise_errno(L, errno, NULL, "global '%s'", name);
		sh_codec_push(L, ref.codec, buf + ref.offset);
		return 1;
	}
	sh_codec_push(L, ref.codec, mem + ref.offset);
	return 1;
}

void sh_globals_set(lua_State *L, struct sh_object *o, const char *name, int vidx)
{
	struct global_ref ref = check_global(L, o, name);
	size_t size = sh_codec_size(ref.codec);
	char what[128];
	void *tmp;

	if (o->loaded && ref.sec->readonly)
		luaL_error(L,
			   "global '%s' is read-only after load (it is in .rodata: set it in "
			   "open's opts.globals or before obj:load())",
			   name);
	if (o->loaded && !ref.sec->mem)
		luaL_error(L,
			   "global '%s' cannot be written after load (its section is not "
			   "mmapable)",
			   name);
	snprintf(what, sizeof(what), "global '%s'", name);
	tmp = lua_newuserdatauv(L, size, 0);
	sh_codec_encode(L, vidx, ref.codec, tmp, what);
	memcpy((char *)datasec_mem(ref.sec, o->loaded) + ref.offset, tmp, size);
	lua_pop(L, 1);
}

static int globals_index(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, lua_upvalueindex(1));

	return object_get_global(L, o, luaL_checkstring(L, 2));
}

static int globals_newindex(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, lua_upvalueindex(1));

	sh_globals_set(L, o, luaL_checkstring(L, 2), 3);
	return 0;
}

/* pairs(obj.globals): every global of every datasec with its current value. */
static int globals_pairs_next(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, lua_upvalueindex(1));
	lua_Integer sec = lua_tointeger(L, lua_upvalueindex(2));
	lua_Integer var = lua_tointeger(L, lua_upvalueindex(3));

	if (!o->btf)
		return 0;
	if (!o->ndatasec)
		sh_globals_map(o);
	for (; sec < o->ndatasec; sec++, var = 0) {
		__u32 sec_id = bpf_map__btf_value_type_id(o->datasec[sec].map);
		const struct btf_type *t = sec_id ? btf__type_by_id(o->btf, sec_id) : NULL;

		if (!t || !btf_is_datasec(t) || var >= btf_vlen(t))
			continue;
		const struct btf_var_secinfo *vs = btf_var_secinfos(t) + var;
		const char *name =
			btf__name_by_offset(o->btf, btf__type_by_id(o->btf, vs->type)->name_off);

		lua_pushinteger(L, sec);
		lua_replace(L, lua_upvalueindex(2));
		lua_pushinteger(L, var + 1);
		lua_replace(L, lua_upvalueindex(3));
		lua_pushstring(L, name);
		object_get_global(L, o, name);
		return 2;
	}
	return 0;
}

static int globals_pairs(lua_State *L)
{
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "__object");
	lua_pushinteger(L, 0);
	lua_pushinteger(L, 0);
	lua_pushcclosure(L, globals_pairs_next, 3);
	return 1;
}

static int globals_tostring(lua_State *L)
{
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "__object");
	struct sh_object *o = sh_object_check(L, -1);
	lua_pushfstring(L, "sockhost globals of '%s'", object_name(o));
	return 1;
}

void sh_globals_push_proxy(lua_State *L, int obj_idx)
{
	obj_idx = lua_absindex(L, obj_idx);
	lua_getiuservalue(L, obj_idx, 1);
	if (lua_getfield(L, -1, "globals") == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_createtable(L, 0, 2);
		lua_pushvalue(L, obj_idx);
		lua_pushcclosure(L, globals_index, 1);
		lua_setfield(L, -2, "__index");
		lua_pushvalue(L, obj_idx);
		lua_pushcclosure(L, globals_newindex, 1);
		lua_setfield(L, -2, "__newindex");
		lua_pushvalue(L, obj_idx);
		lua_setfield(L, -2, "__object");
		lua_pushcfunction(L, globals_pairs);
		lua_setfield(L, -2, "__pairs");
		lua_pushcfunction(L, globals_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_setmetatable(L, -2);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, "globals");
	}
	lua_remove(L, -2);
}
