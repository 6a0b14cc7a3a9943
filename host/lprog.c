// SPDX-License-Identifier: GPL-2.0
/*
 * lprog.c: sockhost.program, one program of an object (borrowed: user value 1 keeps the
 * object alive) or a program opened from a bpffs pin (owns its fd). Attaching is delegated
 * to the attach-kind table in attach.c; this file owns naming, info, pinning, test_run and
 * the run-time statistics switch (sockhost.enable_stats).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct sh_program *sh_program_check(lua_State *L, int idx)
{
	struct sh_program *p = luaL_checkudata(L, idx, SH_PROGRAM_MT);

	if (p->closed || (p->parent && !p->parent->obj))
		luaL_error(L, "attempt to use a closed %s", SH_PROGRAM_MT);
	return p;
}

int sh_program_fd(lua_State *L, struct sh_program *p)
{
	int fd;

	if (p->fd >= 0)
		return p->fd;
	fd = bpf_program__fd(p->prog);
	if (fd < 0)
		luaL_error(L, "program '%s' is not loaded: %s", p->name,
			   !p->parent->loaded ? "call obj:load() first" :
						"it was not selected to load (autoload off)");
	return fd;
}

enum bpf_prog_type sh_program_type(struct sh_program *p)
{
	return p->prog ? bpf_program__type(p->prog) : p->type;
}

static const char *type_name(enum bpf_prog_type t)
{
	const char *s = libbpf_bpf_prog_type_str(t);

	return s ? s : "unknown";
}

void sh_push_program(lua_State *L, int obj_idx, struct bpf_program *prog)
{
	struct sh_program *p;

	obj_idx = lua_absindex(L, obj_idx);
	p = lua_newuserdatauv(L, sizeof(*p), 1);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	luaL_setmetatable(L, SH_PROGRAM_MT);
	lua_pushvalue(L, obj_idx);
	lua_setiuservalue(L, -2, 1);
	p->parent = sh_object_check(L, obj_idx);
	p->prog = prog;
	p->type = bpf_program__type(prog);
	snprintf(p->name, sizeof(p->name), "%s", bpf_program__name(prog));
}

/* A program from a pin: takes ownership of fd. */
void sh_push_pinned_program(lua_State *L, int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	struct sh_program *p;

	p = lua_newuserdatauv(L, sizeof(*p), 1);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->closed = true;
	luaL_setmetatable(L, SH_PROGRAM_MT);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		int err = errno;

		close(fd);
		sh_raise_errno(L, err, NULL, "program info");
	}
	p->fd = fd;
	p->type = info.type;
	p->closed = false;
	snprintf(p->name, sizeof(p->name), "%s", info.name);
}

/* ---- info --------------------------------------------------------------------------------- */

static int l_info(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	int fd = sh_program_fd(L, p);
	struct bpf_prog_info info;
	__u32 len = sizeof(info), nmaps;
	__u32 *ids = NULL;
	char tag[2 * BPF_TAG_SIZE + 1];

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return sh_raise_errno(L, errno, NULL, "program '%s': info", p->name);
	nmaps = info.nr_map_ids;
	if (nmaps) {
		/* second call with room for the map ids the first call counted */
		ids = lua_newuserdatauv(L, nmaps * sizeof(*ids), 0);
		memset(&info, 0, sizeof(info));
		info.nr_map_ids = nmaps;
		info.map_ids = (__u64)(unsigned long)ids;
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
			return sh_raise_errno(L, errno, NULL, "program '%s': info", p->name);
		if (info.nr_map_ids < nmaps)
			nmaps = info.nr_map_ids;
	}
	for (int i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);

	lua_createtable(L, 0, 12);
	lua_pushinteger(L, info.id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, tag);
	lua_setfield(L, -2, "tag");
	lua_pushstring(L, type_name(info.type));
	lua_setfield(L, -2, "type");
	lua_pushstring(L, info.name);
	lua_setfield(L, -2, "name");
	lua_pushinteger(L, info.jited_prog_len);
	lua_setfield(L, -2, "jited_size");
	lua_pushinteger(L, info.xlated_prog_len);
	lua_setfield(L, -2, "xlated_size");
	lua_pushinteger(L, (lua_Integer)info.run_cnt);
	lua_setfield(L, -2, "run_cnt");
	lua_pushinteger(L, (lua_Integer)info.run_time_ns);
	lua_setfield(L, -2, "run_time_ns");
	lua_pushinteger(L, info.verified_insns);
	lua_setfield(L, -2, "verified_insns");
	lua_pushinteger(L, info.btf_id);
	lua_setfield(L, -2, "btf_id");
	lua_createtable(L, nmaps, 0);
	for (__u32 i = 0; i < nmaps; i++) {
		lua_pushinteger(L, ids[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "map_ids");
	return 1;
}

/* ---- pin ---------------------------------------------------------------------------------- */

static int l_pin(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const char *path = luaL_checkstring(L, 2);
	int fd = sh_program_fd(L, p);

	sh_ensure_bpffs(L, path);
	if (bpf_obj_pin(fd, path) < 0)
		return sh_raise_errno(L, errno, NULL, "program '%s': pin at '%s'", p->name, path);
	lua_settop(L, 1);
	return 1;
}

static int l_unpin(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const char *path = luaL_checkstring(L, 2);

	if (unlink(path) < 0)
		return sh_raise_errno(L, errno, NULL, "program '%s': unpin '%s'", p->name, path);
	lua_settop(L, 1);
	return 1;
}

/* ---- test_run ----------------------------------------------------------------------------- */

static int l_test_run(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	int fd = sh_program_fd(L, p);
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	size_t dlen = 0, clen = 0;
	const char *data = NULL, *ctx = NULL;
	void *out = NULL, *ctx_out = NULL;
	lua_Integer rep = 1;
	bool raw_tp;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (lua_getfield(L, 2, "data") != LUA_TNIL)
		data = luaL_checklstring(L, -1, &dlen);
	if (lua_getfield(L, 2, "ctx") != LUA_TNIL)
		ctx = luaL_checklstring(L, -1, &clen);
	if (lua_getfield(L, 2, "repeat") != LUA_TNIL) {
		rep = luaL_checkinteger(L, -1);
		if (rep < 1 || rep > INT32_MAX)
			return luaL_error(L, "test_run: repeat must be between 1 and %d, got %I",
					  INT32_MAX, rep);
	}
	/* a program may grow the packet (skb helpers); leave headroom in the output */
	size_t olen = dlen + 512;
	if (dlen) {
		out = lua_newuserdatauv(L, olen, 0);
		opts.data_in = data;
		opts.data_size_in = dlen;
		opts.data_out = out;
		opts.data_size_out = olen;
	}
	if (clen) {
		ctx_out = lua_newuserdatauv(L, clen, 0);
		opts.ctx_in = ctx;
		opts.ctx_size_in = clen;
		opts.ctx_out = ctx_out;
		opts.ctx_size_out = clen;
	}
	if (lua_getfield(L, 2, "cpu") != LUA_TNIL) {
		lua_Integer cpu = luaL_checkinteger(L, -1);
		int ncpu = libbpf_num_possible_cpus();

		if (cpu < 0 || cpu >= ncpu)
			return luaL_error(L, "test_run: cpu must be between 0 and %d, got %I",
					  ncpu - 1, (LUAI_UACINT)cpu);
		opts.cpu = (__u32)cpu;
		opts.flags = BPF_F_TEST_RUN_ON_CPU;
	}
	opts.repeat = (int)rep;
	raw_tp = sh_program_type(p) == BPF_PROG_TYPE_RAW_TRACEPOINT;
	if (raw_tp) {
		/* the kernel runs raw_tp programs once, without ctx_out: repeat here */
		opts.ctx_out = NULL;
		opts.ctx_size_out = 0;
		opts.repeat = 0;
		ctx_out = NULL;
	}
	for (lua_Integer i = 0; i < (raw_tp ? rep : 1); i++) {
		if (bpf_prog_test_run_opts(fd, &opts) == 0)
			continue;
		int err = errno;

		return sh_raise_errno(L, err, err == EOPNOTSUPP || err == 524 /* ENOTSUPP */ ?
					      "the kernel has no BPF_PROG_TEST_RUN for this type" :
					      NULL,
				      "program '%s' (%s): test_run", p->name,
				      type_name(sh_program_type(p)));
	}
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, opts.retval);
	lua_setfield(L, -2, "retval");
	lua_pushinteger(L, opts.duration);
	lua_setfield(L, -2, "duration_ns");
	if (out) {
		lua_pushlstring(L, out, opts.data_size_out);
		lua_setfield(L, -2, "data");
	}
	if (ctx_out) {
		lua_pushlstring(L, ctx_out, opts.ctx_size_out);
		lua_setfield(L, -2, "ctx");
	}
	return 1;
}

/* ---- attach ------------------------------------------------------------------------------- */

static int l_attach(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const struct sh_attach_kind *k = sh_attach_kind_for(p);

	sh_program_fd(L, p);
	if (!k)
		return luaL_error(L, "program '%s': sockhost cannot attach programs of type %s",
				  p->name, type_name(sh_program_type(p)));
	k->attach(L, 1, 2);
	if (p->parent) {
		lua_getiuservalue(L, 1, 1);
		sh_object_track_link(L, -1, -2);
		lua_pop(L, 1);
	}
	return 1;
}

/* ---- fields, lifecycle -------------------------------------------------------------------- */

static int l_index(lua_State *L)
{
	struct sh_program *p = luaL_checkudata(L, 1, SH_PROGRAM_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "name")) {
		lua_pushstring(L, p->name);
	} else if (!strcmp(k, "type")) {
		lua_pushstring(L, type_name(sh_program_type(sh_program_check(L, 1))));
	} else if (!strcmp(k, "section")) {
		sh_program_check(L, 1);
		lua_pushstring(L, p->prog ? bpf_program__section_name(p->prog) : "");
	} else if (!strcmp(k, "fd")) {
		lua_pushinteger(L, sh_program_fd(L, sh_program_check(L, 1)));
	} else if (!strcmp(k, "autoload")) {
		sh_program_check(L, 1);
		lua_pushboolean(L, p->prog ? bpf_program__autoload(p->prog) : 1);
	} else if (!strcmp(k, "loaded")) {
		lua_pushboolean(L, !p->closed && (p->fd >= 0 ||
						  (p->parent && p->parent->obj &&
						   bpf_program__fd(p->prog) >= 0)));
	} else {
		luaL_getmetafield(L, 1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

static int l_newindex(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const char *k = luaL_checkstring(L, 2);

	if (strcmp(k, "autoload"))
		return luaL_error(L, "program '%s': field '%s' cannot be set (only autoload)",
				  p->name, k);
	if (!p->prog || p->parent->loaded)
		return luaL_error(L, "program '%s': autoload can only change before load",
				  p->name);
	luaL_checktype(L, 3, LUA_TBOOLEAN);
	bpf_program__set_autoload(p->prog, lua_toboolean(L, 3));
	return 0;
}

static int l_close(lua_State *L)
{
	struct sh_program *p = luaL_checkudata(L, 1, SH_PROGRAM_MT);

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->closed = true;
	p->prog = NULL;
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct sh_program *p = luaL_checkudata(L, 1, SH_PROGRAM_MT);

	if (p->closed || (p->parent && !p->parent->obj))
		lua_pushfstring(L, "%s (closed)", SH_PROGRAM_MT);
	else
		lua_pushfstring(L, "%s '%s' (%s)", SH_PROGRAM_MT, p->name,
				type_name(sh_program_type(p)));
	return 1;
}

/* ---- sockhost.enable_stats ---------------------------------------------------------------- */

static int stats_close(lua_State *L)
{
	int *fd = luaL_checkudata(L, 1, SH_STATS_MT);

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return 0;
}

static int l_enable_stats(lua_State *L)
{
	int *fd = lua_newuserdatauv(L, sizeof(int), 0);

	*fd = -1;
	luaL_setmetatable(L, SH_STATS_MT);
	*fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (*fd < 0)
		return sh_raise_errno(L, errno, NULL, "enable_stats");
	return 1;
}

int sh_program_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", l_index },
		{ "__newindex", l_newindex },
		{ "__close", l_close },
		{ "__gc", l_close },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "attach", l_attach },
		{ "info", l_info },
		{ "pin", l_pin },
		{ "unpin", l_unpin },
		{ "test_run", l_test_run },
		{ "close", l_close },
		{ NULL, NULL },
	};
	static const luaL_Reg stats_meta[] = {
		{ "__gc", stats_close },
		{ "__close", stats_close },
		{ NULL, NULL },
	};
	static const luaL_Reg stats_methods[] = {
		{ "close", stats_close },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_PROGRAM_MT, meta, methods);
	sh_new_class(L, SH_STATS_MT, stats_meta, stats_methods);
	luaL_getmetatable(L, SH_STATS_MT);
	lua_getfield(L, -1, "methods");
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_enable_stats);
	lua_setfield(L, -2, "enable_stats");
	return 0;
}
