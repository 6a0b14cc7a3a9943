/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net/http.h: sockhost.serve_http(addr, handler[, opts]), an HTTP endpoint served by
 * libmicrohttpd from the state's own loop (net/http.c).
 */
#ifndef SOCKHOST_NET_HTTP_H
#define SOCKHOST_NET_HTTP_H

#include <lua.h>

int sh_http_open(lua_State *L); /* sockhost.serve_http and its class */

#endif
