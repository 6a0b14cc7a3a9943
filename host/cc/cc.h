/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/cc.h: "write C next to your Lua and run it": BPF C compiled with clang (CO-RE against a
 * vmlinux.h of the running kernel, the SDK headers) into a per-user cache, so a warm start
 * runs no compiler at all and needs none installed. Both calls give the cached object's path;
 * they fail with -errno and a message for the user in *msg (malloc'd, the caller frees):
 * clang's own diagnostics when the source does not compile.
 */
#ifndef SOCKHOST_CC_CC_H
#define SOCKHOST_CC_CC_H

#include <stddef.h>

/* The object for the C file src (a path), compiled now or found in the cache. */
int sh_cc_file(const char *src, char *obj, size_t len, char **msg);
/* The same for C source text; name ([A-Za-z0-9_-]+) names the object and the file in
 * clang's diagnostics (<name>.bpf.c:line:col). */
int sh_cc_source(const char *text, size_t n, const char *name, char *obj, size_t len, char **msg);

#endif
