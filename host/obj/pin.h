/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/pin.h: bpffs pins of programs and maps: prog:pin/unpin, map:pin/unpin and
 * sockhost.open_pinned. (A link pins itself: attach/link.c.)
 */
#ifndef SOCKHOST_OBJ_PIN_H
#define SOCKHOST_OBJ_PIN_H

#include <lua.h>

/* Add pin/unpin to the program and map classes (registered before) and open_pinned to the
 * module table at -1. */
int sh_pin_open(lua_State *L);

#endif
