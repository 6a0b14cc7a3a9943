// SPDX-License-Identifier: GPL-2.0
/*
 * base/facts.c: sockhost.cgroup2_root(), bpf_dir(), scripts_dir(), tool_names(), pid(), now(),
 * wallclock(), cgroup_id(path), term_columns() (base/facts.h). Stateless.
 */
#include <errno.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/facts.h"
#include "base/fs.h"
#include "base/mounts.h"
#include "base/paths.h"

static int l_cgroup2_root(lua_State *L)
{
	char root[PATH_MAX];

	if (!sh_cgroup2_root(root, sizeof(root)))
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

/* sockhost.wallclock(): CLOCK_REALTIME seconds (microseconds in the fraction), the "ts" of
 * NDJSON records */
static int l_wallclock(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)(ts.tv_nsec / 1000) / 1e6);
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

static int l_scripts_dir(lua_State *L)
{
	lua_pushstring(L, sh_scripts_dir());
	return 1;
}

/* sockhost.tool_names([dir]) -> the names of the *.lua files in dir (default: scripts_dir()),
 * sorted, without the suffix. */
static int l_tool_names(lua_State *L)
{
	const char *dir = luaL_optstring(L, 1, sh_scripts_dir());
	size_t n, i;
	char **names;

	lua_settop(L, 1);
	lua_createtable(L, 8, 0);
	names = sh_dir_names(dir, ".lua", &n);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	sh_dir_names_free(names, n);
	return 1;
}

/* sockhost.term_columns() -> the width of the terminal on stdout, or nil when stdout is not
 * a terminal. */
static int l_term_columns(lua_State *L)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col)
		lua_pushnil(L);
	else
		lua_pushinteger(L, ws.ws_col);
	return 1;
}

int sh_facts_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "cgroup2_root", l_cgroup2_root },
		{ "bpf_dir", l_bpf_dir },
		{ "scripts_dir", l_scripts_dir },
		{ "tool_names", l_tool_names },
		{ "term_columns", l_term_columns },
		{ "pid", l_pid },
		{ "now", l_now },
		{ "wallclock", l_wallclock },
		{ "cgroup_id", l_cgroup_id },
		{ NULL, NULL },
	};

	luaL_setfuncs(L, funcs, 0);
	return 0;
}
