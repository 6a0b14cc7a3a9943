// SPDX-License-Identifier: GPL-2.0
/*
 * base/error.c: how failures cross the C/Lua boundary (base/error.h). Stateless: messages are
 * built on the C stack and handed to Lua, which owns them from then on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "base/error.h"

const char *sh_errno_hint(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return "BPF needs root or CAP_BPF+CAP_PERFMON (and CAP_NET_ADMIN for network hooks)";
	case ENOMEM:
		return "memory for BPF is limited by RLIMIT_MEMLOCK or the memory cgroup";
	default:
		return NULL;
	}
}

const char *sh_libbpf_hint(const char *log)
{
	/* libbpf 1.x, for BTF-defined maps (SEC(".maps")) in an object built without -g */
	if (log && strstr(log, "BTF is required, but is missing or corrupted"))
		return "the object has no BTF: compile it with clang -g, as sockhost.open(\"x.bpf.c\") "
		       "and `sockhost cc` do";
	return NULL;
}

int sh_raise_errno(lua_State *L, int err, const char *hint, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!hint)
		hint = sh_errno_hint(err);
	if (hint)
		return luaL_error(L, "%s: %s (%s)", msg, strerror(err), hint);
	return luaL_error(L, "%s: %s", msg, strerror(err));
}

static int verr_tostring(lua_State *L)
{
	lua_getfield(L, 1, "message");
	return 1;
}

/* The tail of a verifier log: the last few lines are where the rejection is explained. */
static void push_tail(lua_State *L, const char *log, int lines)
{
	const char *end = log + strlen(log);
	const char *p = end;

	while (p > log && (p[-1] == '\n' || p[-1] == ' '))
		p--;
	end = p;
	while (p > log && lines > 0) {
		p--;
		if (*p == '\n')
			lines--;
	}
	if (*p == '\n')
		p++;
	lua_pushlstring(L, p, end - p);
}

int sh_raise_verifier(lua_State *L, int err, const char *log, const char *full, const char *fmt,
		      ...)
{
	char msg[512];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	lua_createtable(L, 0, 4);
	/* the script line that asked for the load first, as luaL_error does: an error table
	 * gets no location from lua_error */
	luaL_where(L, 1);
	if (log && *log) {
		push_tail(L, log, 6);
		lua_pushfstring(L, "%s%s: %s; verifier log tail:\n%s\n(%s)", lua_tostring(L, -2),
				msg, strerror(err), lua_tostring(L, -1),
				full ? full : "full log in err.log");
		lua_remove(L, -2);
	} else {
		const char *hint = sh_errno_hint(err);

		lua_pushfstring(L, "%s%s: %s%s%s%s", lua_tostring(L, -1), msg, strerror(err),
				hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	}
	lua_remove(L, -2);
	lua_setfield(L, -2, "message");
	lua_pushinteger(L, err);
	lua_setfield(L, -2, "errno");
	lua_pushstring(L, log ? log : "");
	lua_setfield(L, -2, "log");
	if (luaL_newmetatable(L, "sockhost.error")) {
		lua_pushcfunction(L, verr_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_setmetatable(L, -2);
	return lua_error(L);
}
