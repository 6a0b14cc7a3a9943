// SPDX-License-Identifier: GPL-2.0
/*
 * attach/cgroup.c: the cgroup attach kind (sock_ops, cgroup_skb, cgroup_sock, sock_addr,
 * sockopt, sysctl, device): a bpf_link on a cgroup v2 directory, by default the cgroup2 root
 * found in /proc/mounts.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/fs.h"
#include "base/mounts.h"
#include "obj/program.h"

static void attach_cgroup(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	char root[PATH_MAX], target[PATH_MAX + 16];
	const char *path;
	struct bpf_link *bl;
	int cg, err;

	if (lua_isnoneornil(L, arg)) {
		if (!sh_cgroup2_root(root, sizeof(root)))
			luaL_error(L,
				   "program '%s': no cgroup2 filesystem in /proc/mounts to attach "
				   "to",
				   p->name);
		path = root;
	} else if (lua_type(L, arg) == LUA_TSTRING) {
		path = lua_tostring(L, arg);
	} else {
		luaL_error(L, "program '%s' (%s) attaches to a cgroup v2 directory path, got %s",
			   p->name, sh_attach_ptype(p), luaL_typename(L, arg));
		return;
	}
	sh_attach_need_object(L, p, "cgroup attach");
	cg = sh_open_cgroup(L, path);
	bl = bpf_program__attach_cgroup(p->prog, cg);
	err = errno;
	close(cg);
	snprintf(target, sizeof(target), "cgroup %s", path);
	sh_attach_fill_bpf_link(L, l, p, bl, err, target);
}

static const enum bpf_prog_type types[] = {
	BPF_PROG_TYPE_SOCK_OPS,	      BPF_PROG_TYPE_CGROUP_SKB,
	BPF_PROG_TYPE_CGROUP_SOCK,    BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
	BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_PROG_TYPE_CGROUP_SYSCTL,
	BPF_PROG_TYPE_CGROUP_DEVICE,  0,
};

const struct sh_attach_ops sh_attach_cgroup = {
	.name = "cgroup",
	.prog_types = types,
	.target = "a cgroup v2 directory path (default: the cgroup2 root)",
	.attach = attach_cgroup,
	.detach = sh_attach_bpf_link_detach,
	.pin = sh_attach_bpf_link_pin,
};
