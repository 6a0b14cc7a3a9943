// SPDX-License-Identifier: GPL-2.0
/*
 * attach/socket_filter.c: the socket filter attach kind, with aya's SocketFilter semantics:
 * one slot per socket (SO_ATTACH_BPF), attaching replaces, dropping the handle does not
 * detach, closing the socket does. Which link fills a socket's slot is kept per state in a
 * weak registry table keyed by socket cookie, so a link whose fd number was reused by
 * another socket, or whose program was replaced, never detaches someone else's filter.
 * Also sockhost.detach_filter(sock), which clears a slot whatever filled it.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/error.h"
#include "base/sockfd.h"
#include "lua/class.h"
#include "obj/program.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef SO_DETACH_BPF
#define SO_DETACH_BPF SO_DETACH_FILTER
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define FILTERS_KEY "sockhost.filters"

static __u64 sock_cookie(int fd)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

/* registry[FILTERS_KEY][cookie] = the link that filled the slot last (weak values) */
static void push_filters(lua_State *L)
{
	sh_push_weak_registry(L, FILTERS_KEY, "v");
}

/* Mark the link (if any) that holds the socket's slot as no longer attached. */
static void forget_slot(lua_State *L, __u64 cookie)
{
	push_filters(L);
	if (lua_rawgeti(L, -1, (lua_Integer)cookie) == LUA_TUSERDATA) {
		struct sh_link *old = luaL_testudata(L, -1, SH_LINK_MT);

		if (old)
			old->h.live = NULL;
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawseti(L, -2, (lua_Integer)cookie);
	lua_pop(L, 1);
}

/* l is the link userdata on top of the stack. */
static void attach_socket(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	int link_idx = lua_gettop(L);
	int pfd = sh_program_fd(L, p);
	char what[128];
	__u64 cookie;
	int fd;

	if (lua_type(L, arg) == LUA_TSTRING)
		luaL_error(L,
			   "program '%s' (%s) attaches to a socket (fd number, LuaSocket object or "
			   "sockhost.socket), got string '%s'",
			   p->name, sh_attach_ptype(p), lua_tostring(L, arg));
	snprintf(what, sizeof(what), "program '%s' (%s) attach", p->name, sh_attach_ptype(p));
	fd = sh_check_sockfd(L, arg, what);
	cookie = sock_cookie(fd);
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof(pfd)) < 0)
		sh_raise_errno(L, errno, NULL, "program '%s' (%s): attach to socket fd %d", p->name,
			       sh_attach_ptype(p), fd);
	forget_slot(L, cookie);
	l->kind = "socket_filter";
	l->target_fd = fd;
	l->sock_cookie = cookie;
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> socket fd %d", sh_attach_ptype(p), p->name,
		 fd);
	push_filters(L);
	lua_pushvalue(L, link_idx);
	lua_rawseti(L, -2, (lua_Integer)cookie);
	lua_pop(L, 1);
}

/* Detach only if the socket still exists and still holds our program (a later attach
 * replaced it, or the fd number was reused by another socket). */
static void detach_socket(lua_State *L, struct sh_link *l)
{
	bool ours;

	if (sock_cookie(l->target_fd) != l->sock_cookie)
		return;
	push_filters(L);
	lua_rawgeti(L, -1, (lua_Integer)l->sock_cookie);
	ours = lua_touserdata(L, -1) == (void *)l;
	lua_pop(L, 2);
	if (!ours)
		return;
	setsockopt(l->target_fd, SOL_SOCKET, SO_DETACH_BPF, NULL, 0);
	forget_slot(L, l->sock_cookie);
}

/* sockhost.detach_filter(sock): clear the slot whatever filled it. true if one was set. */
static int l_detach_filter(lua_State *L)
{
	int fd = sh_check_sockfd(L, 1, "detach_filter");
	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, &dummy, sizeof(dummy)) < 0) {
		if (errno == ENOENT) {
			lua_pushboolean(L, 0);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "detach_filter: socket fd %d", fd);
	}
	forget_slot(L, sock_cookie(fd));
	lua_pushboolean(L, 1);
	return 1;
}

static const enum bpf_prog_type types[] = { BPF_PROG_TYPE_SOCKET_FILTER, 0 };

const struct sh_attach_ops sh_attach_socket_filter = {
	.name = "socket_filter",
	.prog_types = types,
	.target = "a socket: fd, LuaSocket object or sockhost.socket",
	.attach = attach_socket,
	.detach = detach_socket,
	.keep_on_gc = true,
};

int sh_socket_filter_open(lua_State *L)
{
	lua_pushcfunction(L, l_detach_filter);
	lua_setfield(L, -2, "detach_filter");
	return 0;
}
