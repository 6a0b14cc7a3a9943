/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/fs.h: filesystem preconditions checked at the Lua boundary, raising with the path in
 * the message: a pin path on bpffs, tracefs for tracepoints, a cgroup v2 directory.
 */
#ifndef SOCKHOST_BASE_FS_H
#define SOCKHOST_BASE_FS_H

#include <lua.h>

/* Make sure the directory of path is on a bpffs, mounting /sys/fs/bpf if needed. Raises. */
void sh_ensure_bpffs(lua_State *L, const char *path);
/* Mount tracefs at /sys/kernel/tracing when no tracefs is where libbpf looks. Raises, naming
 * why ("tracepoint attach") it was needed. */
void sh_ensure_tracefs(lua_State *L, const char *why);
/* Open a cgroup v2 directory (O_CLOEXEC), raising with a clear message when it is missing or
 * not v2. */
int sh_open_cgroup(lua_State *L, const char *path);

#endif
