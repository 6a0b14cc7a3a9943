// SPDX-License-Identifier: GPL-2.0
/*
 * obj/map/kinds.c: what differs between kinds of sockhost.map. Which operations each kind has
 * (a clear error instead of the kernel's EINVAL/ENOTSUPP), the queue/stack methods
 * (:push, :pop, :peek), index checks for array-like maps, and the messages for updates the
 * kernel refuses for a kind-specific reason: a program of the wrong type in a prog array, a
 * socket that cannot go into a sockmap, a full map. Stateless: everything is read from the
 * handle, the kernel (fdinfo, getsockopt) or the Lua arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "obj/map/map_int.h"
#include "base/sockfd.h"
#include "obj/program.h"

bool sh_map_is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

bool sh_map_has_holes(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PROG_ARRAY || t == BPF_MAP_TYPE_CGROUP_ARRAY ||
	       t == BPF_MAP_TYPE_ARRAY_OF_MAPS || t == BPF_MAP_TYPE_DEVMAP ||
	       t == BPF_MAP_TYPE_CPUMAP || t == BPF_MAP_TYPE_XSKMAP || t == BPF_MAP_TYPE_SOCKMAP;
}

bool sh_map_is_fixed(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
}

bool sh_map_is_indexed(enum bpf_map_type t)
{
	return sh_map_is_fixed(t) || sh_map_has_holes(t) || t == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
}

static bool is_hash(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_LRU_HASH ||
	       t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool is_queue(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_QUEUE || t == BPF_MAP_TYPE_STACK;
}

static bool has_no_elements(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_RINGBUF || t == BPF_MAP_TYPE_USER_RINGBUF ||
	       t == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
}

static bool is_sockmap(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_SOCKMAP || t == BPF_MAP_TYPE_SOCKHASH;
}

void sh_map_require(lua_State *L, struct sh_map *m, enum sh_map_op op, const char *what)
{
	const char *kind = sh_map_type_name(m->type);

	if (op == SH_MAP_OP_QUEUE) {
		if (!is_queue(m->type))
			luaL_error(L,
				   "map '%s' is a %s map: :%s() works on queue and stack maps only",
				   m->name, kind, what);
		return;
	}
	if (has_no_elements(m->type))
		luaL_error(L,
			   "map '%s' is a %s: it has no elements to %s (subscribe to it with "
			   "sockhost.%s)",
			   m->name, kind, what,
			   m->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY ? "perfbuf" : "ringbuf");
	if (is_queue(m->type))
		luaL_error(L,
			   "map '%s' is a %s: it has no keys to %s (use :push(), :pop() and "
			   ":peek())",
			   m->name, kind, what);
	if ((op == SH_MAP_OP_DELETE || op == SH_MAP_OP_LOOKUP_DELETE) && sh_map_is_fixed(m->type))
		luaL_error(L,
			   "map '%s' is a %s: its elements cannot be deleted, only overwritten "
			   "(:clear() zeroes them all)",
			   m->name, kind);
	if (op == SH_MAP_OP_LOOKUP_DELETE && !is_hash(m->type))
		luaL_error(L,
			   "map '%s' is a %s: :lookup_and_delete() works on hash maps (hash, "
			   "lru_hash and their per-CPU variants) and queues",
			   m->name, kind);
	if ((op == SH_MAP_OP_LOOKUP || op == SH_MAP_OP_WALK) && is_sockmap(m->type) &&
	    m->value_size != 8)
		luaL_error(L,
			   "map '%s' is a %s with %d-byte values: the kernel reports its sockets "
			   "(as cookies) only for 8-byte values (__type(value, __u64))",
			   m->name, kind, (int)m->value_size);
}

void sh_map_check_index(lua_State *L, struct sh_map *m, const void *key, const char *op)
{
	const char *what = m->type == BPF_MAP_TYPE_PROG_ARRAY ? "prog array" :
								sh_map_type_name(m->type);
	__u32 i;

	if (!sh_map_is_indexed(m->type) || m->key_size != 4)
		return;
	memcpy(&i, key, 4);
	if (i >= m->max_entries)
		luaL_error(L, "index %d out of range for %s '%s' (%d %s)", (int)i, what, m->name,
			   (int)m->max_entries, sh_map_is_fixed(m->type) ? "entries" : "slots");
}

/* ---- refused updates ---------------------------------------------------------------------- */

/* owner_prog_type of a prog array from its fdinfo: the type its programs have, or 0 when no
 * program has claimed it yet. */
static enum bpf_prog_type prog_array_owner(int fd)
{
	char path[64], line[128];
	unsigned int type = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "owner_prog_type: %u", &type) == 1)
			break;
	if (f)
		fclose(f);
	return (enum bpf_prog_type)type;
}

static int prog_array_refused(lua_State *L, struct sh_map *m, int err, int vidx)
{
	struct sh_program *p = sh_program_check(L, vidx);
	enum bpf_prog_type owner = prog_array_owner(sh_map_fd(L, m));
	enum bpf_prog_type type = sh_program_type(p);

	if (err == EINVAL && owner && owner != type)
		return luaL_error(L,
				  "program '%s' (%s) cannot go into prog array '%s' of %s "
				  "programs",
				  p->name, sh_prog_type_name(type), m->name,
				  sh_prog_type_name(owner));
	return sh_raise_errno(L, err,
			      err == EINVAL ? "the kernel found the program "
					      "incompatible with the array's other programs" :
					      NULL,
			      "program '%s' (%s) cannot go into prog array '%s'", p->name,
			      sh_prog_type_name(type), m->name);
}

static const char *const tcp_states[] = {
	"?",	 "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT",	"LAST_ACK", "LISTEN",	"CLOSING",   "NEW_SYN_RECV",
};

/* "TCP", "UDP", "unix", "AF_PACKET" ... for messages. */
static const char *sock_kind(int domain, int type, int proto, char *buf, size_t len)
{
	if (domain == AF_INET || domain == AF_INET6) {
		if (type == SOCK_STREAM && proto == IPPROTO_TCP)
			return "TCP";
		if (type == SOCK_DGRAM && proto == IPPROTO_UDP)
			return "UDP";
		snprintf(buf, len, "%s %s", domain == AF_INET ? "IPv4" : "IPv6",
			 type == SOCK_RAW   ? "raw" :
			 type == SOCK_DGRAM ? "datagram" :
					      "stream");
		return buf;
	}
	if (domain == AF_UNIX)
		return "unix";
	if (domain == AF_PACKET)
		return "AF_PACKET";
	if (domain == AF_NETLINK)
		return "netlink";
	snprintf(buf, len, "address family %d", domain);
	return buf;
}

/* The kernel says EOPNOTSUPP both for a family a sockmap cannot hold and for a socket in the
 * wrong state: ask the socket which it is. */
static int sockmap_refused(lua_State *L, struct sh_map *m, int err, int vidx)
{
	const char *kind = sh_map_type_name(m->type), *what;
	int fd = sh_check_sockfd(L, vidx, "socket"), domain = -1, type = -1, proto = -1;
	socklen_t len = sizeof(int);
	struct tcp_info ti;
	char buf[48];

	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	what = sock_kind(domain, type, proto, buf, sizeof(buf));
	if (err != EOPNOTSUPP && err != EINVAL)
		return sh_raise_errno(L, err, NULL, "map '%s' (%s): insert %s socket", m->name,
				      kind, what);
	if (!strcmp(what, "TCP")) {
		memset(&ti, 0, sizeof(ti));
		len = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    ti.tcpi_state < sizeof(tcp_states) / sizeof(tcp_states[0]))
			return luaL_error(L,
					  "map '%s' (%s): the TCP socket is not established "
					  "(state %s): only established or listening TCP sockets "
					  "can go into a %s",
					  m->name, kind, tcp_states[ti.tcpi_state], kind);
	}
	if (!strcmp(what, "UDP"))
		return luaL_error(L,
				  "map '%s' (%s): the UDP socket is not bound: bind or connect "
				  "it before it goes into a %s",
				  m->name, kind, kind);
	return luaL_error(L,
			  "map '%s' (%s): %s sockets cannot go into a %s (TCP, UDP, unix "
			  "and vsock sockets can)",
			  m->name, kind, what, kind);
}

int sh_map_update_failed(lua_State *L, struct sh_map *m, int err, int flags, int vidx)
{
	if (m->type == BPF_MAP_TYPE_PROG_ARRAY && err != E2BIG)
		return prog_array_refused(L, m, err, vidx);
	if (is_sockmap(m->type) && err != E2BIG && err != EEXIST && err != ENOENT)
		return sockmap_refused(L, m, err, vidx);
	if (err == E2BIG)
		return luaL_error(L, "map '%s': update failed: map full (%d entries)", m->name,
				  (int)m->max_entries);
	if (err == EEXIST && flags == BPF_NOEXIST)
		return luaL_error(L,
				  "map '%s': update with \"noexist\" failed: the key already "
				  "exists",
				  m->name);
	if (err == ENOENT && flags == BPF_EXIST)
		return luaL_error(L, "map '%s': update with \"exist\" failed: no such key",
				  m->name);
	return sh_raise_errno(L, err, NULL, "map '%s': update", m->name);
}

/* ---- queue and stack ---------------------------------------------------------------------- */

/* m:push(v [, "overwrite"]): "overwrite" drops the oldest element of a full map (BPF_EXIST) */
static int l_push(lua_State *L)
{
	static const char *const modes[] = { "fail", "overwrite", NULL };
	struct sh_map *m = sh_map_check(L, 1);
	int fd, flags;
	void *val;

	sh_map_require(L, m, SH_MAP_OP_QUEUE, "push");
	luaL_checkany(L, 2);
	flags = luaL_checkoption(L, 3, "fail", modes) ? BPF_EXIST : BPF_ANY;
	fd = sh_map_fd(L, m);
	val = sh_map_encode_value(L, m, 2, false);
	if (bpf_map_update_elem(fd, NULL, val, flags) < 0) {
		if (errno == E2BIG)
			return luaL_error(L, "map '%s': push failed: map full (%d entries)",
					  m->name, (int)m->max_entries);
		return sh_raise_errno(L, errno, NULL, "map '%s': push", m->name);
	}
	return 0;
}

static int take(lua_State *L, bool remove)
{
	struct sh_map *m = sh_map_check(L, 1);
	int fd, ret;
	void *val;

	sh_map_require(L, m, SH_MAP_OP_QUEUE, remove ? "pop" : "peek");
	fd = sh_map_fd(L, m);
	val = lua_newuserdatauv(L, m->value_size ? m->value_size : 1, 0);
	ret = remove ? bpf_map_lookup_and_delete_elem(fd, NULL, val) :
		       bpf_map_lookup_elem(fd, NULL, val);
	if (ret < 0) {
		if (errno == ENOENT) {
			lua_pushnil(L);
			return 1;
		}
		return sh_raise_errno(L, errno, NULL, "map '%s': %s", m->name,
				      remove ? "pop" : "peek");
	}
	sh_map_push_value(L, m, val, false, NULL);
	return 1;
}

static int l_pop(lua_State *L)
{
	return take(L, true);
}

static int l_peek(lua_State *L)
{
	return take(L, false);
}

const luaL_Reg sh_mapkinds_methods[] = {
	{ "push", l_push },
	{ "pop", l_pop },
	{ "peek", l_peek },
	{ NULL, NULL },
};
