/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/program.h: sockhost.program, one program of an object (borrowed: user value 1 keeps the
 * object alive, h.parent is the object's handle) or a program opened from a bpffs pin (owns
 * its fd). Attaching is added to the class by attach/ (program:attach).
 */
#ifndef SOCKHOST_OBJ_PROGRAM_H
#define SOCKHOST_OBJ_PROGRAM_H

#include <bpf/libbpf.h>
#include "lua/class.h"

#define SH_PROGRAM_MT "sockhost.program"
#define SH_STATS_MT   "sockhost.stats"

struct sh_object;

struct sh_program {
	struct sh_handle h; /* h.live: the program itself while open */
	struct bpf_program *prog; /* borrowed from the object; NULL for a pinned program */
	struct sh_object *parent; /* the object (kept alive by user value 1), or NULL */
	int fd; /* owned fd of a pinned program, else -1 */
	enum bpf_prog_type type;
	char name[64];
};

extern const struct sh_class sh_program_class;

/* The program at idx; raises when it or its object is closed. */
struct sh_program *sh_program_check(lua_State *L, int idx);
/* Its fd; raises when not loaded. */
int sh_program_fd(lua_State *L, struct sh_program *p);
enum bpf_prog_type sh_program_type(const struct sh_program *p);
/* "socket_filter", "sock_ops", ... ("unknown" for a type libbpf has no name for). */
const char *sh_prog_type_name(enum bpf_prog_type t);
/* Push a handle for prog of the object at obj_idx. */
void sh_push_program(lua_State *L, int obj_idx, struct bpf_program *prog);
/* Push a handle for a pinned program (info: the kernel's, for fd); takes fd. */
void sh_push_pinned_program(lua_State *L, int fd, const struct bpf_prog_info *info);

int sh_program_open(lua_State *L); /* the class and sockhost.enable_stats */

#endif
