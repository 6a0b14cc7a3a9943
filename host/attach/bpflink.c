// SPDX-License-Identifier: GPL-2.0
/*
 * attach/bpflink.c: what the attach kinds share (attach/attach.h): naming, the pinned-program
 * guard, and the detach/pin of every kind whose attachment is a libbpf struct bpf_link.
 */
#include <errno.h>
#include <stdio.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/error.h"
#include "obj/program.h"

const char *sh_attach_ptype(const struct sh_program *p)
{
	return sh_prog_type_name(sh_program_type(p));
}

void sh_attach_need_object(lua_State *L, const struct sh_program *p, const char *what)
{
	if (!p->prog)
		luaL_error(L,
			   "program '%s' (%s) was opened from a pin: %s needs the program's "
			   "object (open it with sockhost.open)",
			   p->name, sh_attach_ptype(p), what);
}

void sh_attach_fill_bpf_link(lua_State *L, struct sh_link *l, const struct sh_program *p,
			     struct bpf_link *bl, int err, const char *target)
{
	if (!bl)
		sh_raise_errno(L, err, NULL, "program '%s' (%s): attach to %s", p->name,
			       sh_attach_ptype(p), target);
	l->link = bl;
	l->kind = "bpf_link";
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> %s", sh_attach_ptype(p), p->name, target);
}

void sh_attach_bpf_link_detach(lua_State *L, struct sh_link *l)
{
	if (l->link)
		bpf_link__destroy(l->link);
	l->link = NULL;
}

int sh_attach_bpf_link_pin(struct sh_link *l, const char *path)
{
	return bpf_link__pin(l->link, path); /* 0 or -errno (libbpf 1.x) */
}
