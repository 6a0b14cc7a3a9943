// SPDX-License-Identifier: GPL-2.0
/*
 * embed.c: the embedding API of sockhost.h. A struct sockhost owns one lua_State with the
 * standard libraries and sockhost's module paths; sockhost_free() closes it, which runs every
 * __gc, so links detach and fds close. Every entry point that runs Lua does it under
 * lua_pcall and keeps the message of the last failure in the struct (a malloc'ed copy, so it
 * survives the Lua stack and the state's garbage collector) for sockhost_error().
 *
 * sockhost_openlibs() is also what the sockhost executable relies on to find lua/sockhost:
 * the build tree (<dir of the binary>/lua) wins over the install dir, so a freshly built
 * build/sockhost never picks up an older installed library; an installed binary (or
 * libsockhost.so) uses the share/lua/5.4 of the prefix it was installed into, found by the
 * relative path between the install dirs, so any --prefix works.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <bpf/libbpf.h>

#include "sockhost.h"
#include "events/events.h"
#include "loop/loop.h"
#include "lua/class.h"

#ifndef SOCKHOST_VERSION
#error "SOCKHOST_VERSION comes from CMakeLists.txt (project VERSION)"
#endif
#ifndef SOCKHOST_LUA_INSTALL_DIR
#error "SOCKHOST_LUA_INSTALL_DIR comes from CMakeLists.txt"
#endif

struct sockhost {
	lua_State *L;
	char *error; /* last failure, NULL when none */
};

const char *sockhost_version(void)
{
	return SOCKHOST_VERSION;
}

const char *sockhost_libbpf_version(void)
{
	return libbpf_version_string();
}

int sockhost_msghandler(lua_State *L)
{
	return sh_msghandler(L);
}

int sockhost_forced_signal(lua_State *L)
{
	return sh_loop_forced_signal(L);
}

long long sockhost_close_events(lua_State *L)
{
	return (long long)sh_evsrc_close_all(L);
}

lua_State *sockhost_lua(struct sockhost *sh)
{
	return sh->L;
}

const char *sockhost_error(struct sockhost *sh)
{
	return sh->error ? sh->error : "";
}

static void set_error(struct sockhost *sh, const char *msg)
{
	free(sh->error);
	sh->error = strdup(msg ? msg : "(no error message)");
}

/* The error value on top of the stack -> sh->error; pops it. Error objects with __tostring
 * (sh_raise_verifier's tables) keep their message. */
static void take_error(struct sockhost *sh)
{
	lua_State *L = sh->L;
	int top = lua_gettop(L);
	const char *msg;

	if (lua_type(L, -1) == LUA_TSTRING)
		msg = lua_tostring(L, -1);
	else if (luaL_callmeta(L, -1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
		msg = lua_tostring(L, -1);
	else
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
	set_error(sh, msg);
	lua_settop(L, top - 1);
}

/* Call the function below its narg arguments with the traceback handler; 0 or -1. Leaves
 * nresults values on success. */
static int docall(struct sockhost *sh, int narg, int nres)
{
	lua_State *L = sh->L;
	int status;

	status = sh_pcall(L, narg, nres);
	if (status != LUA_OK) {
		take_error(sh);
		return -1;
	}
	return 0;
}

/* ---- search paths ------------------------------------------------------------------------ */

/* Does dir/rel hold sockhost/init.lua? If so, leave the Lua root dir/rel in buf (canonical:
 * package.path then names no "bin/.."). */
static bool has_lua_tree(char *buf, size_t len, const char *dir, const char *rel)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (snprintf(buf, len, "%s/%s", dir, rel) >= (int)len ||
	    snprintf(path, sizeof(path), "%s/sockhost/init.lua", buf) >= (int)sizeof(path))
		return false;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (realpath(buf, real) && strlen(real) < len)
		strcpy(buf, real);
	return true;
}

/* Directory part of an absolute file name, in place. */
static void strip_file(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash == path)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
}

/* The Lua root beside the directory dir: the build tree's lua/, or the installed share/lua/5.4
 * by the relative path rel the install used. */
static bool lua_tree_beside(char *buf, size_t len, const char *dir, const char *rel)
{
	return has_lua_tree(buf, len, dir, "lua") || has_lua_tree(buf, len, dir, rel);
}

/*
 * The Lua root that belongs to the running binary: the build tree's lua/ (the binary's dir
 * holds lua/sockhost/init.lua), or the share/lua/5.4 of the prefix it was installed into;
 * else NULL. dladdr names the file this code was linked into (the executable, or a shared
 * library embedding libsockhost); /proc/self/exe covers a dladdr name found through PATH.
 */
static const char *lua_tree_dir(char *buf, size_t len)
{
	char tmp[PATH_MAX];
	Dl_info info;
	ssize_t n;

	if (dladdr((void *)lua_tree_dir, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
	    realpath(info.dli_fname, tmp)) {
		strip_file(tmp);
		if (lua_tree_beside(buf, len, tmp, SOCKHOST_EXE_TO_LUA) ||
		    has_lua_tree(buf, len, tmp, SOCKHOST_LIB_TO_LUA))
			return buf;
	}
	n = readlink("/proc/self/exe", tmp, sizeof(tmp) - 1);
	if (n > 0) {
		tmp[n] = '\0';
		strip_file(tmp);
		if (lua_tree_beside(buf, len, tmp, SOCKHOST_EXE_TO_LUA))
			return buf;
	}
	return NULL;
}

static int openlibs(lua_State *L)
{
	char dir[PATH_MAX];

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_sockhost_core);
	lua_setfield(L, -2, "sockhost.core");
	lua_pop(L, 1);

	lua_getglobal(L, "package");
	if (!lua_istable(L, -1))
		return luaL_error(L, "sockhost: the package library is not open");
	if (lua_tree_dir(dir, sizeof(dir)))
		lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
	else
		lua_pushliteral(L, SOCKHOST_LUA_INSTALL_DIR "/?.lua;" SOCKHOST_LUA_INSTALL_DIR
							    "/?/init.lua;");
	lua_getfield(L, -2, "path");
	if (lua_type(L, -1) == LUA_TSTRING)
		lua_concat(L, 2);
	else
		lua_pop(L, 1);
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	return 0;
}

void sockhost_openlibs(lua_State *L)
{
	lua_pushcfunction(L, openlibs);
	lua_call(L, 0, 0);
}

/* ---- the host ------------------------------------------------------------------------------ */

static int init_state(lua_State *L)
{
	luaL_openlibs(L);
	sockhost_openlibs(L);
	return 0;
}

struct sockhost *sockhost_new(void)
{
	struct sockhost *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->L = luaL_newstate();
	if (!sh->L)
		goto err_free_sh;
	lua_pushcfunction(sh->L, init_state);
	if (lua_pcall(sh->L, 0, 0, 0) != LUA_OK)
		goto err_close_state;
	return sh;

err_close_state:
	lua_close(sh->L);
err_free_sh:
	free(sh);
	errno = ENOMEM;
	return NULL;
}

void sockhost_free(struct sockhost *sh)
{
	if (!sh)
		return;
	lua_close(sh->L);
	free(sh->error);
	free(sh);
}

/* arg = {[0] = path, argv[0], ...}, then the chunk, then its arguments (lua.c's handle_script). */
static int dofile_setup(lua_State *L)
{
	const char *path = lua_touserdata(L, 1);
	char **argv = lua_touserdata(L, 2);
	int argc = (int)lua_tointeger(L, 3);
	int status, i;

	lua_createtable(L, argc, 1);
	lua_pushstring(L, path);
	lua_rawseti(L, -2, 0);
	for (i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");

	status = luaL_loadfile(L, strcmp(path, "-") == 0 ? NULL : path);
	if (status != LUA_OK)
		return lua_error(L);
	luaL_checkstack(L, argc, "too many arguments to script");
	for (i = 0; i < argc; i++)
		lua_pushstring(L, argv[i]);
	return argc + 1;
}

int sockhost_dofile(struct sockhost *sh, const char *path, int argc, char **argv)
{
	lua_State *L = sh->L;
	int top = lua_gettop(L);
	int nargs;

	if (!path || argc < 0 || (argc > 0 && !argv)) {
		set_error(sh, "sockhost_dofile: bad arguments");
		return -1;
	}
	/* Loading runs protected without a traceback: a syntax error has nothing to trace. */
	lua_pushcfunction(L, dofile_setup);
	lua_pushlightuserdata(L, (void *)path);
	lua_pushlightuserdata(L, argv);
	lua_pushinteger(L, argc);
	if (lua_pcall(L, 3, LUA_MULTRET, 0) != LUA_OK) {
		take_error(sh);
		return -1;
	}
	nargs = lua_gettop(L) - top - 1;
	if (docall(sh, nargs, 0) < 0) {
		lua_settop(L, top);
		return -1;
	}
	lua_settop(L, top);
	return 0;
}

int sockhost_dostring(struct sockhost *sh, const char *code, const char *chunkname)
{
	lua_State *L = sh->L;
	int top = lua_gettop(L);

	if (!code) {
		set_error(sh, "sockhost_dostring: no code");
		return -1;
	}
	if (luaL_loadbuffer(L, code, strlen(code), chunkname ? chunkname : "=sockhost") != LUA_OK) {
		take_error(sh);
		lua_settop(L, top);
		return -1;
	}
	if (docall(sh, 0, 0) < 0) {
		lua_settop(L, top);
		return -1;
	}
	lua_settop(L, top);
	return 0;
}

static int loop_fd(lua_State *L)
{
	lua_pushinteger(L, sh_loop_fd(L));
	return 1;
}

static int loop_step(lua_State *L)
{
	lua_pushinteger(L, sh_loop_step(L, (int)lua_tointeger(L, 1)));
	return 1;
}

/*
 * Both run without the traceback handler: an error stored by a callback is re-raised from
 * sh_loop_step, whose own traceback would only show this trampoline.
 */
int sockhost_fd(struct sockhost *sh)
{
	lua_State *L = sh->L;
	int top = lua_gettop(L);
	int fd;

	lua_pushcfunction(L, loop_fd);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		take_error(sh);
		lua_settop(L, top);
		return -1;
	}
	fd = (int)lua_tointeger(L, -1);
	lua_settop(L, top);
	return fd;
}

int sockhost_step(struct sockhost *sh, int timeout_ms)
{
	lua_State *L = sh->L;
	int top = lua_gettop(L);
	int n;

	lua_pushcfunction(L, loop_step);
	lua_pushinteger(L, timeout_ms);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		take_error(sh);
		lua_settop(L, top);
		return -1;
	}
	n = (int)lua_tointeger(L, -1);
	lua_settop(L, top);
	return n;
}
