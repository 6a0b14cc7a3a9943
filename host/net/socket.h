/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net/socket.h: sockhost.socket(ifname), a raw AF_PACKET socket for socket filters.
 */
#ifndef SOCKHOST_NET_SOCKET_H
#define SOCKHOST_NET_SOCKET_H

#include <lua.h>

int sh_socket_open(lua_State *L); /* sockhost.socket and its class */

#endif
