// SPDX-License-Identifier: GPL-2.0
/*
 * loop/watchdog.c: the run() watchdog (loop/watchdog.h). One thread per run() call, started
 * after run's signalfd and joined before run() returns. It never touches the Lua state but
 * through lua_sethook, which Lua allows from outside the running code (lua.c calls it from a
 * signal handler); the hook it sets raises at the next Lua instruction of the loop's thread.
 * It reads nothing from the signalfd: the loop's thread consumes the signals. Which signal is
 * pending it learns from sigpending(), which sees the process's pending set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "loop/watchdog.h"

#define POLL_MS 10

struct sh_watchdog {
	pthread_t tid;
	int wake[2]; /* the loop's thread writes to wake[1] to end it */
	int sigfd;
	const int *taken;
	lua_State *L;
	int forced;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void hook_int(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "interrupted!");
}

static void hook_term(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "terminated!");
}

static int pending_signal(void)
{
	sigset_t set;

	if (sigpending(&set) == 0 && sigismember(&set, SIGTERM))
		return SIGTERM;
	return SIGINT;
}

static void force(struct sh_watchdog *w, int sig)
{
	__atomic_store_n(&w->forced, sig, __ATOMIC_RELEASE);
	lua_sethook(w->L, sig == SIGTERM ? hook_term : hook_int,
		    LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void *watch(void *arg)
{
	struct sh_watchdog *w = arg;
	long long first = 0; /* when a signal was first seen, pending or taken */

	for (;;) {
		int taken = __atomic_load_n(w->taken, __ATOMIC_ACQUIRE);
		struct pollfd p[2] = { { .fd = w->wake[0], .events = POLLIN },
				       { .fd = w->sigfd, .events = POLLIN } };
		/* a first signal still pending is the loop's to take: do not spin on it */
		int nfds = first && !taken ? 1 : 2, n;

		if (taken && !first)
			first = now_ms();
		n = poll(p, nfds, first ? POLL_MS : -1);
		if (n < 0 && errno != EINTR)
			return NULL;
		if (n > 0 && p[0].revents)
			return NULL; /* run() is over */
		if (nfds == 2 && n > 0 && (p[1].revents & POLLIN)) {
			if (taken) {
				force(w, pending_signal()); /* a second one */
				return NULL;
			}
			first = now_ms();
			continue;
		}
		if (first && now_ms() - first >= SH_WATCHDOG_GRACE_MS) {
			force(w, taken ? taken : pending_signal());
			return NULL;
		}
	}
}

struct sh_watchdog *sh_watchdog_start(lua_State *L, int sigfd, const int *taken)
{
	struct sh_watchdog *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->sigfd = sigfd;
	w->taken = taken;
	w->L = L;
	if (pipe2(w->wake, O_CLOEXEC) < 0)
		goto err_free;
	if (pthread_create(&w->tid, NULL, watch, w) != 0)
		goto err_close_pipe;
	return w;

err_close_pipe:
	close(w->wake[0]);
	close(w->wake[1]);
err_free:
	free(w);
	return NULL;
}

int sh_watchdog_stop(struct sh_watchdog *w)
{
	char c = 1;
	int forced;

	if (!w)
		return 0;
	while (write(w->wake[1], &c, 1) < 0 && errno == EINTR)
		;
	pthread_join(w->tid, NULL);
	forced = __atomic_load_n(&w->forced, __ATOMIC_ACQUIRE);
	close(w->wake[0]);
	close(w->wake[1]);
	free(w);
	return forced;
}
