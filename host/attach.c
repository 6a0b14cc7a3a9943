// SPDX-License-Identifier: GPL-2.0
/*
 * attach.c: one entry per attach kind ({kind, attach, describe}, as ply has one ops struct
 * per provider), chosen from the program type. Each attach function reads its target from
 * the Lua arguments, makes the kernel attachment and pushes a sockhost.link that owns it.
 * Wherever the kernel offers a bpf_link it is used, so the kernel detaches when the process
 * dies, even on SIGKILL. Socket filters follow aya's SocketFilter: one slot per socket,
 * attaching replaces, dropping the handle does not detach, closing the socket does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sh_features.h"
#include "internal.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef SO_DETACH_BPF
#define SO_DETACH_BPF SO_DETACH_FILTER
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define FILTERS_KEY "sockhost.filters"

static const char *ptype(struct sh_program *p)
{
	const char *s = libbpf_bpf_prog_type_str(sh_program_type(p));

	return s ? s : "unknown";
}

/* Fill l, a closed link handle pushed BEFORE the attach (liolib's newprefile: a memory error
 * while pushing cannot leak an attached bpf_link), or raise with the attach's errno. */
static void fill_bpf_link(lua_State *L, struct sh_link *l, struct sh_program *p,
			  struct bpf_link *bl, int err, const char *target)
{
	if (!bl)
		sh_raise_errno(L, err, NULL, "program '%s' (%s): attach to %s", p->name, ptype(p),
			       target);
	l->link = bl;
	l->kind = SH_LINK_BPF;
	l->attached = true;
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> %s", ptype(p), p->name, target);
}

static void need_libbpf_program(lua_State *L, struct sh_program *p, const char *what)
{
	if (!p->prog)
		luaL_error(L, "program '%s' (%s) was opened from a pin: %s needs the program's "
			   "object (open it with sockhost.open)", p->name, ptype(p), what);
}

/* ---- cgroup (sock_ops, cgroup_skb, cgroup_sock, sock_addr, sockopt, ...) -------------------- */

static int attach_cgroup(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	const char *path;
	struct bpf_link *bl;
	struct sh_link *l;
	char target[300];
	int cg, err;

	if (lua_isnoneornil(L, arg)) {
		path = sh_cgroup2_root();
		if (!path)
			return luaL_error(L, "program '%s': no cgroup2 filesystem in /proc/mounts "
					  "to attach to", p->name);
	} else if (lua_type(L, arg) == LUA_TSTRING) {
		path = lua_tostring(L, arg);
	} else {
		return luaL_error(L, "program '%s' (%s) attaches to a cgroup v2 directory path, "
				  "got %s", p->name, ptype(p), luaL_typename(L, arg));
	}
	need_libbpf_program(L, p, "cgroup attach");
	lua_settop(L, arg); /* the handle goes above the target argument */
	l = sh_link_new(L);
	cg = sh_open_cgroup(L, path);
	bl = bpf_program__attach_cgroup(p->prog, cg);
	err = errno;
	close(cg);
	snprintf(target, sizeof(target), "cgroup %s", path);
	fill_bpf_link(L, l, p, bl, err, target);
	return 1;
}

/* ---- socket filter ------------------------------------------------------------------------ */

static __u64 sock_cookie(int fd)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

/* registry[FILTERS_KEY][cookie] = the link that filled the slot last (weak values) */
static void push_filters(lua_State *L)
{
	sh_push_weak_registry(L, FILTERS_KEY, "v");
}

/* Mark the link (if any) that holds the socket's slot as no longer attached. */
static void forget_slot(lua_State *L, __u64 cookie)
{
	push_filters(L);
	if (lua_rawgeti(L, -1, (lua_Integer)cookie) == LUA_TUSERDATA) {
		struct sh_link *old = luaL_testudata(L, -1, SH_LINK_MT);

		if (old)
			old->attached = false;
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawseti(L, -2, (lua_Integer)cookie);
	lua_pop(L, 1);
}

static int attach_socket(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	int pfd = sh_program_fd(L, p);
	struct sh_link *l;
	char what[128];
	__u64 cookie;
	int fd;

	if (lua_type(L, arg) == LUA_TSTRING)
		return luaL_error(L, "program '%s' (%s) attaches to a socket (fd number, LuaSocket "
				  "object or sockhost.socket), got string '%s'", p->name, ptype(p),
				  lua_tostring(L, arg));
	snprintf(what, sizeof(what), "program '%s' (%s) attach", p->name, ptype(p));
	fd = sh_check_sockfd(L, arg, what);
	cookie = sock_cookie(fd);
	l = sh_link_new(L);
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof(pfd)) < 0)
		return sh_raise_errno(L, errno, NULL, "program '%s' (%s): attach to socket fd %d",
				      p->name, ptype(p), fd);
	forget_slot(L, cookie);
	l->kind = SH_LINK_SOCKFILTER;
	l->target_fd = fd;
	l->sock_cookie = cookie;
	l->attached = true;
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> socket fd %d", ptype(p), p->name, fd);
	push_filters(L);
	lua_pushvalue(L, -2);
	lua_rawseti(L, -2, (lua_Integer)cookie);
	lua_pop(L, 1);
	return 1;
}

/* Detach a socket filter link: only if its socket still exists and still holds our program
 * (a later attach replaced it, or the fd number was reused by another socket). */
void sh_socket_filter_detach(lua_State *L, struct sh_link *l)
{
	if (!l->attached)
		return;
	l->attached = false;
	if (sock_cookie(l->target_fd) != l->sock_cookie)
		return;
	push_filters(L);
	lua_rawgeti(L, -1, (lua_Integer)l->sock_cookie);
	bool ours = lua_touserdata(L, -1) == (void *)l;
	lua_pop(L, 2);
	if (!ours)
		return;
	setsockopt(l->target_fd, SOL_SOCKET, SO_DETACH_BPF, NULL, 0);
	forget_slot(L, l->sock_cookie);
}

/* sockhost.detach_filter(sock): clear the slot whatever filled it. true if one was set. */
int sh_detach_filter(lua_State *L)
{
	int fd = sh_check_sockfd(L, 1, "detach_filter");
	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, &dummy, sizeof(dummy)) < 0) {
		if (errno == ENOENT) {
			lua_pushboolean(L, 0);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "detach_filter: socket fd %d", fd);
	}
	forget_slot(L, sock_cookie(fd));
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- kprobe / kretprobe ------------------------------------------------------------------- */

static int kprobe_failure(lua_State *L, struct sh_program *p, int err, const char *target)
{
	char why[256];

	if (sh_feature_missing("kprobe", why, sizeof(why)))
		return luaL_error(L, "program '%s' (kprobe): cannot attach to %s: %s", p->name,
				  target, why);
	return sh_raise_errno(L, err, NULL, "program '%s' (kprobe): attach to %s", p->name,
			      target);
}

static int attach_kprobe(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	LIBBPF_OPTS(bpf_kprobe_opts, opts);
	const char *sec, *func;
	struct bpf_link *bl;
	struct sh_link *l;
	char target[200];

	need_libbpf_program(L, p, "kprobe attach");
	/* libbpf uses the kprobe PMU when the kernel has one, else tracefs' kprobe_events */
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) != 0)
		sh_ensure_tracefs(L, "kprobe attach");
	sec = bpf_program__section_name(p->prog);
	opts.retprobe = !strncmp(sec, "kretprobe", 9);
	lua_settop(L, arg + 1); /* the handle goes above the target arguments */
	l = sh_link_new(L);
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", sec);
		bl = bpf_program__attach(p->prog);
	} else {
		func = luaL_checkstring(L, arg);
		opts.offset = (size_t)luaL_optinteger(L, arg + 1, 0);
		snprintf(target, sizeof(target), "%s %s+%zu", opts.retprobe ? "kretprobe" : "kprobe",
			 func, opts.offset);
		bl = bpf_program__attach_kprobe_opts(p->prog, func, &opts);
	}
	if (!bl)
		return kprobe_failure(L, p, errno, target);
	fill_bpf_link(L, l, p, bl, 0, target);
	return 1;
}

/* ---- tracepoints -------------------------------------------------------------------------- */

static int attach_tracepoint(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	struct bpf_link *bl;
	struct sh_link *l;
	char target[200];

	need_libbpf_program(L, p, "tracepoint attach");
	sh_ensure_tracefs(L, "tracepoint attach");
	lua_settop(L, arg + 1); /* the handle goes above the target arguments */
	l = sh_link_new(L);
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
		bl = bpf_program__attach(p->prog);
	} else {
		const char *cat = luaL_checkstring(L, arg);
		const char *name = luaL_checkstring(L, arg + 1);

		snprintf(target, sizeof(target), "tracepoint %s:%s", cat, name);
		bl = bpf_program__attach_tracepoint(p->prog, cat, name);
	}
	fill_bpf_link(L, l, p, bl, errno, target);
	return 1;
}

static int attach_raw_tp(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	struct bpf_link *bl;
	struct sh_link *l;
	char target[200];

	need_libbpf_program(L, p, "raw tracepoint attach");
	lua_settop(L, arg); /* the handle goes above the target argument */
	l = sh_link_new(L);
	if (lua_isnoneornil(L, arg)) {
		snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
		bl = bpf_program__attach(p->prog);
	} else {
		const char *name = luaL_checkstring(L, arg);

		snprintf(target, sizeof(target), "raw tracepoint %s", name);
		bl = bpf_program__attach_raw_tracepoint(p->prog, name);
	}
	fill_bpf_link(L, l, p, bl, errno, target);
	return 1;
}

/* tp_btf, fentry/fexit, fmod_ret, lsm: the target was fixed at load from the SEC() name. */
static int attach_auto(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	struct bpf_link *bl;
	struct sh_link *l;
	char target[200];

	need_libbpf_program(L, p, "attach");
	if (!lua_isnoneornil(L, arg))
		return luaL_error(L, "program '%s' (%s) attaches where its section '%s' says and "
				  "takes no target", p->name, ptype(p),
				  bpf_program__section_name(p->prog));
	snprintf(target, sizeof(target), "%s", bpf_program__section_name(p->prog));
	lua_settop(L, arg); /* the handle goes above the target argument */
	l = sh_link_new(L);
	bl = bpf_program__attach(p->prog);
	fill_bpf_link(L, l, p, bl, errno, target);
	return 1;
}

/* ---- sk_msg / sk_skb on a sockmap or sockhash --------------------------------------------- */

static int attach_sockmap(lua_State *L, int prog_idx, int arg)
{
	struct sh_program *p = sh_program_check(L, prog_idx);
	int pfd = sh_program_fd(L, p);
	enum bpf_attach_type at;
	struct sh_map *m;
	struct sh_link *l;
	int lfd, mfd, err;

	m = luaL_testudata(L, arg, SH_MAP_MT);
	if (!m)
		return luaL_error(L, "program '%s' (%s) attaches to a sockmap or sockhash map "
				  "handle, got %s", p->name, ptype(p), luaL_typename(L, arg));
	m = sh_map_check(L, arg);
	if (m->type != BPF_MAP_TYPE_SOCKMAP && m->type != BPF_MAP_TYPE_SOCKHASH)
		return luaL_error(L, "program '%s' (%s) attaches to a sockmap or sockhash, but "
				  "map '%s' is a %s map", p->name, ptype(p), m->name,
				  libbpf_bpf_map_type_str(m->type));
	mfd = m->fd >= 0 ? m->fd : bpf_map__fd(m->map);
	need_libbpf_program(L, p, "sockmap attach");
	at = bpf_program__expected_attach_type(p->prog);
	l = sh_link_new(L);
	/* Since 6.10 sockmap attachments can be links; older kernels need prog_attach. */
	lfd = bpf_link_create(pfd, mfd, at, NULL);
	if (lfd >= 0) {
		l->kind = SH_LINK_FD;
		l->link_fd = lfd;
	} else {
		/* the link owns its own fds: detaching must not depend on the handles' fds,
		 * which their owners may close (and the numbers be reused) first */
		l->kind = SH_LINK_PROG_ATTACH;
		l->prog_fd = fcntl(pfd, F_DUPFD_CLOEXEC, 0);
		l->target_fd = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
		if (l->prog_fd < 0 || l->target_fd < 0)
			return sh_raise_errno(L, errno, NULL, "program '%s' (%s): attach to map '%s'",
					      p->name, ptype(p), m->name);
		if (bpf_prog_attach(pfd, mfd, at, 0) < 0) {
			err = errno;
			return sh_raise_errno(L, err, NULL, "program '%s' (%s): attach to map '%s'",
					      p->name, ptype(p), m->name);
		}
	}
	l->attach_type = at;
	l->attached = true;
	snprintf(l->desc, sizeof(l->desc), "%s '%s' -> %s map '%s' (%s)", ptype(p), p->name,
		 libbpf_bpf_map_type_str(m->type), m->name, libbpf_bpf_attach_type_str(at));
	/* the link must keep the map (and its fd) alive */
	lua_pushvalue(L, arg);
	lua_setiuservalue(L, -2, 1);
	return 1;
}

static const struct sh_attach_kind kinds[] = {
	{ "cgroup", attach_cgroup, "a cgroup v2 directory path (default: the cgroup2 root)" },
	{ "socket", attach_socket, "a socket: fd, LuaSocket object or sockhost.socket" },
	{ "kprobe", attach_kprobe, "a kernel function name and offset, or nothing (SEC)" },
	{ "tracepoint", attach_tracepoint, "a category and a name, or nothing (SEC)" },
	{ "raw_tracepoint", attach_raw_tp, "a raw tracepoint name, or nothing (SEC)" },
	{ "auto", attach_auto, "nothing: the target comes from the section name" },
	{ "sockmap", attach_sockmap, "a sockmap or sockhash map handle" },
};

static const struct sh_attach_kind *sh_attach_kind_by_name(const char *kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].kind, kind))
			return &kinds[i];
	return NULL;
}

const struct sh_attach_kind *sh_attach_kind_for(struct sh_program *p)
{
	switch (sh_program_type(p)) {
	case BPF_PROG_TYPE_SOCK_OPS:
	case BPF_PROG_TYPE_CGROUP_SKB:
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
	case BPF_PROG_TYPE_CGROUP_SOCKOPT:
	case BPF_PROG_TYPE_CGROUP_SYSCTL:
	case BPF_PROG_TYPE_CGROUP_DEVICE:
		return sh_attach_kind_by_name("cgroup");
	case BPF_PROG_TYPE_SOCKET_FILTER:
		return sh_attach_kind_by_name("socket");
	case BPF_PROG_TYPE_KPROBE:
		return sh_attach_kind_by_name("kprobe");
	case BPF_PROG_TYPE_TRACEPOINT:
		return sh_attach_kind_by_name("tracepoint");
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		return sh_attach_kind_by_name("raw_tracepoint");
	case BPF_PROG_TYPE_TRACING:
	case BPF_PROG_TYPE_LSM:
		return sh_attach_kind_by_name("auto");
	case BPF_PROG_TYPE_SK_MSG:
	case BPF_PROG_TYPE_SK_SKB:
		return sh_attach_kind_by_name("sockmap");
	default:
		return NULL;
	}
}
