// SPDX-License-Identifier: GPL-2.0
/*
 * lloop.c: the one epoll loop of a Lua state, and its timers. The loop userdata lives in
 * the registry (so a state has exactly one) and owns the epoll fd; sources (ring buffers,
 * timers, run's own duration timer and signalfd) register a struct sh_source whose dispatch
 * function is called when its fd is ready. Callbacks run under lua_pcall with a traceback
 * handler: an error is stored, the loop stops, the fds are torn down, and only then is the
 * error raised in the script, so no error ever longjmps through libbpf or leaves SIGINT
 * blocked. While sockhost.run waits, SIGINT/SIGTERM are blocked and read from a signalfd:
 * they end the run and the script goes on to print its summary.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "internal.h"

#define LOOP_KEY "sockhost.loop.instance" /* not SH_LOOP_MT: that key holds the metatable */
#define TIMERS_KEY "sockhost.timers"

struct sh_loop {
	int epfd;
	bool running;
	bool stop;
	const char *reason;
	int signo;
	int err_ref;
	struct sh_source *checks; /* registered sources with a check hook */
	/* The batch epoll_wait returned, kept here (not on the stack) so that sh_loop_del can
	 * clear the entries of a source a callback earlier in the batch closed: its memory may
	 * be collected before its turn comes. */
	struct epoll_event evs[32];
	int nevs;
};

struct sh_timer {
	struct sh_source src; /* src.fd < 0: cancelled */
	bool repeat;
	int self_ref;         /* registry ref keeping the timer alive while armed */
};

static int loop_gc(lua_State *L)
{
	struct sh_loop *lp = luaL_checkudata(L, 1, SH_LOOP_MT);

	if (lp->epfd >= 0)
		close(lp->epfd);
	lp->epfd = -1;
	return 0;
}

struct sh_loop *sh_loop_get(lua_State *L)
{
	struct sh_loop *lp;

	if (lua_getfield(L, LUA_REGISTRYINDEX, LOOP_KEY) == LUA_TUSERDATA) {
		lp = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return lp;
	}
	lua_pop(L, 1);
	lp = lua_newuserdatauv(L, sizeof(*lp), 0);
	memset(lp, 0, sizeof(*lp));
	lp->epfd = -1;
	lp->err_ref = LUA_NOREF;
	luaL_setmetatable(L, SH_LOOP_MT);
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->epfd < 0)
		sh_raise_errno(L, errno, NULL, "epoll_create1");
	lua_setfield(L, LUA_REGISTRYINDEX, LOOP_KEY);
	return lp;
}

int sh_loop_fd(lua_State *L)
{
	return sh_loop_get(L)->epfd;
}

/* Register src; 0 or -errno, never raises (run() must undo its signal mask on failure). */
static int loop_add(struct sh_loop *lp, struct sh_source *src)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };

	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
		return -errno;
	src->registered = true;
	if (src->check) {
		src->check_next = lp->checks;
		lp->checks = src;
	}
	return 0;
}

int sh_loop_add(lua_State *L, struct sh_source *src)
{
	int err = loop_add(sh_loop_get(L), src);

	if (err)
		return sh_raise_errno(L, -err, NULL, "loop: watch fd %d", src->fd);
	return 0;
}

void sh_loop_del(lua_State *L, struct sh_source *src)
{
	struct sh_loop *lp;

	if (!src->registered)
		return;
	src->registered = false;
	if (lua_getfield(L, LUA_REGISTRYINDEX, LOOP_KEY) != LUA_TUSERDATA) {
		lua_pop(L, 1); /* state closing: the epoll fd went first */
		return;
	}
	lp = lua_touserdata(L, -1);
	lua_pop(L, 1);
	for (struct sh_source **pp = &lp->checks; *pp; pp = &(*pp)->check_next) {
		if (*pp == src) {
			*pp = src->check_next;
			break;
		}
	}
	for (int i = 0; i < lp->nevs; i++)
		if (lp->evs[i].data.ptr == src)
			lp->evs[i].data.ptr = NULL;
	/* a watched fd the script closed is gone from the epoll set already: ignore EBADF */
	if (lp->epfd >= 0)
		epoll_ctl(lp->epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

const bool *sh_loop_stop_flag(lua_State *L)
{
	return &sh_loop_get(L)->stop;
}

void sh_loop_fail(lua_State *L)
{
	struct sh_loop *lp = sh_loop_get(L);

	if (lp->err_ref != LUA_NOREF) {
		lua_pop(L, 1); /* keep the first error */
	} else {
		lp->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lp->stop = true;
	lp->reason = "error";
}

/* lua.c's msghandler: a traceback for strings, tostring'able objects and the rest. */
static int msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			msg = lua_tostring(L, -1);
		else
			msg = lua_pushfstring(L, "(error object is a %s value)",
					      luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

int sh_loop_pcall(lua_State *L, int nargs, int nresults)
{
	int base = lua_gettop(L) - nargs;
	int status;

	lua_pushcfunction(L, msghandler);
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	return status;
}

int sh_loop_call(lua_State *L, int nargs)
{
	if (sh_loop_pcall(L, nargs, 0) != LUA_OK) {
		sh_loop_fail(L);
		return -1;
	}
	return 0;
}

static void raise_pending(lua_State *L, struct sh_loop *lp)
{
	if (lp->err_ref == LUA_NOREF)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, lp->err_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, lp->err_ref);
	lp->err_ref = LUA_NOREF;
	lua_error(L);
}

static int dispatch_ready(lua_State *L, struct sh_loop *lp, int timeout_ms)
{
	struct sh_source *next;
	int n;

	for (struct sh_source *src = lp->checks; src; src = next) {
		next = src->check_next; /* the check may unregister src */
		if (src->check(L, src) < 0)
			return 0;
	}
	lp->nevs = 0;
	n = epoll_wait(lp->epfd, lp->evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : sh_raise_errno(L, errno, NULL, "loop: epoll_wait");
	lp->nevs = n;
	for (int i = 0; i < n; i++) {
		struct sh_source *src = lp->evs[i].data.ptr;

		/* NULL: a callback earlier in this batch closed this source (sh_loop_del) */
		if (!src)
			continue;
		src->dispatch(L, src, lp->evs[i].events);
		if (lp->err_ref != LUA_NOREF)
			break;
	}
	lp->nevs = 0;
	return n;
}

int sh_loop_step(lua_State *L, int timeout_ms)
{
	struct sh_loop *lp = sh_loop_get(L);
	int n;

	if (lp->running)
		return luaL_error(L, "sockhost.poll: the loop is already running");
	lp->running = true;
	lp->stop = false;
	n = dispatch_ready(L, lp, timeout_ms);
	lp->running = false;
	raise_pending(L, lp);
	return n;
}

/* ---- run ---------------------------------------------------------------------------------- */

struct run_state {
	struct sh_source duration, signals;
	sigset_t old_mask;
	bool masked;
};

static int on_duration(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_loop *lp = sh_loop_get(L);
	uint64_t n;

	if (read(src->fd, &n, sizeof(n)) == sizeof(n)) {
		lp->stop = true;
		lp->reason = "duration";
	}
	return 0;
}

static int on_signal(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_loop *lp = sh_loop_get(L);
	struct signalfd_siginfo si;

	if (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		lp->stop = true;
		lp->reason = "signal";
		lp->signo = (int)si.ssi_signo;
	}
	return 0;
}

static int run_inner(lua_State *L)
{
	struct sh_loop *lp = lua_touserdata(L, 1);

	while (!lp->stop)
		dispatch_ready(L, lp, -1);
	return 0;
}

static void run_teardown(lua_State *L, struct run_state *rs)
{
	if (rs->duration.fd >= 0) {
		sh_loop_del(L, &rs->duration);
		close(rs->duration.fd);
	}
	if (rs->signals.fd >= 0) {
		sh_loop_del(L, &rs->signals);
		close(rs->signals.fd);
	}
	if (rs->masked)
		sigprocmask(SIG_SETMASK, &rs->old_mask, NULL);
}

static int l_run(lua_State *L)
{
	struct sh_loop *lp = sh_loop_get(L);
	struct run_state rs = { .duration.fd = -1, .signals.fd = -1 };
	double duration = 0;
	sigset_t mask;
	int status;

	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		if (lua_getfield(L, 1, "duration") != LUA_TNIL) {
			duration = luaL_checknumber(L, -1);
			if (!(duration > 0))
				return luaL_error(L, "sockhost.run: duration must be > 0 seconds, "
						  "got %f", duration);
		}
		lua_pop(L, 1);
	}
	if (lp->running)
		return luaL_error(L, "sockhost.run: the loop is already running (run and poll "
				  "cannot be called from a callback)");

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, &rs.old_mask) == 0)
		rs.masked = true;
	rs.signals.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	rs.signals.dispatch = on_signal;
	if (rs.signals.fd < 0 || (errno = -loop_add(lp, &rs.signals)) != 0) {
		int err = errno;

		run_teardown(L, &rs);
		return sh_raise_errno(L, err, NULL, "sockhost.run: signalfd");
	}
	if (duration > 0) {
		struct itimerspec its = { 0 };

		its.it_value.tv_sec = (time_t)duration;
		its.it_value.tv_nsec = (long)((duration - (double)(time_t)duration) * 1e9);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
		rs.duration.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		rs.duration.dispatch = on_duration;
		if (rs.duration.fd < 0 || timerfd_settime(rs.duration.fd, 0, &its, NULL) < 0 ||
		    (errno = -loop_add(lp, &rs.duration)) != 0) {
			int err = errno;

			run_teardown(L, &rs);
			return sh_raise_errno(L, err, NULL, "sockhost.run: duration timer");
		}
	}

	lp->running = true;
	lp->stop = false;
	lp->reason = "stopped";
	lp->signo = 0;
	lua_pushcfunction(L, run_inner);
	lua_pushlightuserdata(L, lp);
	status = lua_pcall(L, 1, 0, 0);
	lp->running = false;
	run_teardown(L, &rs);
	if (status != LUA_OK)
		return lua_error(L);
	raise_pending(L, lp);

	lua_pushstring(L, lp->reason);
	if (lp->signo) {
		lua_pushstring(L, lp->signo == SIGINT ? "SIGINT" : "SIGTERM");
		return 2;
	}
	return 1;
}

static int l_poll(lua_State *L)
{
	lua_Integer ms = luaL_optinteger(L, 1, 0);

	if (ms < -1 || ms > INT32_MAX)
		return luaL_error(L, "sockhost.poll: timeout %I ms out of range", ms);
	lua_pushinteger(L, sh_loop_step(L, (int)ms));
	return 1;
}

static int l_stop(lua_State *L)
{
	struct sh_loop *lp = sh_loop_get(L);

	lp->stop = true;
	lp->reason = "stopped";
	return 0;
}

/* ---- timers ------------------------------------------------------------------------------- */

static void timer_cancel(lua_State *L, struct sh_timer *t)
{
	if (t->src.fd < 0)
		return;
	sh_loop_del(L, &t->src);
	close(t->src.fd);
	t->src.fd = -1;
	if (t->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
	t->self_ref = LUA_NOREF;
}

static int on_timer(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_timer *t = (struct sh_timer *)src;
	struct sh_loop *lp = sh_loop_get(L);
	uint64_t n = 0;

	if (read(src->fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	/* an every() that fell behind fires once per missed tick, as bpftrace's interval */
	for (uint64_t i = 0; i < n && t->src.fd >= 0 && !lp->stop; i++) {
		/* the timer stays on the stack so a cancel() inside the callback can't free it */
		lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
		lua_getiuservalue(L, -1, 1);
		if (!t->repeat)
			timer_cancel(L, t); /* one-shot: disarmed before its callback runs */
		int rc = sh_loop_call(L, 0);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int new_timer(lua_State *L, bool repeat)
{
	double secs = luaL_checknumber(L, 1);
	struct itimerspec its = { 0 };
	struct sh_timer *t;

	if (!(secs > 0))
		return luaL_error(L, "sockhost.%s: interval must be > 0 seconds, got %f",
				  repeat ? "every" : "after", secs);
	if (!lua_isfunction(L, 2) && !luaL_getmetafield(L, 2, "__call"))
		return luaL_error(L, "sockhost.%s: callback must be callable, got %s",
				  repeat ? "every" : "after", luaL_typename(L, 2));
	lua_settop(L, 2);
	t = lua_newuserdatauv(L, sizeof(*t), 1);
	memset(t, 0, sizeof(*t));
	t->src.fd = -1;
	t->self_ref = LUA_NOREF;
	luaL_setmetatable(L, SH_TIMER_MT);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	t->repeat = repeat;
	t->src.dispatch = on_timer;
	t->src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->src.fd < 0)
		return sh_raise_errno(L, errno, NULL, "timerfd_create");
	its.it_value.tv_sec = (time_t)secs;
	its.it_value.tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9);
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	if (repeat)
		its.it_interval = its.it_value;
	if (timerfd_settime(t->src.fd, 0, &its, NULL) < 0)
		return sh_raise_errno(L, errno, NULL, "timerfd_settime");
	sh_loop_add(L, &t->src);
	lua_pushvalue(L, -1);
	t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_every(lua_State *L)
{
	return new_timer(L, true);
}

static int l_after(lua_State *L)
{
	return new_timer(L, false);
}

static int timer_l_cancel(lua_State *L)
{
	timer_cancel(L, luaL_checkudata(L, 1, SH_TIMER_MT));
	return 0;
}

static int timer_l_tostring(lua_State *L)
{
	struct sh_timer *t = luaL_checkudata(L, 1, SH_TIMER_MT);

	lua_pushfstring(L, "%s (%s%s)", SH_TIMER_MT, t->repeat ? "every" : "after",
			t->src.fd < 0 ? ", cancelled" : "");
	return 1;
}

int sh_loop_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "run", l_run },
		{ "poll", l_poll },
		{ "stop", l_stop },
		{ "every", l_every },
		{ "after", l_after },
		{ NULL, NULL },
	};
	static const luaL_Reg loop_meta[] = {
		{ "__gc", loop_gc },
		{ NULL, NULL },
	};
	static const luaL_Reg timer_meta[] = {
		{ "__gc", timer_l_cancel },
		{ "__close", timer_l_cancel },
		{ "__tostring", timer_l_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg timer_methods[] = {
		{ "cancel", timer_l_cancel },
		{ NULL, NULL },
	};

	sh_new_class(L, SH_LOOP_MT, loop_meta, NULL);
	sh_new_class(L, SH_TIMER_MT, timer_meta, timer_methods);
	luaL_getmetatable(L, SH_TIMER_MT);
	lua_getfield(L, -1, "methods");
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
	return 0;
}
