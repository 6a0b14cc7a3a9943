// SPDX-License-Identifier: GPL-2.0
/*
 * lobject.c: sockhost.object, an opened (and usually loaded) BPF object file.
 *
 * Owns the bpf_object, the codec cache of its BTF and its own mmaps of .data/.bss. User
 * value 1 is a table holding the handles it gave out (progs, maps: so repeated lookups
 * return the same handle), a weak table of links made from its programs (closed with the
 * object) and the globals proxy. Programs and maps keep the object alive through their own
 * user value, so the object is collected only after them; once closed, they raise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"

#define EM_BPF_MACHINE 247
#define LOAD_LOG_SIZE (4u << 20)

struct sh_object *sh_object_check(lua_State *L, int idx)
{
	struct sh_object *o = luaL_checkudata(L, idx, SH_OBJECT_MT);

	if (!o->obj)
		luaL_error(L, "attempt to use a closed %s", SH_OBJECT_MT);
	return o;
}

/* uv[field] of the object at idx, pushed (creating an empty table on first use). */
static void push_uv_table(lua_State *L, int idx, const char *field, const char *mode)
{
	idx = lua_absindex(L, idx);
	lua_getiuservalue(L, idx, 1);
	if (lua_getfield(L, -1, field) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
		if (mode) {
			lua_createtable(L, 0, 1);
			lua_pushstring(L, mode);
			lua_setfield(L, -2, "__mode");
			lua_setmetatable(L, -2);
		}
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, field);
	}
	lua_remove(L, -2);
}

void sh_object_track_link(lua_State *L, int obj_idx, int link_idx)
{
	link_idx = lua_absindex(L, link_idx);
	push_uv_table(L, obj_idx, "links", "k");
	lua_pushvalue(L, link_idx);
	lua_pushboolean(L, 1);
	lua_settable(L, -3);
	lua_pop(L, 1);
}

/* ---- opening ------------------------------------------------------------------------------ */

/* Check the file before libbpf does, so the error says what is wrong with it. */
static void check_elf(lua_State *L, const char *path, const char *what)
{
	unsigned char hdr[20];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		sh_raise_errno(L, errno, NULL, "%s '%s'", what, path);
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n < 4 || memcmp(hdr, "\177ELF", 4))
		luaL_error(L, "%s '%s': not an ELF file", what, path);
	if (n < 20 || (hdr[18] | hdr[19] << 8) != EM_BPF_MACHINE)
		luaL_error(L, "%s '%s': ELF file is not a BPF object (e_machine %d, want EM_BPF)",
			   what, path, n < 20 ? -1 : hdr[18] | hdr[19] << 8);
}

/* Names of the built-in objects, for the error when a name matches none. */
static void push_builtin_names(lua_State *L)
{
	char cmd[512];
	luaL_Buffer b;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls '%s' 2>/dev/null", sh_bpf_dir());
	luaL_buffinit(L, &b);
	f = popen(cmd, "r");
	if (f) {
		char line[256];
		bool first = true;

		while (fgets(line, sizeof(line), f)) {
			char *dot = strstr(line, ".bpf.o");

			if (!dot)
				continue;
			*dot = '\0';
			if (!first)
				luaL_addstring(&b, ", ");
			luaL_addstring(&b, line);
			first = false;
		}
		pclose(f);
	}
	luaL_pushresult(&b);
}

static void resolve_path(lua_State *L, const char *name, char *path, size_t len)
{
	if (strchr(name, '/') || strstr(name, ".o")) {
		snprintf(path, len, "%s", name);
		return;
	}
	snprintf(path, len, "%s/%s.bpf.o", sh_bpf_dir(), name);
	if (access(path, R_OK) != 0) {
		push_builtin_names(L);
		luaL_error(L, "no built-in BPF object '%s' in %s (built-in: %s)", name,
			   sh_bpf_dir(), lua_tostring(L, -1));
	}
}

static void map_datasecs(struct sh_object *o)
{
	struct bpf_map *map;

	o->ndatasec = 0;
	bpf_object__for_each_map(map, o->obj) {
		struct sh_datasec *d;
		size_t size;

		if (!bpf_map__is_internal(map) || o->ndatasec == (int)(sizeof(o->datasec) /
								       sizeof(o->datasec[0])))
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
		void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 bpf_map__fd(map), 0);
		if (mem != MAP_FAILED)
			d->mem = mem;
	}
}

static void unmap_datasecs(struct sh_object *o)
{
	for (int i = 0; i < o->ndatasec; i++) {
		if (o->datasec[i].mem)
			munmap(o->datasec[i].mem, o->datasec[i].size);
		o->datasec[i].mem = NULL;
	}
	o->ndatasec = 0;
}

static const char *object_name(struct sh_object *o)
{
	return bpf_object__name(o->obj);
}

/* Push every program name as "a, b, c" for errors that list what exists. */
static void push_program_names(lua_State *L, struct sh_object *o)
{
	struct bpf_program *p;
	luaL_Buffer b;
	bool first = true;

	luaL_buffinit(L, &b);
	bpf_object__for_each_program(p, o->obj) {
		if (!first)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, bpf_program__name(p));
		first = false;
	}
	luaL_pushresult(&b);
}

static void push_map_names(lua_State *L, struct sh_object *o)
{
	struct bpf_map *m;
	luaL_Buffer b;
	bool first = true;

	luaL_buffinit(L, &b);
	bpf_object__for_each_map(m, o->obj) {
		if (bpf_map__is_internal(m))
			continue;
		if (!first)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, bpf_map__name(m));
		first = false;
	}
	luaL_pushresult(&b);
}

static struct bpf_program *find_program(lua_State *L, struct sh_object *o, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name);

	if (!p) {
		push_program_names(L, o);
		luaL_error(L, "object '%s' has no program '%s' (programs: %s)", object_name(o),
			   name, lua_tostring(L, -1));
	}
	return p;
}

static struct bpf_map *find_map(lua_State *L, struct sh_object *o, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);

	if (!m || bpf_map__is_internal(m)) {
		push_map_names(L, o);
		luaL_error(L, "object '%s' has no map '%s' (maps: %s)", object_name(o), name,
			   lua_tostring(L, -1));
	}
	return m;
}

/* ---- globals ------------------------------------------------------------------------------ */

struct global_ref {
	struct sh_datasec *sec;
	const struct sh_codec *codec;
	__u32 offset;
};

static bool find_global(lua_State *L, struct sh_object *o, const char *name,
			struct global_ref *ref)
{
	const struct btf *btf = o->btf;
	char err[256];

	if (!btf)
		luaL_error(L, "object '%s' has no BTF, so its globals cannot be typed "
			   "(compile with clang -g)", object_name(o));
	if (!o->ndatasec)
		map_datasecs(o);
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
			return true;
		}
	}
	return false;
}

static void push_global_names(lua_State *L, struct sh_object *o)
{
	luaL_Buffer b;
	bool first = true;

	luaL_buffinit(L, &b);
	for (int i = 0; o->btf && i < o->ndatasec; i++) {
		__u32 sec_id = bpf_map__btf_value_type_id(o->datasec[i].map);
		const struct btf_type *t = sec_id ? btf__type_by_id(o->btf, sec_id) : NULL;
		const struct btf_var_secinfo *vs;

		if (!t || !btf_is_datasec(t))
			continue;
		vs = btf_var_secinfos(t);
		for (int j = 0; j < btf_vlen(t); j++, vs++) {
			const struct btf_type *var = btf__type_by_id(o->btf, vs->type);

			if (!first)
				luaL_addstring(&b, ", ");
			luaL_addstring(&b, btf__name_by_offset(o->btf, var->name_off));
			first = false;
		}
	}
	luaL_pushresult(&b);
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

static void object_set_global(lua_State *L, struct sh_object *o, const char *name, int vidx)
{
	struct global_ref ref = check_global(L, o, name);
	size_t size = sh_codec_size(ref.codec);
	char what[128];
	void *tmp;

	if (o->loaded && ref.sec->readonly)
		luaL_error(L, "global '%s' is read-only after load (it is in .rodata: set it in "
			   "open's opts.globals or before obj:load())", name);
	if (o->loaded && !ref.sec->mem)
		luaL_error(L, "global '%s' cannot be written after load (its section is not "
			   "mmapable)", name);
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

	object_set_global(L, o, luaL_checkstring(L, 2), 3);
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
		map_datasecs(o);
	for (; sec < o->ndatasec; sec++, var = 0) {
		__u32 sec_id = bpf_map__btf_value_type_id(o->datasec[sec].map);
		const struct btf_type *t = sec_id ? btf__type_by_id(o->btf, sec_id) : NULL;

		if (!t || !btf_is_datasec(t) || var >= btf_vlen(t))
			continue;
		const struct btf_var_secinfo *vs = btf_var_secinfos(t) + var;
		const char *name = btf__name_by_offset(o->btf, btf__type_by_id(o->btf,
										 vs->type)->name_off);

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

static void push_globals_proxy(lua_State *L, int obj_idx)
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

/* ---- load --------------------------------------------------------------------------------- */

/* libbpf prints "prog 'x': -- BEGIN PROG LOAD LOG --\n...-- END PROG LOAD LOG --". */
static bool extract_verifier_log(const char *all, char *prog, size_t plen, const char **log,
				 size_t *len)
{
	const char *b = strstr(all, "-- BEGIN PROG LOAD LOG --");
	const char *e = b ? strstr(b, "-- END PROG LOAD LOG --") : NULL;
	const char *q;

	if (!b || !e)
		return false;
	prog[0] = '\0';
	for (q = b; q > all && q[-1] != '\n'; q--)
		;
	if (!strncmp(q, "libbpf: ", 8))
		q += 8;
	if (!strncmp(q, "prog '", 6)) {
		const char *end = strchr(q + 6, '\'');

		if (end && (size_t)(end - q - 6) < plen) {
			memcpy(prog, q + 6, end - q - 6);
			prog[end - q - 6] = '\0';
		}
	}
	b = strchr(b, '\n');
	*log = b ? b + 1 : e;
	*len = e - *log;
	return true;
}

static void object_load(lua_State *L, int idx)
{
	struct sh_object *o = sh_object_check(L, idx);
	char *cap;
	int err;

	if (o->loaded)
		luaL_error(L, "object '%s' is already loaded", object_name(o));
	unmap_datasecs(o);
	/* a userdata, so the collector frees it whichever error is raised below */
	cap = lua_newuserdatauv(L, LOAD_LOG_SIZE, 0);
	sh_libbpf_log_reset();
	sh_libbpf_log_capture(cap, LOAD_LOG_SIZE);
	err = bpf_object__load(o->obj);
	sh_libbpf_log_capture(NULL, 0);
	if (err) {
		char prog[64];
		const char *log;
		size_t len;

		if (extract_verifier_log(cap, prog, sizeof(prog), &log, &len)) {
			lua_pushlstring(L, log, len);
			sh_raise_verifier(L, err, lua_tostring(L, -1),
					  "object '%s': program '%s' was rejected by the verifier",
					  o->path, prog);
		}
		/* libbpf's last word, unless it only repeats that the load failed */
		const char *last = sh_libbpf_last_log();
		if (!strncmp(last, "libbpf: ", 8))
			last += 8;
		if (!strncmp(last, "failed to load object", 21))
			last = "";
		sh_raise_errno(L, err, NULL, "object '%s': load failed%s%s", o->path,
			       *last ? ": " : "", last);
	}
	lua_pop(L, 1); /* cap */
	o->loaded = true;
	map_datasecs(o);
	/* objects that log through include/sockhost/sockhost.bpf.h get their log ring subscribed */
	sh_log_attach_object(L, idx);
}

/* ---- options applied between open and load ------------------------------------------------ */

static void apply_programs(lua_State *L, int obj_idx, int list_idx)
{
	struct sh_object *o = sh_object_check(L, obj_idx);
	struct bpf_program *p;
	lua_Integer n = luaL_len(L, list_idx);

	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, list_idx, i);
		find_program(L, o, luaL_checkstring(L, -1));
		lua_pop(L, 1);
	}
	bpf_object__for_each_program(p, o->obj) {
		bool want = false;

		for (lua_Integer i = 1; i <= n && !want; i++) {
			lua_geti(L, list_idx, i);
			want = !strcmp(lua_tostring(L, -1), bpf_program__name(p));
			lua_pop(L, 1);
		}
		bpf_program__set_autoload(p, want);
	}
}

static void apply_maps(lua_State *L, int obj_idx, int tbl_idx)
{
	struct sh_object *o = sh_object_check(L, obj_idx);

	lua_pushnil(L);
	while (lua_next(L, tbl_idx)) {
		struct bpf_map *m = find_map(L, o, luaL_checkstring(L, -2));

		luaL_checktype(L, -1, LUA_TTABLE);
		if (lua_getfield(L, -1, "max_entries") != LUA_TNIL) {
			lua_Integer n = luaL_checkinteger(L, -1);

			if (n <= 0 || n > UINT32_MAX)
				luaL_error(L, "map '%s': max_entries %I out of range",
					   bpf_map__name(m), n);
			if (bpf_map__set_max_entries(m, (__u32)n))
				sh_raise_errno(L, errno, NULL, "map '%s': max_entries", bpf_map__name(m));
		}
		lua_pop(L, 2);
	}
}

static int l_open(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	struct sh_object *o;
	char path[256];
	int err;

	resolve_path(L, name, path, sizeof(path));
	check_elf(L, path, "object");
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);

	/* closed handle first, then the libbpf call (liolib's newprefile) */
	o = lua_newuserdatauv(L, sizeof(*o), 1);
	memset(o, 0, sizeof(*o));
	luaL_setmetatable(L, SH_OBJECT_MT);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	snprintf(o->path, sizeof(o->path), "%s", path);

	sh_libbpf_log_reset();
	o->obj = bpf_object__open_file(path, &oopts);
	err = errno;
	if (!o->obj) {
		const char *last = sh_libbpf_last_log();
		if (!strncmp(last, "libbpf: ", 8))
			last += 8;
		return sh_raise_errno(L, err, NULL, "object '%s': cannot open%s%s", path,
				      *last ? ": " : "", last);
	}
	o->btf = bpf_object__btf(o->obj);
	o->codecs = o->btf ? sh_codec_cache_new(o->btf) : NULL;

	int obj_idx = lua_gettop(L);
	if (lua_istable(L, 2)) {
		if (lua_getfield(L, 2, "programs") != LUA_TNIL) {
			luaL_checktype(L, -1, LUA_TTABLE);
			apply_programs(L, obj_idx, lua_gettop(L));
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "maps") != LUA_TNIL) {
			luaL_checktype(L, -1, LUA_TTABLE);
			apply_maps(L, obj_idx, lua_gettop(L));
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "globals") != LUA_TNIL) {
			int g = lua_gettop(L);

			luaL_checktype(L, g, LUA_TTABLE);
			lua_pushnil(L);
			while (lua_next(L, g)) {
				object_set_global(L, o, luaL_checkstring(L, -2), lua_gettop(L));
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		lua_getfield(L, 2, "load");
		bool load = lua_isnil(L, -1) || lua_toboolean(L, -1);
		lua_pop(L, 1);
		if (!load)
			return 1;
	}
	object_load(L, obj_idx);
	lua_settop(L, obj_idx);
	return 1;
}

/* ---- methods ------------------------------------------------------------------------------ */

static int l_load(lua_State *L)
{
	object_load(L, 1);
	lua_settop(L, 1);
	return 1;
}

/* Cached child handle uv[kind][name], made by push when absent. */
/* A cached program or map handle the script closed itself: hand out a fresh one. */
static bool child_closed(lua_State *L, int idx)
{
	struct sh_program *p = luaL_testudata(L, idx, SH_PROGRAM_MT);
	struct sh_map *m = luaL_testudata(L, idx, SH_MAP_MT);

	return (p && p->closed) || (m && m->closed);
}

static void push_child(lua_State *L, const char *kind, const char *name,
		       void (*push)(lua_State *, int, void *), void *child)
{
	push_uv_table(L, 1, kind, NULL);
	if (lua_getfield(L, -1, name) == LUA_TNIL || child_closed(L, -1)) {
		lua_pop(L, 1);
		push(L, 1, child);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, name);
	}
	lua_remove(L, -2);
}

static void push_prog_cb(lua_State *L, int obj_idx, void *p)
{
	sh_push_program(L, obj_idx, p);
}

static void push_map_cb(lua_State *L, int obj_idx, void *m)
{
	sh_push_map(L, obj_idx, m);
}

static int l_program(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	const char *name = luaL_checkstring(L, 2);

	push_child(L, "progs", name, push_prog_cb, find_program(L, o, name));
	return 1;
}

static int l_map(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	const char *name = luaL_checkstring(L, 2);

	push_child(L, "maps", name, push_map_cb, find_map(L, o, name));
	return 1;
}

/* obj:subscribe(mapname, type_name, fn [, opts]) == sockhost.ringbuf(obj:map(mapname), ...) */
static int l_subscribe(lua_State *L)
{
	lua_settop(L, 5);
	l_map(L);
	lua_replace(L, 1);
	lua_remove(L, 2);
	return sh_ringbuf_subscribe(L);
}

static int l_programs(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	struct bpf_program *p;
	int i = 0;

	lua_newtable(L);
	bpf_object__for_each_program(p, o->obj) {
		push_child(L, "progs", bpf_program__name(p), push_prog_cb, p);
		lua_rawseti(L, -2, ++i);
	}
	return 1;
}

static int l_maps(lua_State *L)
{
	struct sh_object *o = sh_object_check(L, 1);
	struct bpf_map *m;
	int i = 0;

	lua_newtable(L);
	bpf_object__for_each_map(m, o->obj) {
		if (bpf_map__is_internal(m))
			continue;
		push_child(L, "maps", bpf_map__name(m), push_map_cb, m);
		lua_rawseti(L, -2, ++i);
	}
	return 1;
}

static int l_close(lua_State *L)
{
	struct sh_object *o = luaL_checkudata(L, 1, SH_OBJECT_MT);

	if (!o->obj)
		return 0;
	/* detach links and end subscriptions made from this object before its fds go away */
	lua_getiuservalue(L, 1, 1);
	if (lua_istable(L, -1) && lua_getfield(L, -1, "links") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			lua_pop(L, 1);
			if (luaL_callmeta(L, -1, "__close"))
				lua_pop(L, 1);
		}
	}
	lua_settop(L, 1);
	unmap_datasecs(o);
	bpf_object__close(o->obj);
	o->obj = NULL;
	sh_codec_cache_free(o->codecs);
	o->codecs = NULL;
	o->btf = NULL;
	return 0;
}

static int l_index(lua_State *L)
{
	struct sh_object *o = luaL_checkudata(L, 1, SH_OBJECT_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "globals")) {
		sh_object_check(L, 1);
		push_globals_proxy(L, 1);
	} else if (!strcmp(k, "name")) {
		sh_object_check(L, 1);
		lua_pushstring(L, object_name(o));
	} else if (!strcmp(k, "path")) {
		lua_pushstring(L, o->path);
	} else if (!strcmp(k, "loaded")) {
		lua_pushboolean(L, o->obj && o->loaded);
	} else {
		luaL_getmetafield(L, 1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct sh_object *o = luaL_checkudata(L, 1, SH_OBJECT_MT);

	if (!o->obj)
		lua_pushfstring(L, "%s (closed)", SH_OBJECT_MT);
	else
		lua_pushfstring(L, "%s '%s' (%s, %s)", SH_OBJECT_MT, object_name(o), o->path,
				o->loaded ? "loaded" : "not loaded");
	return 1;
}

int sh_object_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", l_index },
		{ "__gc", l_close },
		{ "__close", l_close },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "load", l_load },
		{ "program", l_program },
		{ "map", l_map },
		{ "programs", l_programs },
		{ "maps", l_maps },
		{ "subscribe", l_subscribe },
		{ "close", l_close },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_OBJECT_MT, meta, methods);
	lua_pushcfunction(L, l_open);
	lua_setfield(L, -2, "open");
	return 0;
}
