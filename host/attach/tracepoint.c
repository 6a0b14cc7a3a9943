// SPDX-License-Identifier: GPL-2.0
/*
 * attach/tracepoint.c: the tracepoint and raw tracepoint attach kinds: a bpf_link on
 * category:name (libbpf reads the event id from tracefs, mounted first when missing) or on a
 * raw tracepoint name, or where the program's SEC() says.
 */
#include <errno.h>
#include <stdio.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/fs.h"
#include "obj/program.h"

static void attach_tracepoint(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	struct bpf_link *bl;
	char target[200];

	sh_attach_need_object(L, p, "tracepoint attach");
	sh_ensure_tracefs(L, "tracepoint attach");
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
		bl = bpf_program__attach(p->prog);
	} else {
		const char *cat = luaL_checkstring(L, arg);
		const char *name = luaL_checkstring(L, arg + 1);

		snprintf(target, sizeof(target), "tracepoint %s:%s", cat, name);
		bl = bpf_program__attach_tracepoint(p->prog, cat, name);
	}
	sh_attach_fill_bpf_link(L, l, p, bl, errno, target);
}

static void attach_raw_tp(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	struct bpf_link *bl;
	char target[200];

	sh_attach_need_object(L, p, "raw tracepoint attach");
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
		bl = bpf_program__attach(p->prog);
	} else {
		const char *name = luaL_checkstring(L, arg);

		snprintf(target, sizeof(target), "raw tracepoint %s", name);
		bl = bpf_program__attach_raw_tracepoint(p->prog, name);
	}
	sh_attach_fill_bpf_link(L, l, p, bl, errno, target);
}

static const enum bpf_prog_type tp_types[] = { BPF_PROG_TYPE_TRACEPOINT, 0 };
static const enum bpf_prog_type raw_types[] = { BPF_PROG_TYPE_RAW_TRACEPOINT, 0 };

const struct sh_attach_ops sh_attach_tracepoint = {
	.name = "tracepoint",
	.prog_types = tp_types,
	.target = "a category and a name, or nothing (SEC)",
	.attach = attach_tracepoint,
	.detach = sh_attach_bpf_link_detach,
	.pin = sh_attach_bpf_link_pin,
};

const struct sh_attach_ops sh_attach_raw_tracepoint = {
	.name = "raw_tracepoint",
	.prog_types = raw_types,
	.target = "a raw tracepoint name, or nothing (SEC)",
	.attach = attach_raw_tp,
	.detach = sh_attach_bpf_link_detach,
	.pin = sh_attach_bpf_link_pin,
};
