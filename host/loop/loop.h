/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop/loop.h: the one epoll loop of a Lua state. Sources (ring buffers, timers, watched fds,
 * run's own duration timer and signalfd) register a struct sh_source whose dispatch function
 * is called when its fd is ready. The loop userdata lives in the state's registry, so a state
 * has exactly one and nothing about it is per process.
 */
#ifndef SOCKHOST_LOOP_LOOP_H
#define SOCKHOST_LOOP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <lua.h>

#define SH_LOOP_MT "sockhost.loop"

struct sh_source;
typedef int (*sh_dispatch_fn)(lua_State *L, struct sh_source *src, uint32_t events);

struct sh_source {
	int fd;
	sh_dispatch_fn dispatch; /* returns 0, or -1 after storing an error with sh_loop_fail */
	void *ctx;
	bool registered;
	/* Optional: called before every wait while registered (watch: is the fd still open?).
	 * Returns 0, or -1 after storing an error with sh_loop_fail. */
	int (*check)(lua_State *L, struct sh_source *src);
	struct sh_source *check_next; /* the loop's list of sources with a check */
};

/* Register src (raises on failure); unregister it (never raises; idempotent). */
int sh_loop_add(lua_State *L, struct sh_source *src);
void sh_loop_del(lua_State *L, struct sh_source *src);
/* Store the Lua value on top of the stack as the loop's pending error (pops it) and stop. */
void sh_loop_fail(lua_State *L);
/* The epoll fd, for hosts that fold the loop into their own. */
int sh_loop_fd(lua_State *L);
/* Call the function below nargs arguments under the traceback handler; on error the error is
 * stored for the loop (which stops) and -1 is returned. Never raises. */
int sh_loop_call(lua_State *L, int nargs);
/* One pass: wait up to timeout_ms, dispatch; raises a stored error. Returns the number of
 * events dispatched. */
int sh_loop_step(lua_State *L, int timeout_ms);
/* Dispatch src now, ready or not (sub:drain()); outside run/poll it raises the error the
 * dispatch stored. Returns what the dispatch did. */
int sh_loop_dispatch_now(lua_State *L, struct sh_source *src);
/* The signal for which the last sockhost.run was interrupted by its watchdog (a callback
 * that did not come back: loop/watchdog.h), or 0. */
int sh_loop_forced_signal(lua_State *L);
/* The state's loop, for per-record loops (an opaque pointer, valid while the state is). */
struct sh_loop *sh_loop_of(lua_State *L);
/* Call between records (ring drains, timer catch-up, trace_pipe lines): true when the loop
 * should stop, including for a SIGINT/SIGTERM or the end of run()'s duration that arrived
 * during the current dispatch. Costs a coarse-clock read; looks at the signalfd at most every
 * 10 ms. So Ctrl-C ends run() after the callback in progress, whatever callbacks cost. */
bool sh_loop_stopping(struct sh_loop *lp);

int sh_loop_open(lua_State *L); /* sockhost.run, poll, stop */
int sh_timer_open(lua_State *L); /* sockhost.every, after */
int sh_watch_open(lua_State *L); /* sockhost.watch */
int sh_tracepipe_open(lua_State *L); /* sockhost.trace_pipe */

#endif
