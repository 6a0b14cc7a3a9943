// SPDX-License-Identifier: GPL-2.0
/*
 * base/sockfd.c: socket-like Lua values to fds (base/sockfd.h). Borrowed, never dup'ed: the
 * caller decides whether to keep one.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/sockfd.h"

static bool fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int sh_check_sockfd(lua_State *L, int idx, const char *what)
{
	lua_Integer fd = -1;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		int isint = 0;

		fd = lua_tointegerx(L, idx, &isint);
		if (!isint)
			return luaL_error(L, "%s: fd must be an integer, got %s", what,
					  lua_tostring(L, idx));
	} else if ((lua_type(L, idx) == LUA_TUSERDATA || lua_type(L, idx) == LUA_TTABLE) &&
		   luaL_getmetafield(L, idx, "__index") != LUA_TNIL) {
		lua_pop(L, 1);
		/* LuaSocket and sockhost.socket expose their descriptor through :getfd() (LuaSocket
		 * gives it as a float, -1 once closed) */
		if (lua_getfield(L, idx, "getfd") == LUA_TFUNCTION) {
			int isnum = 0;

			lua_pushvalue(L, idx);
			lua_call(L, 1, 1);
			fd = lua_tointegerx(L, -1, &isnum);
			if (!isnum)
				fd = -1;
		}
		lua_pop(L, 1);
		if (fd < 0)
			return luaL_error(L, "%s: socket object has no open descriptor", what);
	} else {
		return luaL_error(L,
				  "%s: expected a socket (fd number, LuaSocket object or "
				  "sockhost.socket), got %s",
				  what, luaL_typename(L, idx));
	}
	if (fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
		return luaL_error(L, "%s: fd %I is not open", what, (LUAI_UACINT)fd);
	if (!fd_is_socket((int)fd))
		return luaL_error(L, "%s: fd %d is not a socket", what, (int)fd);
	return (int)fd;
}
