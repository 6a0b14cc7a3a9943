// SPDX-License-Identifier: GPL-2.0
/*
 * loop/watch.c: sockhost.watch(fd_or_socket, fn), a script-supplied fd in the loop. fn(w, what)
 * runs when the fd is readable (what = "in") or hung up / in error (what = "hup" or "err";
 * the watch ends after that call, since a hangup stays ready forever and would spin the
 * loop).
 *
 * The fd is borrowed, not dup'ed: closing the socket must really close it. The kernel drops a
 * closed file from the epoll set silently, and the fd number may be reused at once, so the
 * watch remembers the file's identity (st_dev, st_ino) and the loop checks it before every
 * wait: a watched fd that was closed (EBADF) or now names another file ends the watch and
 * stops the loop with an error that says so, instead of waiting forever or watching a
 * stranger's fd.
 *
 * Lifetime: while active the watch is referenced from the registry; user value 1 is fn,
 * 2 the socket object passed in (kept alive so its fd stays valid).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/sockfd.h"
#include "loop/loop.h"
#include "lua/class.h"

#define SH_WATCH_MT "sockhost.watch"

struct sh_watch {
	struct sh_handle h; /* h.live: the watch while active */
	struct sh_source src; /* src.fd < 0: cancelled */
	int fd; /* the fd as given, for messages */
	dev_t dev;
	ino_t ino;
	int self_ref;
};

static const struct sh_class watch_class;

static void watch_cancel(lua_State *L, struct sh_watch *w)
{
	w->h.live = NULL;
	if (w->src.fd < 0)
		return;
	sh_loop_del(L, &w->src);
	w->src.fd = -1;
	if (w->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, w->self_ref);
	w->self_ref = LUA_NOREF;
}

static bool same_file(struct sh_watch *w)
{
	struct stat st;

	return fstat(w->src.fd, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino;
}

static int on_check(lua_State *L, struct sh_source *src)
{
	struct sh_watch *w = src->ctx;

	if (same_file(w))
		return 0;
	watch_cancel(L, w);
	lua_pushfstring(L,
			"sockhost.watch: fd %d was closed while the loop watched it (cancel "
			"the watch with w:cancel() before closing its fd)",
			w->fd);
	sh_loop_fail(L);
	return -1;
}

static int on_ready(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_watch *w = src->ctx;
	const char *what = "in";
	bool last = false;
	int rc;

	if (events & EPOLLERR) {
		what = "err";
		last = true;
	} else if (events & EPOLLHUP) {
		what = "hup";
		last = true;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->self_ref); /* keeps w alive through the call */
	lua_getiuservalue(L, -1, 1);
	lua_pushvalue(L, -2);
	lua_pushstring(L, what);
	if (last)
		watch_cancel(L, w);
	rc = sh_loop_call(L, 2);
	lua_pop(L, 1);
	return rc;
}

/* Any fd for a number (pipes, timerfds, inotify ...); socket objects as everywhere else. */
static int check_fd(lua_State *L, int idx)
{
	int isint = 0;
	lua_Integer n;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return sh_check_sockfd(L, idx, "sockhost.watch");
	n = lua_tointegerx(L, idx, &isint);
	if (!isint)
		return luaL_error(L, "sockhost.watch: fd must be an integer, got %s",
				  lua_tostring(L, idx));
	if (n < 0 || n > INT32_MAX || fcntl((int)n, F_GETFD) < 0)
		return luaL_error(L, "sockhost.watch: fd %I is not open", n);
	return (int)n;
}

/* sockhost.watch(fd_or_socket, fn) -> watch */
static int l_watch(lua_State *L)
{
	int fd = check_fd(L, 1);
	struct sh_watch *w;
	struct stat st;

	if (!lua_isfunction(L, 2)) {
		if (!luaL_getmetafield(L, 2, "__call"))
			return luaL_error(L, "sockhost.watch: callback must be callable, got %s",
					  luaL_typename(L, 2));
		lua_pop(L, 1);
	}
	if (fstat(fd, &st) < 0)
		return sh_raise_errno(L, errno, NULL, "sockhost.watch: fd %d", fd);
	lua_settop(L, 2);
	w = sh_handle_new(L, &watch_class, sizeof(*w), 2);
	w->src.fd = -1;
	w->self_ref = LUA_NOREF;
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 2);
	w->fd = fd;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->src.fd = fd;
	w->src.dispatch = on_ready;
	w->src.check = on_check;
	w->src.ctx = w;
	sh_loop_add(L, &w->src);
	w->h.live = w;
	lua_pushvalue(L, -1);
	w->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_cancel(lua_State *L)
{
	watch_cancel(L, luaL_checkudata(L, 1, SH_WATCH_MT));
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct sh_watch *w = luaL_checkudata(L, 1, SH_WATCH_MT);

	lua_pushfstring(L, "%s (fd %d%s)", SH_WATCH_MT, w->fd, w->src.fd < 0 ? ", cancelled" : "");
	return 1;
}

static int l_index(lua_State *L)
{
	struct sh_watch *w = luaL_checkudata(L, 1, SH_WATCH_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "fd"))
		lua_pushinteger(L, w->fd);
	else if (!strcmp(k, "active"))
		lua_pushboolean(L, w->src.fd >= 0);
	else if (!strcmp(k, "cancel"))
		lua_pushcfunction(L, l_cancel);
	else
		lua_pushnil(L);
	return 1;
}

static void watch_close(lua_State *L, int idx, struct sh_handle *h)
{
	watch_cancel(L, (struct sh_watch *)h);
}

static const luaL_Reg watch_meta[] = {
	{ "__index", l_index },
	{ "__tostring", l_tostring },
	{ NULL, NULL },
};

static const struct sh_class watch_class = {
	.name = SH_WATCH_MT,
	.close = watch_close,
	.meta = watch_meta,
};

int sh_watch_open(lua_State *L)
{
	sh_class_register(L, &watch_class);
	lua_pushcfunction(L, l_watch);
	lua_setfield(L, -2, "watch");
	return 0;
}
