// SPDX-License-Identifier: GPL-2.0
/*
 * error.c: how failures cross the C/Lua boundary. Kernel and libbpf failures raise Lua errors
 * whose text names the thing, the errno text and a hint where one is known. Verifier failures
 * raise a table {message=, errno=, log=} so pcall users reach the whole log. libbpf's own
 * output is captured here instead of going to stderr: host/ never prints (only main.c does).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static char last_log[1024];
static char *capture_buf;
static size_t capture_len, capture_used;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	va_list ap2;
	int n;

	/* The verifier log arrives as one huge message, so capture formats in place. */
	va_copy(ap2, ap);
	if (capture_buf && capture_used + 1 < capture_len) {
		n = vsnprintf(capture_buf + capture_used, capture_len - capture_used, fmt, ap2);
		if (n > 0)
			capture_used += (size_t)n < capture_len - capture_used - 1 ?
						(size_t)n : capture_len - capture_used - 1;
	}
	va_end(ap2);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return 0;
	if (level != LIBBPF_DEBUG) {
		size_t len = strlen(line);

		while (len && line[len - 1] == '\n')
			line[--len] = '\0';
		snprintf(last_log, sizeof(last_log), "%s", line);
	}
	if (level == LIBBPF_DEBUG || !getenv("SOCKHOST_LIBBPF_DEBUG"))
		return 0;
	return fprintf(stderr, "libbpf: %s", line);
}

void sh_libbpf_log_init(void)
{
	libbpf_set_print(libbpf_print);
}

const char *sh_libbpf_last_log(void)
{
	return last_log;
}

void sh_libbpf_log_reset(void)
{
	last_log[0] = '\0';
}

void sh_libbpf_log_capture(char *buf, size_t len)
{
	capture_buf = buf;
	capture_len = len;
	capture_used = 0;
	if (buf && len)
		buf[0] = '\0';
}

static const char *default_hint(int err)
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
		hint = default_hint(err);
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

int sh_raise_verifier(lua_State *L, int err, const char *log, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	lua_createtable(L, 0, 4);
	if (log && *log) {
		push_tail(L, log, 6);
		lua_pushfstring(L, "%s: %s; verifier log tail:\n%s\n(full log in err.log)", msg,
				strerror(err), lua_tostring(L, -1));
		lua_remove(L, -2);
	} else {
		const char *hint = default_hint(err);

		lua_pushfstring(L, "%s: %s%s%s%s", msg, strerror(err), hint ? " (" : "",
				hint ? hint : "", hint ? ")" : "");
	}
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
