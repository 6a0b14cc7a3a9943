/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/compile.h: BPF C as objects: sockhost.open("x.bpf.c"), sockhost.compile(source) and
 * sockhost.cc(path) on top of the compile cache (cc/cc.h).
 */
#ifndef SOCKHOST_OBJ_COMPILE_H
#define SOCKHOST_OBJ_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

/* Does sockhost.open's name name a C file (ends in ".c")? */
bool sh_object_is_source(const char *name);
/* The cached object for the C file src into path (len bytes); raises with clang's
 * diagnostics or the cache's complaint. */
void sh_object_compile(lua_State *L, const char *src, char *path, size_t len);
/* Register sockhost.compile and sockhost.cc into the module table on top; after
 * sh_object_open (compile opens what it compiles with sockhost.open). */
int sh_compile_open(lua_State *L);

#endif
