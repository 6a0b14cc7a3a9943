/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/globals.h: an object's globals (.data, .bss, .rodata, .kconfig) as obj.globals, typed
 * through the object's BTF. Before load they read and write libbpf's initial values; after
 * load, our own mmaps of the kernel's maps (libbpf 1.1 remaps only for skeletons), so reads
 * and writes see live values; .rodata is frozen at load and read-only after.
 */
#ifndef SOCKHOST_OBJ_GLOBALS_H
#define SOCKHOST_OBJ_GLOBALS_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

struct sh_object;

/* (Re)build o's datasec table; after load, mmap the writable ones. */
void sh_globals_map(struct sh_object *o);
/* munmap and forget the datasecs (before load, at close). */
void sh_globals_unmap(struct sh_object *o);
/* o.globals[name] = the Lua value at vidx (raises: unknown name, bad value, read-only). */
void sh_globals_set(lua_State *L, struct sh_object *o, const char *name, int vidx);
/* Where global `name` of the loaded object o lives, for a reader that maps it itself: the
 * fd of its (mmap-able, writable) datasec map, the map's value size, the variable's offset
 * and size. false when there is no such global or it cannot be mapped. Never raises. */
bool sh_global_locate(struct sh_object *o, const char *name, int *fd, size_t *map_size,
		      size_t *offset, size_t *size);
/* Push the obj.globals proxy of the object at obj_idx (made once, kept in user value 1). */
void sh_globals_push_proxy(lua_State *L, int obj_idx);

#endif
