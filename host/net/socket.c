// SPDX-License-Identifier: GPL-2.0
/*
 * net/socket.c: sockhost.socket, a raw AF_PACKET socket bound to one interface, as the
 * kernel's sockex samples open it for their socket filters. Owns the fd (h.live while open);
 * :getfd() answers as LuaSocket's does (-1 once closed), so every fd-taking function accepts
 * it the same way as a LuaSocket object.
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
#include <lauxlib.h>
#include "base/error.h"
#include "lua/class.h"
#include "net/socket.h"

#define SH_SOCKET_MT "sockhost.socket"

struct sh_socket {
	struct sh_handle h;
	int fd;
	unsigned int ifindex;
	char ifname[IF_NAMESIZE];
};

static const struct sh_class socket_class;

static struct sh_socket *check_socket(lua_State *L, int idx)
{
	return sh_handle_check(L, idx, &socket_class);
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
	s = sh_handle_new(L, &socket_class, sizeof(*s), 0);
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (s->fd < 0) {
		int err = errno;
		/* not BPF's capabilities: packet_create checks CAP_NET_RAW */
		const char *hint = err == EPERM || err == EACCES ?
					   "a raw AF_PACKET socket needs root or CAP_NET_RAW" :
					   NULL;

		return sh_raise_errno(L, err, hint, "raw socket on interface '%s'", ifname);
	}
	s->h.live = s;
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

/* LuaSocket's contract: the descriptor, or -1 once closed. */
static int l_getfd(lua_State *L)
{
	struct sh_socket *s = luaL_checkudata(L, 1, SH_SOCKET_MT);

	lua_pushinteger(L, s->h.live ? s->fd : -1);
	return 1;
}

static void socket_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_socket *s = (struct sh_socket *)h;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void socket_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_socket *s = (struct sh_socket *)h;

	lua_pushfstring(L, "raw on '%s' (fd %d)", s->ifname, s->fd);
}

static const luaL_Reg socket_methods[] = {
	{ "fd", l_fd },
	{ "getfd", l_getfd },
	{ "recv", l_recv },
	{ NULL, NULL },
};

static const struct sh_class socket_class = {
	.name = SH_SOCKET_MT,
	.close = socket_close,
	.describe = socket_describe,
	.methods = socket_methods,
};

int sh_socket_open(lua_State *L)
{
	sh_class_register(L, &socket_class);
	lua_pushcfunction(L, l_socket);
	lua_setfield(L, -2, "socket");
	return 0;
}
