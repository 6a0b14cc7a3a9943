/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/path.h: what sockhost.open(name) opens: a path as given, or a built-in object by name.
 */
#ifndef SOCKHOST_OBJ_PATH_H
#define SOCKHOST_OBJ_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

/* name -> the file to open, into path (len bytes). A name with a '/' or ".o" is a path;
 * anything else is name.bpf.o next to the calling script, in a SOCKHOST_PATH entry, or a
 * built-in in sh_bpf_dir(). Returns true for a built-in. Raises when a path does not fit or
 * no built-in has that name (listing the built-ins, and naming SOCKHOST_PATH when set). */
bool sh_object_resolve(lua_State *L, const char *name, char *path, size_t len);
/* Raise, naming the file, unless path is a readable ELF file of machine EM_BPF. */
void sh_object_check_elf(lua_State *L, const char *path);

#endif
