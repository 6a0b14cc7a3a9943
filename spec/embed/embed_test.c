// SPDX-License-Identifier: GPL-2.0
/*
 * embed_test.c: embeds sockhost through sockhost.h only, the way a host program would: runs
 * spec/embed/embed.lua, then folds sockhost's loop into its own poll() loop on
 * sockhost_fd(), calling sockhost_step(sh, 0) when the fd is readable. Checks exact outcomes:
 * the script's 0.05 s timer ticks exactly 5 times and then stays cancelled; an error raised
 * in a callback makes sockhost_step() return -1 with the message in sockhost_error(), once;
 * load and runtime errors of sockhost_dofile()/sockhost_dostring() come back as -1 with their
 * message. Exits 0 when every check passed, 1 at the first failure.
 *
 * usage: embed_test spec/embed/embed.lua
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lua.h>

#include "sockhost.h"

static int checks;

static void fail(struct sockhost *sh, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "embed_test: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (sh)
		fprintf(stderr, "\n  last sockhost_error(): %s", sockhost_error(sh));
	fprintf(stderr, "\n");
	exit(1);
}

#define CHECK(sh, cond, ...)                  \
	do {                                  \
		if (!(cond))                  \
			fail(sh, __VA_ARGS__); \
		checks++;                     \
	} while (0)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* embed.<field> from the script, as Lua sees it: pushes it, returns its type. */
static int push_field(struct sockhost *sh, const char *field)
{
	lua_State *L = sockhost_lua(sh);

	if (lua_getglobal(L, "embed") != LUA_TTABLE) {
		lua_pop(L, 1);
		fail(sh, "the script did not set the global table 'embed'");
	}
	lua_getfield(L, -1, field);
	lua_remove(L, -2);
	return lua_type(L, -1);
}

static lua_Integer field_int(struct sockhost *sh, const char *field)
{
	lua_State *L = sockhost_lua(sh);
	lua_Integer v;
	int isnum;

	push_field(sh, field);
	v = lua_tointegerx(L, -1, &isnum);
	if (!isnum)
		fail(sh, "embed.%s is a %s, not an integer", field,
		     lua_typename(L, lua_type(L, -1)));
	lua_pop(L, 1);
	return v;
}

static bool field_bool(struct sockhost *sh, const char *field)
{
	lua_State *L = sockhost_lua(sh);
	bool v = lua_toboolean(L, (push_field(sh, field), -1));

	lua_pop(L, 1);
	return v;
}

/* Copy of embed.<field>, or NULL when it is not a string. */
static char *field_str(struct sockhost *sh, const char *field)
{
	lua_State *L = sockhost_lua(sh);
	char *s = NULL;

	if (push_field(sh, field) == LUA_TSTRING)
		s = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	return s;
}

enum until { UNTIL_DONE, UNTIL_ERROR, UNTIL_DEADLINE };

/*
 * The host's own loop: poll sockhost_fd(), step when readable. Returns the number of events
 * sockhost_step() reported, or -1 when a step failed (what UNTIL_ERROR waits for).
 */
static int run_loop(struct sockhost *sh, int fd, enum until until, int ms)
{
	long long deadline = now_ms() + ms;
	int events = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		int n;

		if (until == UNTIL_DONE && field_bool(sh, "done"))
			return events;
		if (left <= 0) {
			if (until == UNTIL_DEADLINE)
				return events;
			fail(sh, "deadline of %d ms passed waiting for %s", ms,
			     until == UNTIL_DONE ? "embed.done" : "an error from a callback");
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			fail(NULL, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		n = sockhost_step(sh, 0);
		if (n < 0) {
			if (until == UNTIL_ERROR)
				return -1;
			fail(sh, "sockhost_step() failed");
		}
		events += n;
	}
}

int main(int argc, char **argv)
{
	char *script_args[] = { "alpha", "beta gamma" };
	const char *version = sockhost_version();
	struct sockhost *sh;
	lua_State *L;
	int fd, n, major, minor, patch;
	char *s;

	if (argc != 2) {
		fprintf(stderr, "usage: embed_test spec/embed/embed.lua\n");
		return 2;
	}

	CHECK(NULL, version && sscanf(version, "%d.%d.%d", &major, &minor, &patch) == 3,
	      "sockhost_version() is '%s', not X.Y.Z", version ? version : "(null)");
	sh = sockhost_new();
	CHECK(NULL, sh, "sockhost_new() returned NULL");
	CHECK(sh, sockhost_lua(sh) != NULL, "sockhost_lua() returned NULL");
	CHECK(sh, strcmp(sockhost_error(sh), "") == 0, "a new host already has an error");

	/* load and runtime errors come back as -1 with their message */
	CHECK(sh, sockhost_dofile(sh, "/nonexistent/embed.lua", 0, NULL) == -1,
	      "sockhost_dofile() of a missing file did not fail");
	CHECK(sh, strstr(sockhost_error(sh), "cannot open /nonexistent/embed.lua"),
	      "missing file: unexpected message");
	CHECK(sh, sockhost_dostring(sh, "x = = 1", "=syntax") == -1,
	      "sockhost_dostring() of a syntax error did not fail");
	CHECK(sh, strstr(sockhost_error(sh), "syntax:1:"), "syntax error: unexpected message");
	CHECK(sh, sockhost_dostring(sh, "error('runtime boom')", "=runtime") == -1,
	      "sockhost_dostring() of a raising chunk did not fail");
	CHECK(sh, strstr(sockhost_error(sh), "runtime:1: runtime boom") &&
		  strstr(sockhost_error(sh), "stack traceback"),
	      "runtime error: expected the message and a traceback");
	CHECK(sh, sockhost_dostring(sh, "assert(require('sockhost.core'))", "=core") == 0,
	      "require 'sockhost.core' failed in an embedded state");

	/* the script, with arguments as lua.c passes them */
	CHECK(sh, sockhost_dofile(sh, argv[1], 2, script_args) == 0, "sockhost_dofile(%s) failed",
	      argv[1]);
	L = sockhost_lua(sh);
	push_field(sh, "args");
	lua_getfield(L, -1, "n");
	CHECK(sh, lua_tointeger(L, -1) == 2, "the script got %d arguments in ..., expected 2",
	      (int)lua_tointeger(L, -1));
	lua_pop(L, 1);
	lua_rawgeti(L, -1, 2);
	CHECK(sh, lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "beta gamma") == 0,
	      "second script argument is not 'beta gamma'");
	lua_pop(L, 2);
	s = field_str(sh, "arg0");
	CHECK(sh, s && strcmp(s, argv[1]) == 0, "arg[0] is '%s', expected '%s'", s ? s : "nil",
	      argv[1]);
	free(s);
	s = field_str(sh, "arg1");
	CHECK(sh, s && strcmp(s, "alpha") == 0, "arg[1] is '%s', expected 'alpha'", s ? s : "nil");
	free(s);

	/* the timer ticks exactly 5 times through the host's own loop, then stays cancelled */
	fd = sockhost_fd(sh);
	CHECK(sh, fd >= 0, "sockhost_fd() returned %d", fd);
	CHECK(sh, sockhost_fd(sh) == fd, "sockhost_fd() changed between calls");
	n = run_loop(sh, fd, UNTIL_DONE, 5000);
	CHECK(sh, field_int(sh, "ticks") == 5, "timer ticked %lld times, expected 5",
	      (long long)field_int(sh, "ticks"));
	CHECK(sh, n >= 5, "sockhost_step() reported %d events for 5 ticks", n);
	run_loop(sh, fd, UNTIL_DEADLINE, 300);
	CHECK(sh, field_int(sh, "ticks") == 5, "cancelled timer ticked on: %lld ticks",
	      (long long)field_int(sh, "ticks"));

	/* an error raised in a callback: -1 and the message, once */
	CHECK(sh, sockhost_dostring(sh, "embed.arm_error()", "=arm") == 0,
	      "embed.arm_error() failed");
	CHECK(sh, run_loop(sh, fd, UNTIL_ERROR, 5000) == -1, "no error from the callback");
	CHECK(sh, field_bool(sh, "raised"), "the raising callback did not run");
	CHECK(sh, strstr(sockhost_error(sh), "boom from callback"),
	      "callback error: message missing");
	n = sockhost_step(sh, 50);
	CHECK(sh, n >= 0, "the callback's error was raised again by the next sockhost_step()");
	CHECK(sh, sockhost_dostring(sh, "assert(embed.ticks == 5)", "=after") == 0,
	      "the state is not usable after a callback error");

	sockhost_free(sh);
	printf("embed_test: %d checks passed\n", checks);
	return 0;
}
