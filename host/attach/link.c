// SPDX-License-Identifier: GPL-2.0
/*
 * attach/link.c: program:attach and sockhost.link, one attachment. It picks the attach kind
 * from the program type and only calls the kind's ops (attach/attach.h): attach fills the
 * link, __close/:detach() call ops->detach, :pin() ops->pin. __gc detaches too, except for a
 * kind that keeps its attachment when the handle is dropped (a socket filter stays on its
 * socket, as in aya). A link made from an object's program is owned by the object
 * (sh_owner_track), so closing the object detaches it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/error.h"
#include "base/fs.h"
#include "lua/class.h"
#include "obj/program.h"

static const struct sh_attach_ops *const kinds[] = {
	&sh_attach_cgroup,     &sh_attach_socket_filter,  &sh_attach_kprobe,
	&sh_attach_tracepoint, &sh_attach_raw_tracepoint, &sh_attach_tracing,
	&sh_attach_sockmap,
};

static const struct sh_attach_ops *kind_for(enum bpf_prog_type type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		for (const enum bpf_prog_type *t = kinds[i]->prog_types; *t; t++)
			if (*t == type)
				return kinds[i];
	return NULL;
}

static const struct sh_class link_class;

static void link_detach(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_link *l = (struct sh_link *)h;

	l->ops->detach(L, l);
	lua_pushnil(L);
	lua_setiuservalue(L, idx, 1);
}

/*
 * A link the collector finds still attached was dropped by the script, almost always by
 * mistake (prog:attach(cg) without keeping the result): the program stops running at some
 * later collection, silently. Say so once, through Lua's warning channel (lua_warning): host/
 * never prints, and the embedder decides where warnings go (the sockhost executable turns
 * them on, stock lua5.4 shows them with -W). Not at lua_close: there every handle is
 * collected on purpose, and the collector runs with no caller below the finalizer (the same
 * holds for a collection the host triggers outside any call, which a script cannot cause).
 */
static void warn_collected(lua_State *L, const struct sh_link *l)
{
	lua_Debug ar;

	if (!lua_getstack(L, 1, &ar))
		return;
	lua_pushfstring(L,
			"sockhost: link %s, attached at %s, was garbage-collected and detached "
			"(keep the link, e.g. local link <close> = prog:attach(...), or call "
			"link:detach())",
			l->desc, l->where[0] ? l->where : "?");
	lua_warning(L, lua_tostring(L, -1), 0);
	lua_pop(L, 1);
}

static void link_collect(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_link *l = (struct sh_link *)h;

	if (l->ops->keep_on_gc)
		return; /* the target owns the attachment: closing it detaches */
	warn_collected(L, l);
	link_detach(L, idx, h);
	h->live = NULL;
}

/* "file:line" of the innermost Lua function on the stack (the script's call of attach, also
 * through pcall or a C helper), or "" */
static void script_where(lua_State *L, char *buf, size_t size)
{
	lua_Debug ar;

	buf[0] = '\0';
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline > 0) {
			snprintf(buf, size, "%s:%d", ar.short_src, ar.currentline);
			return;
		}
	}
}

/* program:attach(target...) -> link */
static int l_attach(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const struct sh_attach_ops *k = kind_for(sh_program_type(p));
	struct sh_link *l;
	int link_idx;

	sh_program_fd(L, p);
	if (!k)
		return luaL_error(L, "program '%s': sockhost cannot attach programs of type %s",
				  p->name, sh_attach_ptype(p));
	/* the handle goes above the target arguments (two at most) */
	lua_settop(L, lua_gettop(L) > 3 ? lua_gettop(L) : 3);
	l = sh_handle_new(L, &link_class, sizeof(*l), 1);
	link_idx = lua_gettop(L);
	l->target_fd = l->link_fd = l->prog_fd = -1;
	l->ops = k;
	script_where(L, l->where, sizeof(l->where));
	k->attach(L, p, 2, l);
	lua_settop(L, link_idx);
	l->h.live = (void *)k;
	if (p->parent) {
		lua_getiuservalue(L, 1, 1);
		sh_owner_track(L, -1, link_idx);
		lua_pop(L, 1);
	}
	return 1;
}

static int l_pin(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);
	const char *path = luaL_checkstring(L, 2);
	int err;

	if (!l->h.live)
		return luaL_error(L, "attempt to use a detached %s", SH_LINK_MT);
	if (!l->ops->pin || strcmp(l->kind, "bpf_link"))
		return luaL_error(L,
				  "link %s: this attachment is not a kernel link and cannot be "
				  "pinned",
				  l->desc);
	sh_ensure_bpffs(L, path);
	err = l->ops->pin(l, path);
	if (err)
		return sh_raise_errno(L, err, NULL, "link %s: pin at '%s'", l->desc, path);
	lua_settop(L, 1);
	return 1;
}

static int l_index(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "attached"))
		lua_pushboolean(L, l->h.live != NULL);
	else if (!strcmp(k, "kind"))
		lua_pushstring(L, l->kind ? l->kind : "bpf_link");
	else if (!strcmp(k, "target"))
		lua_pushstring(L, l->desc);
	else
		sh_class_method(L, 1, k);
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct sh_link *l = luaL_checkudata(L, 1, SH_LINK_MT);

	lua_pushfstring(L, "%s %s%s", SH_LINK_MT, l->desc, l->h.live ? "" : " (detached)");
	return 1;
}

static int l_detach(lua_State *L)
{
	sh_handle_close(L, 1, &link_class);
	return 0;
}

static const luaL_Reg link_methods[] = {
	{ "detach", l_detach },
	{ "close", l_detach },
	{ "pin", l_pin },
	{ NULL, NULL },
};

static const luaL_Reg link_meta[] = {
	{ "__index", l_index },
	{ "__tostring", l_tostring },
	{ NULL, NULL },
};

static const struct sh_class link_class = {
	.name = SH_LINK_MT,
	.close = link_detach,
	.collect = link_collect,
	.methods = link_methods,
	.meta = link_meta,
};

int sh_link_open(lua_State *L)
{
	static const luaL_Reg program_methods[] = {
		{ "attach", l_attach },
		{ NULL, NULL },
	};

	sh_class_register(L, &link_class);
	sh_class_add_methods(L, SH_PROGRAM_MT, program_methods);
	return 0;
}
