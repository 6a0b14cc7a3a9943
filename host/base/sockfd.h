/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/sockfd.h: how a Lua value names a socket or an fd.
 */
#ifndef SOCKHOST_BASE_SOCKFD_H
#define SOCKHOST_BASE_SOCKFD_H

#include <lua.h>

/* A socket-like Lua value -> its fd, or raises naming what it got ("<what>: ..."). Accepted:
 * an integer fd, or any object with a getfd() method (LuaSocket objects, sockhost.socket),
 * which returns a negative number when closed. The fd must be open and a socket. */
int sh_check_sockfd(lua_State *L, int idx, const char *what);

#endif
