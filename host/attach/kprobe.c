// SPDX-License-Identifier: GPL-2.0
/*
 * attach/kprobe.c: the kprobe/kretprobe attach kind: a perf-event bpf_link on a kernel
 * function (+offset), or where the program's SEC() says. libbpf uses the kprobe PMU when the
 * kernel has one, else tracefs' kprobe_events. A kernel without kprobes fails with the
 * reason features/ finds (asked about kprobes only) and the tracepoint alternative.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/error.h"
#include "base/fs.h"
#include "lua/opts.h"
#include "features/features.h"
#include "obj/program.h"

static void kprobe_failure(lua_State *L, struct sh_program *p, int err, const char *target)
{
	char why[256];

	if (sh_feature_missing("kprobe", why, sizeof(why)))
		luaL_error(L, "program '%s' (kprobe): cannot attach to %s: %s", p->name, target,
			   why);
	sh_raise_errno(L, err, NULL, "program '%s' (kprobe): attach to %s", p->name, target);
}

static void attach_kprobe(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	LIBBPF_OPTS(bpf_kprobe_opts, opts);
	const char *sec, *func;
	struct bpf_link *bl;
	char target[200];

	sh_attach_need_object(L, p, "kprobe attach");
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) != 0)
		sh_ensure_tracefs(L, "kprobe attach");
	sec = bpf_program__section_name(p->prog);
	opts.retprobe = !strncmp(sec, "kretprobe", 9);
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", sec);
		bl = bpf_program__attach(p->prog);
	} else {
		func = luaL_checkstring(L, arg);
		opts.offset = lua_isnoneornil(L, arg + 1) ?
				      0 :
				      (size_t)sh_check_range(L, arg + 1, 0, INT32_MAX,
							     "kprobe attach: offset");
		snprintf(target, sizeof(target), "%s %s+%zu",
			 opts.retprobe ? "kretprobe" : "kprobe", func, opts.offset);
		bl = bpf_program__attach_kprobe_opts(p->prog, func, &opts);
	}
	if (!bl)
		kprobe_failure(L, p, errno, target);
	sh_attach_fill_bpf_link(L, l, p, bl, 0, target);
}

static const enum bpf_prog_type types[] = { BPF_PROG_TYPE_KPROBE, 0 };

const struct sh_attach_ops sh_attach_kprobe = {
	.name = "kprobe",
	.prog_types = types,
	.target = "a kernel function name and offset, or nothing (SEC)",
	.attach = attach_kprobe,
	.detach = sh_attach_bpf_link_detach,
	.pin = sh_attach_bpf_link_pin,
};
