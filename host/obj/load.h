/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/load.h: loading an opened object into the kernel, and the hooks layers above register
 * to run after every load.
 */
#ifndef SOCKHOST_OBJ_LOAD_H
#define SOCKHOST_OBJ_LOAD_H

#include <lua.h>

/* Load the object at idx. Raises: already loaded, a verifier rejection (the error table of
 * sh_raise_verifier, naming the program), any other load failure (libbpf's last word). */
void sh_object_load(lua_State *L, int idx);

#endif
