// SPDX-License-Identifier: GPL-2.0
/*
 * embed_test.c: embeds sockhost through sockhost.h only, the way a host program would: runs
 * spec/embed/embed.lua, then folds sockhost's loop into its own poll() loop on
 * sockhost_fd(), calling sockhost_step(sh, 0) when the fd is readable. Checks exact outcomes:
 * the script's 0.05 s timer ticks exactly 5 times and then stays cancelled; an error raised
 * in a callback makes sockhost_step() return -1 with the message in sockhost_error(), once;
 * load and runtime errors of sockhost_dofile()/sockhost_dostring() come back as -1 with their
 * message. Two states on two threads loading an object the verifier rejects at the same time
 * each get their own, whole verifier log on the error (the log buffer belongs to the state's
 * load, never to the process). Exits 0 when every check passed, 1 at the first failure.
 *
 * usage: embed_test spec/embed/embed.lua BAD_VERIFIER_OBJECT
 *
 * The same source is built twice: against the build tree, and against an installed copy found
 * with `pkg-config --cflags --libs sockhost` (spec/embed/installed.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lua.h>
#include <lauxlib.h>

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

#define CHECK(sh, cond, ...)                   \
	do {                                   \
		if (!(cond))                   \
			fail(sh, __VA_ARGS__); \
		checks++;                      \
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

/* ---- two states, two threads, one verifier-rejected object each, at the same time ---- */

#define LOADER_ROUNDS 25

struct loader {
	const char *object;
	pthread_barrier_t *start;
	int rc;
	char error[512];
};

static const char loader_code[] =
	"local sockhost = require 'sockhost'\n"
	"local path, rounds = ...\n"
	"for i = 1, rounds do\n"
	"  local ok, err = pcall(sockhost.open, path)\n"
	"  assert(not ok, 'round ' .. i .. ': the verifier accepted bad_lookup')\n"
	"  assert(type(err) == 'table', 'round ' .. i .. ': error is not the verifier table')\n"
	"  assert(err.errno == 13, 'round ' .. i .. ': errno ' .. tostring(err.errno))\n"
	"  assert(err.message:find(\"program 'bad_lookup' was rejected\", 1, true),\n"
	"         'round ' .. i .. ': ' .. err.message)\n"
	"  assert(err.log:find(\"invalid mem access 'map_value_or_null'\", 1, true),\n"
	"         'round ' .. i .. ': the log is not this load\\'s: ' .. err.log:sub(1, 200))\n"
	"  assert(err.message:find('verifier log tail', 1, true), 'round ' .. i .. ': no tail')\n"
	"end\n";

static void *load_rejected(void *arg)
{
	struct loader *ld = arg;
	struct sockhost *sh = sockhost_new();
	lua_State *L;

	if (!sh) {
		snprintf(ld->error, sizeof(ld->error), "sockhost_new() returned NULL");
		ld->rc = -1;
		return NULL;
	}
	L = sockhost_lua(sh);
	pthread_barrier_wait(ld->start);
	if (luaL_loadbuffer(L, loader_code, sizeof(loader_code) - 1, "=loader") != LUA_OK) {
		snprintf(ld->error, sizeof(ld->error), "%s", lua_tostring(L, -1));
		ld->rc = -1;
	} else {
		/* run the chunk with its arguments through the embedding API's own error path */
		lua_setglobal(L, "loader_chunk");
		lua_pushstring(L, ld->object);
		lua_setglobal(L, "loader_path");
		lua_pushinteger(L, LOADER_ROUNDS);
		lua_setglobal(L, "loader_rounds");
		ld->rc = sockhost_dostring(sh, "loader_chunk(loader_path, loader_rounds)",
					   "=loader");
		if (ld->rc)
			snprintf(ld->error, sizeof(ld->error), "%s", sockhost_error(sh));
	}
	sockhost_free(sh);
	return NULL;
}

static void check_concurrent_loads(const char *object)
{
	struct loader ld[2] = { { .object = object }, { .object = object } };
	pthread_barrier_t start;
	pthread_t t[2];

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		ld[i].start = &start;
		CHECK(NULL, pthread_create(&t[i], NULL, load_rejected, &ld[i]) == 0,
		      "pthread_create failed");
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CHECK(NULL, ld[i].rc == 0, "state %d, loading at the same time as the other: %s", i,
		      ld[i].error);
	}
	pthread_barrier_destroy(&start);
}

int main(int argc, char **argv)
{
	char *script_args[] = { "alpha", "beta gamma" };
	const char *version = sockhost_version();
	struct sockhost *sh;
	lua_State *L;
	int fd, n, major, minor, patch;
	char *s;

	if (argc != 3) {
		fprintf(stderr, "usage: embed_test spec/embed/embed.lua BAD_VERIFIER_OBJECT\n");
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
	CHECK(sh,
	      strstr(sockhost_error(sh), "runtime:1: runtime boom") &&
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

	check_concurrent_loads(argv[2]);
	printf("embed_test: %d checks passed\n", checks);
	return 0;
}
