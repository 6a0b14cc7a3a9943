// SPDX-License-Identifier: GPL-2.0
/*
 * loop/tracepipe.c: sockhost.trace_pipe(fn), bpf_printk() output through the loop (the
 * ebpf-sockops seed's trace.sh, as a Lua callback). The tracefs trace_pipe is opened
 * non-blocking (tracefs is mounted first when it is missing) and watched by the loop; each
 * complete line goes to fn(message, info), where info = {comm=, pid=, cpu=, flags=, ts=,
 * line=} and message is what the program printed (the whole line when it does not look like
 * bpf_trace_printk output).
 *
 * trace_pipe is one stream for the whole machine and reading it consumes it: every reader
 * (this one, `cat trace_pipe`, another sockhost) sees only part of the lines. Callers filter
 * by a marker of their own.
 *
 * Owns the fd and a buffer holding a partial line between reads. Lines already read when a
 * callback raises stay in the buffer and come with the next read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/fs.h"
#include "loop/loop.h"
#include "lua/class.h"

#define SH_TRACEPIPE_MT "sockhost.trace_pipe"
#define BUF_SIZE	(64 * 1024)

static const char *const pipes[] = {
	"/sys/kernel/tracing/trace_pipe",
	"/sys/kernel/debug/tracing/trace_pipe",
};

struct sh_tracepipe {
	struct sh_handle h; /* h.live: the pipe while open */
	char *buf; /* NULL when closed */
	size_t len; /* bytes in buf */
	struct sh_source src;
	int self_ref;
	lua_Integer lines;
	char path[64];
};

static const struct sh_class tracepipe_class;

static void tp_close(lua_State *L, struct sh_tracepipe *t)
{
	t->h.live = NULL;
	if (!t->buf)
		return;
	sh_loop_del(L, &t->src);
	close(t->src.fd);
	t->src.fd = -1;
	free(t->buf);
	t->buf = NULL;
	if (t->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
	t->self_ref = LUA_NOREF;
}

/*
 * "<comm>-<pid> [<cpu>] <flags> <ts>: bpf_trace_printk: <message>"; comm may hold spaces and
 * dashes, so the pid is after the last '-' before " [". Pushes message and info.
 */
static void push_line(lua_State *L, const char *line, size_t len)
{
	static const char tag[] = ": bpf_trace_printk: ";
	const char *msg = memmem(line, len, tag, sizeof(tag) - 1);
	const char *br = memmem(line, len, " [", 2);
	const char *end = line + len;

	lua_createtable(L, 0, 6);
	lua_pushlstring(L, line, len);
	lua_setfield(L, -2, "line");
	if (br && msg && br < msg) {
		const char *dash = br, *p = line, *ts_end = msg;
		unsigned cpu = 0;

		while (p < br && *p == ' ')
			p++;
		while (dash > p && *dash != '-')
			dash--;
		if (dash > p) {
			lua_pushlstring(L, p, (size_t)(dash - p));
			lua_setfield(L, -2, "comm");
			lua_pushinteger(L, strtol(dash + 1, NULL, 10));
			lua_setfield(L, -2, "pid");
		}
		if (sscanf(br + 2, "%u]", &cpu) == 1) {
			const char *q = memchr(br, ']', (size_t)(msg - br));

			lua_pushinteger(L, cpu);
			lua_setfield(L, -2, "cpu");
			if (q) {
				const char *f = q + 1, *ts;

				while (f < msg && *f == ' ')
					f++;
				ts = memchr(f, ' ', (size_t)(msg - f));
				if (ts) {
					lua_pushlstring(L, f, (size_t)(ts - f));
					lua_setfield(L, -2, "flags");
					while (ts < ts_end && *ts == ' ')
						ts++;
					lua_pushnumber(L, strtod(ts, NULL));
					lua_setfield(L, -2, "ts");
				}
			}
		}
		msg += sizeof(tag) - 1;
		lua_pushlstring(L, msg, (size_t)(end - msg));
	} else {
		lua_pushlstring(L, line, len);
	}
	lua_insert(L, -2);
}

/* Deliver the complete lines in the buffer; keeps the rest. 0 or -1 (error stored). */
static int deliver(lua_State *L, struct sh_tracepipe *t)
{
	size_t off = 0;
	int rc = 0;

	struct sh_loop *lp = sh_loop_of(L);

	while (rc == 0 && t->buf && !sh_loop_stopping(lp)) {
		char *nl = memchr(t->buf + off, '\n', t->len - off);

		if (!nl)
			break;
		lua_getiuservalue(L, -1, 1);
		push_line(L, t->buf + off, (size_t)(nl - (t->buf + off)));
		off = (size_t)(nl - t->buf) + 1;
		t->lines++;
		rc = sh_loop_call(L, 2);
	}
	if (t->buf) {
		memmove(t->buf, t->buf + off, t->len - off);
		t->len -= off;
	}
	return rc;
}

static int on_ready(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_tracepipe *t = src->ctx;
	int rc = 0;

	lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref); /* keeps t alive through callbacks */
	for (int rounds = 0; rc == 0 && t->buf && rounds < 16; rounds++) {
		ssize_t n;

		if (t->len == BUF_SIZE) { /* no line is this long; cut it rather than stall */
			t->buf[BUF_SIZE - 1] = '\n';
			rc = deliver(L, t);
			continue;
		}
		n = read(t->src.fd, t->buf + t->len, BUF_SIZE - t->len);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				lua_pushfstring(L, "sockhost.trace_pipe: read %s: %s", t->path,
						strerror(errno));
				sh_loop_fail(L);
				rc = -1;
			}
			break;
		}
		t->len += (size_t)n;
		rc = deliver(L, t);
	}
	lua_pop(L, 1);
	return rc;
}

static int open_pipe(struct sh_tracepipe *t)
{
	for (size_t i = 0; i < sizeof(pipes) / sizeof(pipes[0]); i++) {
		int fd = open(pipes[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd >= 0) {
			snprintf(t->path, sizeof(t->path), "%s", pipes[i]);
			return fd;
		}
	}
	return -1;
}

/* sockhost.trace_pipe(fn) -> handle */
static int l_trace_pipe(lua_State *L)
{
	struct sh_tracepipe *t;

	if (!lua_isfunction(L, 1)) {
		if (!luaL_getmetafield(L, 1, "__call"))
			return luaL_error(L,
					  "sockhost.trace_pipe: callback must be callable, "
					  "got %s",
					  luaL_typename(L, 1));
		lua_pop(L, 1);
	}
	lua_settop(L, 1);
	t = sh_handle_new(L, &tracepipe_class, sizeof(*t), 1);
	t->src.fd = -1;
	t->self_ref = LUA_NOREF;
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	t->src.fd = open_pipe(t);
	if (t->src.fd < 0) {
		sh_ensure_tracefs(L, "sockhost.trace_pipe");
		t->src.fd = open_pipe(t);
		if (t->src.fd < 0)
			return sh_raise_errno(L, errno,
					      errno == EACCES || errno == EPERM ?
						      "tracefs files are root's: run as root, or "
						      "make trace_pipe readable" :
						      NULL,
					      "sockhost.trace_pipe: open %s", pipes[0]);
	}
	t->buf = malloc(BUF_SIZE);
	if (!t->buf) {
		close(t->src.fd);
		t->src.fd = -1;
		return luaL_error(L, "sockhost.trace_pipe: out of memory");
	}
	t->src.dispatch = on_ready;
	t->src.ctx = t;
	t->h.live = t;
	sh_loop_add(L, &t->src);
	lua_pushvalue(L, -1);
	t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_close(lua_State *L)
{
	tp_close(L, luaL_checkudata(L, 1, SH_TRACEPIPE_MT));
	return 0;
}

static int l_index(lua_State *L)
{
	struct sh_tracepipe *t = luaL_checkudata(L, 1, SH_TRACEPIPE_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "lines"))
		lua_pushinteger(L, t->lines);
	else if (!strcmp(k, "path"))
		lua_pushstring(L, t->path);
	else if (!strcmp(k, "close"))
		lua_pushcfunction(L, l_close);
	else
		lua_pushnil(L);
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct sh_tracepipe *t = luaL_checkudata(L, 1, SH_TRACEPIPE_MT);

	if (!t->buf)
		lua_pushfstring(L, "%s (closed)", SH_TRACEPIPE_MT);
	else
		lua_pushfstring(L, "%s %s (%I lines)", SH_TRACEPIPE_MT, t->path, t->lines);
	return 1;
}

static void tracepipe_close(lua_State *L, int idx, struct sh_handle *h)
{
	tp_close(L, (struct sh_tracepipe *)h);
}

static const luaL_Reg tracepipe_meta[] = {
	{ "__index", l_index },
	{ "__tostring", l_tostring },
	{ NULL, NULL },
};

static const struct sh_class tracepipe_class = {
	.name = SH_TRACEPIPE_MT,
	.close = tracepipe_close,
	.meta = tracepipe_meta,
};

int sh_tracepipe_open(lua_State *L)
{
	sh_class_register(L, &tracepipe_class);
	lua_pushcfunction(L, l_trace_pipe);
	lua_setfield(L, -2, "trace_pipe");
	return 0;
}
