/* SPDX-License-Identifier: GPL-2.0 */
/*
 * attach/attach.h: one ops struct per attach kind (ply's provider, aya's Link): which
 * program types it takes, how it attaches, detaches and pins. One file per kind fills one;
 * link.c picks the kind from the program type and only ever calls the ops. Wherever the
 * kernel offers a bpf_link it is used, so the kernel detaches when the process dies, even on
 * SIGKILL.
 */
#ifndef SOCKHOST_ATTACH_ATTACH_H
#define SOCKHOST_ATTACH_ATTACH_H

#include <stdbool.h>
#include <bpf/libbpf.h>
#include <lua.h>
#include "lua/class.h"

#define SH_LINK_MT "sockhost.link"

struct sh_program;
struct sh_link;

struct sh_attach_ops {
	const char *name; /* "cgroup", "socket_filter", ... */
	const enum bpf_prog_type *prog_types; /* the types it attaches, 0-terminated */
	const char *target; /* what it wants as target, for messages */
	/* Attach p to the target in the Lua arguments from arg on, filling l (closed, on top of
	 * the stack: liolib's newprefile, so a raise leaks nothing). Raises. */
	void (*attach)(lua_State *L, struct sh_program *p, int arg, struct sh_link *l);
	/* Undo the attachment; idempotent per link. Never raises. */
	void (*detach)(lua_State *L, struct sh_link *l);
	/* Pin the attachment at path (on bpffs already): 0 or -errno. NULL: cannot be pinned. */
	int (*pin)(struct sh_link *l, const char *path);
	/* Dropping the handle leaves it attached (socket filters: the socket owns the slot). */
	bool keep_on_gc;
};

/* One attachment. User value 1 keeps alive what the attachment needs (a map). */
struct sh_link {
	struct sh_handle h; /* h.live: the ops while attached */
	const struct sh_attach_ops *ops;
	const char *kind; /* link.kind: "bpf_link", "socket_filter", "prog_attach" */
	struct bpf_link *link; /* bpf_link kinds */
	int link_fd; /* a raw link fd from bpf_link_create (owned), or -1 */
	int target_fd; /* socket (borrowed) or map (owned dup), or -1 */
	int prog_fd; /* prog_attach fallback: owned dup, or -1 */
	__u64 sock_cookie; /* socket filters: which socket, if the fd is reused */
	enum bpf_attach_type attach_type;
	char desc[160]; /* "sock_ops 'hello' -> cgroup /sys/fs/cgroup/x" */
	char where[128]; /* the script line of program:attach ("x.lua:12"), for the gc warning */
};

/* The kinds (one file each). */
extern const struct sh_attach_ops sh_attach_cgroup;
extern const struct sh_attach_ops sh_attach_socket_filter;
extern const struct sh_attach_ops sh_attach_kprobe;
extern const struct sh_attach_ops sh_attach_tracepoint;
extern const struct sh_attach_ops sh_attach_raw_tracepoint;
extern const struct sh_attach_ops sh_attach_tracing;
extern const struct sh_attach_ops sh_attach_sockmap;

/* ---- shared by the kinds (bpflink.c) ------------------------------------------------------- */
/* "sock_ops", ... for p. */
const char *sh_attach_ptype(const struct sh_program *p);
/* Raise unless p came from an object (pinned programs cannot attach by libbpf). */
void sh_attach_need_object(lua_State *L, const struct sh_program *p, const char *what);
/* Fill l with the bpf_link bl libbpf returned for target, or raise with err when bl is NULL. */
void sh_attach_fill_bpf_link(lua_State *L, struct sh_link *l, const struct sh_program *p,
			     struct bpf_link *bl, int err, const char *target);
/* detach and pin of every bpf_link kind */
void sh_attach_bpf_link_detach(lua_State *L, struct sh_link *l);
int sh_attach_bpf_link_pin(struct sh_link *l, const char *path);

int sh_link_open(lua_State *L); /* the link class and program:attach */
int sh_socket_filter_open(lua_State *L); /* sockhost.detach_filter */

#endif
