// SPDX-License-Identifier: GPL-2.0
/*
 * obj/program.c: sockhost.program (obj/program.h): naming, fields, info, test_run and the
 * run-time statistics switch (sockhost.enable_stats). Pinning is obj/pin.c; attach/ adds
 * program:attach to the class.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "lua/class.h"
#include "lua/opts.h"
#include "obj/object.h"
#include "obj/program.h"

struct sh_program *sh_program_check(lua_State *L, int idx)
{
	return sh_handle_check(L, idx, &sh_program_class);
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

enum bpf_prog_type sh_program_type(const struct sh_program *p)
{
	return p->prog ? bpf_program__type(p->prog) : p->type;
}

const char *sh_prog_type_name(enum bpf_prog_type t)
{
	const char *s = libbpf_bpf_prog_type_str(t);

	return s ? s : "unknown";
}

void sh_push_program(lua_State *L, int obj_idx, struct bpf_program *prog)
{
	struct sh_program *p;

	obj_idx = lua_absindex(L, obj_idx);
	p = sh_handle_new(L, &sh_program_class, sizeof(*p), 1);
	p->fd = -1;
	lua_pushvalue(L, obj_idx);
	lua_setiuservalue(L, -2, 1);
	p->parent = sh_object_check(L, obj_idx);
	p->h.parent = &p->parent->h;
	p->h.live = p;
	p->prog = prog;
	p->type = bpf_program__type(prog);
	snprintf(p->name, sizeof(p->name), "%s", bpf_program__name(prog));
}

/* A program from a pin: takes ownership of fd. */
void sh_push_pinned_program(lua_State *L, int fd, const struct bpf_prog_info *info)
{
	struct sh_program *p;

	p = sh_handle_new(L, &sh_program_class, sizeof(*p), 1);
	p->fd = fd;
	p->type = info->type;
	p->h.live = p;
	snprintf(p->name, sizeof(p->name), "%s", info->name);
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
	lua_pushstring(L, sh_prog_type_name(info.type));
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

	static const char *const run_opts[] = { "data", "ctx", "repeat", "cpu", NULL };

	luaL_checktype(L, 2, LUA_TTABLE);
	sh_opts_check(L, 2, "test_run", run_opts);
	if (sh_opt_get(L, 2, "test_run", "data", LUA_TSTRING, "a string of packet bytes") !=
	    LUA_TNIL)
		data = lua_tolstring(L, -1, &dlen);
	if (sh_opt_get(L, 2, "test_run", "ctx", LUA_TSTRING, "a string of context bytes") !=
	    LUA_TNIL)
		ctx = lua_tolstring(L, -1, &clen);
	if (lua_getfield(L, 2, "repeat") != LUA_TNIL)
		rep = sh_check_range(L, -1, 1, INT32_MAX, "test_run: repeat");
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
		lua_Integer cpu =
			sh_check_range(L, -1, 0, libbpf_num_possible_cpus() - 1, "test_run: cpu");

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

		return sh_raise_errno(L, err,
				      err == EOPNOTSUPP || err == 524 /* ENOTSUPP */ ?
					      "the kernel has no BPF_PROG_TEST_RUN for this type" :
					      NULL,
				      "program '%s' (%s): test_run", p->name,
				      sh_prog_type_name(sh_program_type(p)));
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

/* ---- fields, lifecycle -------------------------------------------------------------------- */

static int l_index(lua_State *L)
{
	struct sh_program *p = luaL_checkudata(L, 1, SH_PROGRAM_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "name")) {
		lua_pushstring(L, p->name);
	} else if (!strcmp(k, "type")) {
		lua_pushstring(L, sh_prog_type_name(sh_program_type(sh_program_check(L, 1))));
	} else if (!strcmp(k, "section")) {
		sh_program_check(L, 1);
		lua_pushstring(L, p->prog ? bpf_program__section_name(p->prog) : "");
	} else if (!strcmp(k, "fd")) {
		lua_pushinteger(L, sh_program_fd(L, sh_program_check(L, 1)));
	} else if (!strcmp(k, "autoload")) {
		sh_program_check(L, 1);
		lua_pushboolean(L, p->prog ? bpf_program__autoload(p->prog) : 1);
	} else if (!strcmp(k, "loaded")) {
		lua_pushboolean(L, !sh_handle_closed(&p->h) &&
					   (p->fd >= 0 || bpf_program__fd(p->prog) >= 0));
	} else {
		sh_class_method(L, 1, k);
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
		return luaL_error(L, "program '%s': autoload can only change before load", p->name);
	luaL_checktype(L, 3, LUA_TBOOLEAN);
	bpf_program__set_autoload(p->prog, lua_toboolean(L, 3));
	return 0;
}

static void program_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_program *p = (struct sh_program *)h;

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->prog = NULL;
}

static void program_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_program *p = (struct sh_program *)h;

	lua_pushfstring(L, "'%s' (%s)", p->name, sh_prog_type_name(sh_program_type(p)));
}

/* ---- sockhost.enable_stats ---------------------------------------------------------------- */

static void stats_close(lua_State *L, int idx, struct sh_handle *h)
{
	int *fd = (int *)(h + 1);

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static const struct sh_class stats_class = {
	.name = SH_STATS_MT,
	.close = stats_close,
};

static int l_enable_stats(lua_State *L)
{
	struct sh_handle *h = sh_handle_new(L, &stats_class, sizeof(*h) + sizeof(int), 0);
	int *fd = (int *)(h + 1);

	*fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (*fd < 0) {
		int err = errno;

		/* not the generic BPF hint: CAP_BPF is not enough for this command */
		return sh_raise_errno(L, err,
				      err == EPERM ? "BPF_ENABLE_STATS needs root or CAP_SYS_ADMIN" :
						     NULL,
				      "enable_stats");
	}
	h->live = fd;
	return 1;
}

static const luaL_Reg program_meta[] = {
	{ "__index", l_index },
	{ "__newindex", l_newindex },
	{ NULL, NULL },
};

static const luaL_Reg program_methods[] = {
	{ "info", l_info },
	{ "test_run", l_test_run },
	{ NULL, NULL },
};

const struct sh_class sh_program_class = {
	.name = SH_PROGRAM_MT,
	.close = program_close,
	.describe = program_describe,
	.methods = program_methods,
	.meta = program_meta,
};

int sh_program_open(lua_State *L)
{
	sh_class_register(L, &sh_program_class);
	sh_class_register(L, &stats_class);
	lua_pushcfunction(L, l_enable_stats);
	lua_setfield(L, -2, "enable_stats");
	return 0;
}
