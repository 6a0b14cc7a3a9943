// SPDX-License-Identifier: GPL-2.0
/*
 * core.c: the sockhost.core module table. It registers each Lua type's file (one
 * sh_<type>_open per file) and the helpers every handle shares: the closed-handle check and
 * class construction. The module is opened once per lua_State; state that must be per
 * state (the loop) lives in that state's registry, never in C globals.
 */
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "sockhost.h"

void sh_push_weak_registry(lua_State *L, const char *key, const char *mode)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushstring(L, mode);
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, key);
}

void sh_new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods)
{
	luaL_newmetatable(L, mt);
	luaL_setfuncs(L, meta, 0);
	if (methods) {
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "methods");
	}
	lua_pop(L, 1);
}

static int l_cgroup2_root(lua_State *L)
{
	const char *root = sh_cgroup2_root();

	if (!root)
		return luaL_error(L, "no cgroup2 filesystem in /proc/mounts");
	lua_pushstring(L, root);
	return 1;
}

static int l_pid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

/* sockhost.now(): CLOCK_MONOTONIC seconds (the clock bpf_ktime_get_ns counts), for rates */
static int l_now(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

/* sockhost.cgroup_id(path): the id bpf_get_current_cgroup_id() and bpftool report for a
 * cgroup v2 directory (its kernfs inode number). */
static int l_cgroup_id(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = sh_open_cgroup(L, path);
	struct stat st;
	int rc = fstat(fd, &st);
	int err = errno;

	close(fd);
	if (rc < 0)
		return sh_raise_errno(L, err, NULL, "cgroup '%s'", path);
	lua_pushinteger(L, (lua_Integer)st.st_ino);
	return 1;
}

static int l_bpf_dir(lua_State *L)
{
	lua_pushstring(L, sh_bpf_dir());
	return 1;
}

int sh_core_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "cgroup2_root", l_cgroup2_root },
		{ "bpf_dir", l_bpf_dir },
		{ "pid", l_pid },
		{ "now", l_now },
		{ "cgroup_id", l_cgroup_id },
		{ NULL, NULL },
	};
	int (*const opens[])(lua_State *) = {
		sh_object_open, sh_program_open, sh_map_open, sh_link_open, sh_ringbuf_open,
		sh_socket_open, sh_loop_open, sh_features_open, sh_perfbuf_open, sh_events_open,
		sh_log_open, sh_tracepipe_open, sh_watch_open,
	};
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	/* Kernels since 5.11 charge BPF memory to the memory cgroup; older ones need the
	 * memlock limit raised. Where it cannot be raised that is not an error. */
	setrlimit(RLIMIT_MEMLOCK, &rl);
	sh_libbpf_log_init();

	lua_newtable(L);
	luaL_setfuncs(L, funcs, 0);
	for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++)
		opens[i](L);
	lua_pushstring(L, SOCKHOST_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}

int luaopen_sockhost_core(lua_State *L)
{
	return sh_core_open(L);
}
