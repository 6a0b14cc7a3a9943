// SPDX-License-Identifier: GPL-2.0
/*
 * obj/load.c: bpf_object__load with the verifier's log taken through libbpf's own API
 * (bpf_program__set_log_buf), never scraped from printed output: the buffer is a userdata
 * of this Lua state (kept in its registry, reused by each load), so two states loading at
 * once (two threads) each get their own log. libbpf loads programs in order and asks for a log only after a program was
 * refused, so one buffer serves every program: it holds the log of the one that failed, which
 * is the first autoloaded program left without an fd.
 *
 * After a load, the hooks registered with sh_object_on_load run (events/ subscribes the BPF
 * log ring that way), so obj/ never calls a layer above it.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/libbpf_log.h"
#include "obj/globals.h"
#include "obj/load.h"
#include "obj/object.h"

#define LOAD_LOG_SIZE (4u << 20)
#define HOOKS_KEY     "sockhost.object.load_hooks"
#define LOG_KEY	      "sockhost.object.verifier_log"

void sh_object_on_load(lua_State *L, lua_CFunction hook)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, HOOKS_KEY);
	lua_pushcfunction(L, hook);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
}

static void run_hooks(lua_State *L, int idx)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, HOOKS_KEY) == LUA_TTABLE) {
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TFUNCTION; i++) {
			lua_pushvalue(L, idx);
			lua_call(L, 1, 0);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* The state's verifier log buffer: one userdata in the registry, made on the first load and
 * reused by every load after it (the kernel writes only the pages a log needs). */
static char *state_log_buf(lua_State *L)
{
	char *buf;

	if (lua_getfield(L, LUA_REGISTRYINDEX, LOG_KEY) == LUA_TUSERDATA) {
		buf = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return buf;
	}
	lua_pop(L, 1);
	buf = lua_newuserdatauv(L, LOAD_LOG_SIZE, 0);
	lua_setfield(L, LUA_REGISTRYINDEX, LOG_KEY);
	return buf;
}

static void set_log_bufs(struct bpf_object *obj, char *buf, size_t size)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj)
		bpf_program__set_log_buf(p, buf, size);
}

static const char *failed_program(struct bpf_object *obj)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj)
		if (bpf_program__autoload(p) && bpf_program__fd(p) < 0)
			return bpf_program__name(p);
	return "?";
}

/*
 * What a load refused with EPERM/EACCES needed, from the kernel's own checks (kernel/bpf/
 * syscall.c: bpf_prog_load's is_net_admin_prog_type and is_perfmon_prog_type, map_create's
 * per-type capability): every program and map needs CAP_BPF once unprivileged BPF is off (the
 * default), tracing programs also CAP_PERFMON, network hooks and sockmap/devmap/xskmap maps
 * also CAP_NET_ADMIN. A socket filter needs CAP_BPF alone, so sockex1/2/3 say just that; the
 * raw socket they attach to says CAP_NET_RAW itself (net/socket.c). The string is static.
 */
static const char *perm_hint(struct bpf_object *obj)
{
	bool perfmon = false, net_admin = false;
	struct bpf_program *p;
	struct bpf_map *m;

	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p))
			continue;
		switch (bpf_program__type(p)) {
		case BPF_PROG_TYPE_KPROBE:
		case BPF_PROG_TYPE_TRACEPOINT:
		case BPF_PROG_TYPE_PERF_EVENT:
		case BPF_PROG_TYPE_RAW_TRACEPOINT:
		case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
		case BPF_PROG_TYPE_TRACING:
		case BPF_PROG_TYPE_LSM:
		case BPF_PROG_TYPE_STRUCT_OPS:
			perfmon = true;
			break;
		case BPF_PROG_TYPE_EXT:
			perfmon = net_admin = true;
			break;
		case BPF_PROG_TYPE_SOCKET_FILTER:
		case BPF_PROG_TYPE_CGROUP_SKB:
		case BPF_PROG_TYPE_SK_REUSEPORT:
			break;
		default: /* SCHED_CLS, XDP, SOCK_OPS, SK_MSG, CGROUP_SOCK* ...: network hooks */
			net_admin = true;
			break;
		}
	}
	bpf_object__for_each_map(m, obj) {
		switch (bpf_map__type(m)) {
		case BPF_MAP_TYPE_SOCKMAP:
		case BPF_MAP_TYPE_SOCKHASH:
		case BPF_MAP_TYPE_DEVMAP:
		case BPF_MAP_TYPE_DEVMAP_HASH:
		case BPF_MAP_TYPE_XSKMAP:
			net_admin = true;
			break;
		default:
			break;
		}
	}
	if (perfmon && net_admin)
		return "loading it needs root or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN";
	if (perfmon)
		return "loading it needs root or CAP_BPF+CAP_PERFMON";
	if (net_admin)
		return "loading it needs root or CAP_BPF+CAP_NET_ADMIN";
	return "loading it needs root or CAP_BPF";
}

/*
 * Where the whole verifier log is, for the error's last line. The log can run to megabytes,
 * more than a terminal shows: SOCKHOST_VERIFIER_LOG=/path writes it to that file
 * (truncated, mode 0600 when made), and err.log holds it for pcall users either way. The
 * string is pushed on the stack (lua_error discards it with the rest).
 */
static const char *save_log(lua_State *L, const char *log)
{
	const char *path = getenv("SOCKHOST_VERIFIER_LOG");
	size_t len = strlen(log);
	int fd, err = 0;

	if (!path || !*path)
		return "full log in err.log; SOCKHOST_VERIFIER_LOG=/path writes it to a file";
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
	} else {
		for (size_t off = 0; off < len && !err;) {
			ssize_t n = write(fd, log + off, len - off);

			if (n < 0 && errno != EINTR)
				err = errno;
			else if (n > 0)
				off += n;
		}
		if (close(fd) && !err)
			err = errno;
	}
	if (err)
		return lua_pushfstring(L, "full log in err.log; SOCKHOST_VERIFIER_LOG '%s': %s",
				       path, strerror(err));
	return lua_pushfstring(L, "full log in %s and err.log", path);
}

void sh_object_load(lua_State *L, int idx)
{
	struct sh_object *o = sh_object_check(L, idx);
	struct bpf_object *obj = sh_object_bpf(o);
	const char *last;
	char *log;
	int err;

	idx = lua_absindex(L, idx);
	if (o->loaded)
		luaL_error(L, "object '%s' is already loaded", bpf_object__name(obj));
	sh_globals_unmap(o);
	log = state_log_buf(L);
	log[0] = '\0';
	set_log_bufs(obj, log, LOAD_LOG_SIZE);
	sh_libbpf_log_reset();
	err = bpf_object__load(obj);
	set_log_bufs(obj, NULL, 0);
	if (err) {
		if (log[0])
			sh_raise_verifier(L, err, log, save_log(L, log),
					  "object '%s': program '%s' was rejected by the verifier",
					  o->path, failed_program(obj));
		/* libbpf's last word, unless it only repeats that the load failed */
		last = sh_libbpf_last_log();
		if (!strncmp(last, "failed to load object", 21))
			last = "";
		sh_raise_errno(L, err, (err == -EPERM || err == -EACCES) ? perm_hint(obj) : NULL,
			       "object '%s': load failed%s%s", o->path, *last ? ": " : "", last);
	}
	o->loaded = true;
	sh_globals_map(o);
	run_hooks(L, idx);
}
