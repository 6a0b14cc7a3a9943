// SPDX-License-Identifier: GPL-2.0
/*
 * lsocket.c: sockhost.socket, a raw AF_PACKET socket bound to one interface, as the kernel's
 * sockex samples open it for their socket filters. Owns the fd; -1 means closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "internal.h"

struct sh_socket {
	int fd;
	unsigned int ifindex;
	char ifname[IF_NAMESIZE];
};

static struct sh_socket *check_socket(lua_State *L, int idx)
{
	struct sh_socket *s = luaL_checkudata(L, idx, SH_SOCKET_MT);

	if (s->fd < 0)
		luaL_error(L, "attempt to use a closed %s", SH_SOCKET_MT);
	return s;
}

static int l_socket(lua_State *L)
{
	const char *ifname = luaL_checkstring(L, 1);
	struct sockaddr_ll sll;
	struct sh_socket *s;
	unsigned int ifindex;

	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return luaL_error(L, "interface '%s' does not exist", ifname);
	s = lua_newuserdatauv(L, sizeof(*s), 0);
	s->fd = -1;
	luaL_setmetatable(L, SH_SOCKET_MT);
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (s->fd < 0)
		return sh_raise_errno(L, errno, NULL, "raw socket on interface '%s'", ifname);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	sll.sll_protocol = htons(ETH_P_ALL);
	if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return sh_raise_errno(L, errno, NULL, "bind raw socket to interface '%s'", ifname);
	s->ifindex = ifindex;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	return 1;
}

static int l_fd(lua_State *L)
{
	lua_pushinteger(L, check_socket(L, 1)->fd);
	return 1;
}

/* Read one pending frame without blocking: the frame, or nil when none is queued. */
static int l_recv(lua_State *L)
{
	struct sh_socket *s = check_socket(L, 1);
	char buf[65536];
	ssize_t n = recv(s->fd, buf, sizeof(buf), 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			lua_pushnil(L);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "recv on '%s'", s->ifname);
	}
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

static int l_close(lua_State *L)
{
	struct sh_socket *s = luaL_checkudata(L, 1, SH_SOCKET_MT);

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct sh_socket *s = luaL_checkudata(L, 1, SH_SOCKET_MT);

	if (s->fd < 0)
		lua_pushfstring(L, "%s (closed)", SH_SOCKET_MT);
	else
		lua_pushfstring(L, "%s raw on '%s' (fd %d)", SH_SOCKET_MT, s->ifname, s->fd);
	return 1;
}

int sh_socket_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__gc", l_close },
		{ "__close", l_close },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "fd", l_fd },
		{ "getfd", l_fd },
		{ "recv", l_recv },
		{ "close", l_close },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_SOCKET_MT, meta, methods);
	luaL_getmetatable(L, SH_SOCKET_MT);
	lua_getfield(L, -1, "methods");
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_socket);
	lua_setfield(L, -2, "socket");
	return 0;
}
