// SPDX-License-Identifier: GPL-2.0
/*
 * attach/tracing.c: the attach kind of BTF-typed programs (tp_btf, fentry/fexit, fmod_ret,
 * lsm): the target was fixed at load from the SEC() name, so attach takes none.
 */
#include <errno.h>
#include <stdio.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "obj/program.h"

static void attach_auto(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	struct bpf_link *bl;
	char target[200];

	sh_attach_need_object(L, p, "attach");
	if (!lua_isnoneornil(L, arg))
		luaL_error(L,
			   "program '%s' (%s) attaches where its section '%s' says and takes no "
			   "target",
			   p->name, sh_attach_ptype(p), bpf_program__section_name(p->prog));
	snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
	bl = bpf_program__attach(p->prog);
	sh_attach_fill_bpf_link(L, l, p, bl, errno, target);
}

static const enum bpf_prog_type types[] = { BPF_PROG_TYPE_TRACING, BPF_PROG_TYPE_LSM, 0 };

const struct sh_attach_ops sh_attach_tracing = {
	.name = "tracing",
	.prog_types = types,
	.target = "nothing: the target comes from the section name",
	.attach = attach_auto,
	.detach = sh_attach_bpf_link_detach,
	.pin = sh_attach_bpf_link_pin,
};
