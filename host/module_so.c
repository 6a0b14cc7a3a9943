// SPDX-License-Identifier: GPL-2.0
/*
 * module_so.c: the shared object stock lua5.4 loads for require "sockhost.core". The module's
 * code is libsockhost (module.c defines luaopen_sockhost_core); this file only makes the
 * linker keep that symbol in the .so so that lua5.4 can find it.
 */
#include "sockhost.h"

int (*const sh_module_anchor)(lua_State *L) = luaopen_sockhost_core;
