// SPDX-License-Identifier: GPL-2.0
/*
 * llink.c: sockhost.link, one attachment. It owns what keeps the program attached: a
 * bpf_link, a raw link fd, or a prog_attach it must undo. __gc and __close detach; the one
 * exception is a socket filter, which (as in aya) stays on its socket when the handle is
 * dropped and goes with the socket. User value 1 keeps alive what the link needs (a map).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct sh_link *sh_link_new(lua_State *L)
{
	struct sh_link *l = lua_newuserdatauv(L, sizeof(*l), 1);

	memset(l, 0, sizeof(*l));
	l->target_fd = l->link_fd = l->prog_fd = -1;
	luaL_setmetatable(L, SH_LINK_MT);
	return l;
}

static void link_detach(lua_State *L, struct sh_link *l)
{
	switch (l->kind) {
	case SH_LINK_BPF:
		if (l->link)
			bpf_link__destroy(l->link);
		l->link = NULL;
		break;
	case SH_LINK_FD:
		if (l->link_fd >= 0)
			close(l->link_fd);
		l->link_fd = -1;
		break;
	case SH_LINK_PROG_ATTACH:
		if (l->attached && l->prog_fd >= 0)
			bpf_prog_detach2(l->prog_fd, l->target_fd, l->attach_type);
		if (l->prog_fd >= 0)
			close(l->prog_fd);
		if (l->target_fd >= 0)
			close(l->target_fd);
		l->prog_fd = l->target_fd = -1;
		break;
	case SH_LINK_SOCKFILTER:
		sh_socket_filter_detach(L, l);
		break;
	}
	l->attached = false;
	lua_pushnil(L);
	lua_setiuservalue(L, 1, 1);
}

static int l_detach(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);

	link_detach(L, l);
	return 0;
}

static int l_gc(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);

	if (l->kind == SH_LINK_SOCKFILTER)
		return 0; /* the socket owns the slot: closing it detaches */
	link_detach(L, l);
	return 0;
}

static int l_pin(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);
	const char *path = luaL_checkstring(L, 2);

	if (!l->attached)
		return luaL_error(L, "attempt to use a detached %s", SH_LINK_MT);
	sh_ensure_bpffs(L, path);
	if (l->kind == SH_LINK_BPF) {
		if (bpf_link__pin(l->link, path) < 0)
			return sh_raise_errno(L, errno, NULL, "link %s: pin at '%s'", l->desc, path);
	} else if (l->kind == SH_LINK_FD) {
		if (bpf_obj_pin(l->link_fd, path) < 0)
			return sh_raise_errno(L, errno, NULL, "link %s: pin at '%s'", l->desc, path);
	} else {
		return luaL_error(L, "link %s: this attachment is not a kernel link and cannot be "
				  "pinned", l->desc);
	}
	lua_settop(L, 1);
	return 1;
}

static int l_index(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);
	const char *k = luaL_checkstring(L, 2);
	static const char *const kinds[] = { "bpf_link", "bpf_link", "socket_filter",
					     "prog_attach" };

	if (!strcmp(k, "attached")) {
		lua_pushboolean(L, l->attached);
	} else if (!strcmp(k, "kind")) {
		lua_pushstring(L, kinds[l->kind]);
	} else if (!strcmp(k, "target")) {
		lua_pushstring(L, l->desc);
	} else {
		luaL_getmetafield(L, 1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);

	lua_pushfstring(L, "%s %s%s", SH_LINK_MT, l->desc, l->attached ? "" : " (detached)");
	return 1;
}

int sh_link_open(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", l_index },
		{ "__gc", l_gc },
		{ "__close", l_detach },
		{ "__tostring", l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg methods[] = {
		{ "detach", l_detach },
		{ "close", l_detach },
		{ "pin", l_pin },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_LINK_MT, meta, methods);
	lua_pushcfunction(L, sh_detach_filter);
	lua_setfield(L, -2, "detach_filter");
	return 0;
}
