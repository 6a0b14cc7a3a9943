// SPDX-License-Identifier: GPL-2.0
/*
 * attach/sockmap.c: the sk_msg/sk_skb attach kind, on a sockmap or sockhash. Since Linux 6.10
 * the attachment can be a link (bpf_link_create; libbpf 1.1 has no attach_sockmap); older
 * kernels need bpf_prog_attach, undone with bpf_prog_detach2. The fallback owns CLOEXEC dups
 * of the program and map fds (aya's ProgAttachLink): detaching must not depend on the
 * handles' fds, which their owners may close (and the numbers be reused) first. The link's
 * user value 1 keeps the map handle alive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/error.h"
#include "obj/map.h"
#include "obj/program.h"

static void close_dups(struct sh_link *l)
{
	if (l->prog_fd >= 0)
		close(l->prog_fd);
	if (l->target_fd >= 0)
		close(l->target_fd);
	l->prog_fd = l->target_fd = -1;
}

/* l is the link userdata on top of the stack. */
static void attach_sockmap(lua_State *L, struct sh_program *p, int arg, struct sh_link *l)
{
	int link_idx = lua_gettop(L);
	int pfd = sh_program_fd(L, p);
	enum bpf_attach_type at;
	struct sh_map *m;
	int lfd, mfd, err;

	m = luaL_testudata(L, arg, SH_MAP_MT);
	if (!m)
		luaL_error(L,
			   "program '%s' (%s) attaches to a sockmap or sockhash map handle, got %s",
			   p->name, sh_attach_ptype(p), luaL_typename(L, arg));
	m = sh_map_check(L, arg);
	if (m->type != BPF_MAP_TYPE_SOCKMAP && m->type != BPF_MAP_TYPE_SOCKHASH)
		luaL_error(L,
			   "program '%s' (%s) attaches to a sockmap or sockhash, but map '%s' is "
			   "a %s map",
			   p->name, sh_attach_ptype(p), m->name, sh_map_type_name(m->type));
	mfd = sh_map_fd(L, m);
	sh_attach_need_object(L, p, "sockmap attach");
	at = bpf_program__expected_attach_type(p->prog);
	lfd = bpf_link_create(pfd, mfd, at, NULL);
	if (lfd >= 0) {
		l->kind = "bpf_link";
		l->link_fd = lfd;
	} else {
		l->kind = "prog_attach";
		l->prog_fd = fcntl(pfd, F_DUPFD_CLOEXEC, 0);
		l->target_fd = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
		if (l->prog_fd < 0 || l->target_fd < 0 || bpf_prog_attach(pfd, mfd, at, 0) < 0) {
			err = errno;
			close_dups(l);
			sh_raise_errno(L, err, NULL, "program '%s' (%s): attach to map '%s'",
				       p->name, sh_attach_ptype(p), m->name);
		}
	}
	l->attach_type = at;
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> %s map '%s' (%s)", sh_attach_ptype(p),
		 p->name, sh_map_type_name(m->type), m->name, libbpf_bpf_attach_type_str(at));
	lua_pushvalue(L, arg);
	lua_setiuservalue(L, link_idx, 1);
}

static void detach_sockmap(lua_State *L, struct sh_link *l)
{
	if (l->link_fd >= 0)
		close(l->link_fd);
	l->link_fd = -1;
	if (l->prog_fd >= 0 && l->target_fd >= 0)
		bpf_prog_detach2(l->prog_fd, l->target_fd, l->attach_type);
	close_dups(l);
}

static int pin_sockmap(struct sh_link *l, const char *path)
{
	if (l->link_fd < 0)
		return -EOPNOTSUPP;
	return bpf_obj_pin(l->link_fd, path) < 0 ? -errno : 0;
}

static const enum bpf_prog_type types[] = { BPF_PROG_TYPE_SK_MSG, BPF_PROG_TYPE_SK_SKB, 0 };

const struct sh_attach_ops sh_attach_sockmap = {
	.name = "sockmap",
	.prog_types = types,
	.target = "a sockmap or sockhash map handle",
	.attach = attach_sockmap,
	.detach = detach_sockmap,
	.pin = pin_sockmap,
};
