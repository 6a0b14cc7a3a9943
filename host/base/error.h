/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/error.h: how failures cross the C/Lua boundary. Kernel and libbpf failures raise Lua
 * errors whose text names the thing, the errno text and a hint where one is known; verifier
 * failures raise a table {message=, errno=, log=} so pcall users reach the whole log.
 */
#ifndef SOCKHOST_BASE_ERROR_H
#define SOCKHOST_BASE_ERROR_H

#include <lua.h>

/* The hint for an errno that usually means one thing here (EPERM: not root), or NULL. */
const char *sh_errno_hint(int err);
/* The hint for a libbpf log line that usually means one thing (no BTF: build with -g), or
 * NULL. */
const char *sh_libbpf_hint(const char *log);
/* Raise "<fmt ...>: <strerror(err)>[ (hint)]". err is an errno (either sign). The hint is
 * sh_errno_hint(err) when hint is NULL. Never returns. */
int sh_raise_errno(lua_State *L, int err, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Raise an error table {message=, errno=, log=} whose __tostring gives message: the Lua
 * caller's location ("script.lua:12: "), fmt, the errno text, the tail of log and, in
 * parentheses, full (where the whole log is; NULL: "full log in err.log"). Never returns. */
int sh_raise_verifier(lua_State *L, int err, const char *log, const char *full, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));

#endif
