// SPDX-License-Identifier: GPL-2.0
/*
 * loop/loop.c: the one epoll loop of a Lua state (loop/loop.h): sockhost.run, poll and stop.
 * The loop userdata lives in the registry (so a state has exactly one) and owns the epoll fd.
 * Timers are loop/timer.c. Callbacks run under lua_pcall with a traceback
 * handler: an error is stored, the loop stops, the fds are torn down, and only then is the
 * error raised in the script, so no error ever longjmps through libbpf or leaves SIGINT
 * blocked. While sockhost.run waits, SIGINT/SIGTERM are blocked and read from a signalfd:
 * they end the run and the script goes on to print its summary. run{on_hup = fn} does the same
 * for SIGHUP on a signalfd of its own (so sh_loop_stopping and the watchdog never see it):
 * each one calls fn in the loop, like a timer (a daemon reopening its log for logrotate).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <linux/types.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "loop/loop.h"
#include "loop/watchdog.h"
#include "lua/class.h"
#include "lua/opts.h"

#define LOOP_KEY "sockhost.loop.instance" /* not SH_LOOP_MT: that key holds the metatable */

struct sh_loop {
	struct sh_handle h; /* h.live: the loop while its epoll fd is open */
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
	int forced; /* the signal the last run() was interrupted for by its watchdog, or 0 */
	/* While run() waits: its signalfd and its deadline, which sh_loop_stopping looks at
	 * between records (at most every CHECK_NS), so a slow callback delays neither. */
	int sigfd;
	__u64 deadline_ns; /* 0: none */
	__u64 next_check_ns;
};

#define CHECK_NS (10 * 1000 * 1000ull)

static __u64 now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void loop_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_loop *lp = (struct sh_loop *)h;

	if (lp->epfd >= 0)
		close(lp->epfd);
	lp->epfd = -1;
}

static const struct sh_class loop_class = {
	.name = SH_LOOP_MT,
	.close = loop_close,
};

static struct sh_loop *sh_loop_get(lua_State *L)
{
	struct sh_loop *lp;

	if (lua_getfield(L, LUA_REGISTRYINDEX, LOOP_KEY) == LUA_TUSERDATA) {
		lp = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return lp;
	}
	lua_pop(L, 1);
	sh_class_register(L, &loop_class);
	lp = sh_handle_new(L, &loop_class, sizeof(*lp), 0);
	lp->err_ref = LUA_NOREF;
	lp->sigfd = -1;
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->epfd < 0)
		sh_raise_errno(L, errno, NULL, "epoll_create1");
	lp->h.live = lp;
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

int sh_loop_forced_signal(lua_State *L)
{
	return sh_loop_get(L)->forced;
}

struct sh_loop *sh_loop_of(lua_State *L)
{
	return sh_loop_get(L);
}

bool sh_loop_stopping(struct sh_loop *lp)
{
	struct signalfd_siginfo si;
	__u64 now;

	if (lp->stop)
		return true;
	if (lp->sigfd < 0)
		return false; /* not inside run(): poll() callers stop themselves */
	/* the coarse clock is a vDSO read of a jiffy-resolution counter: cheap per record */
	now = now_ns(CLOCK_MONOTONIC_COARSE);
	if (now < lp->next_check_ns)
		return false;
	lp->next_check_ns = now + CHECK_NS;
	if (read(lp->sigfd, &si, sizeof(si)) == sizeof(si)) {
		lp->stop = true;
		lp->reason = "signal";
		__atomic_store_n(&lp->signo, (int)si.ssi_signo, __ATOMIC_RELEASE);
	} else if (lp->deadline_ns && now_ns(CLOCK_MONOTONIC) >= lp->deadline_ns) {
		lp->stop = true;
		lp->reason = "duration";
	}
	return lp->stop;
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

int sh_loop_call(lua_State *L, int nargs)
{
	if (sh_pcall_traced(L, nargs, 0) != LUA_OK) {
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
		if (lp->err_ref != LUA_NOREF || lp->stop)
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

int sh_loop_dispatch_now(lua_State *L, struct sh_source *src)
{
	struct sh_loop *lp = sh_loop_get(L);
	int rc;

	if (lp->running) /* from a callback: the running loop raises what it stores */
		return src->dispatch(L, src, 0);
	lp->running = true;
	lp->stop = false;
	rc = src->dispatch(L, src, 0);
	lp->running = false;
	raise_pending(L, lp);
	return rc;
}

/* ---- run ---------------------------------------------------------------------------------- */

struct run_state {
	struct sh_source duration, signals, hup;
	int hup_ref; /* run{on_hup = fn}: fn in the registry, or LUA_NOREF */
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
		__atomic_store_n(&lp->signo, (int)si.ssi_signo, __ATOMIC_RELEASE);
	}
	return 0;
}

static int on_hup(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct run_state *rs = src->ctx;
	struct signalfd_siginfo si;

	/* two SIGHUPs before this read are one pending signal: one call, as with sigaction */
	if (read(src->fd, &si, sizeof(si)) != sizeof(si))
		return 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, rs->hup_ref);
	return sh_loop_call(L, 0) < 0 ? -1 : 0;
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
	if (rs->hup.fd >= 0) {
		struct signalfd_siginfo si;

		/* a SIGHUP that came as the run ended is taken, not left to kill the process
		 * (the default action) once it is unblocked below: the script is ending anyway */
		while (read(rs->hup.fd, &si, sizeof(si)) == sizeof(si))
			;
		sh_loop_del(L, &rs->hup);
		close(rs->hup.fd);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, rs->hup_ref);
	if (rs->duration.fd >= 0) {
		sh_loop_del(L, &rs->duration);
		close(rs->duration.fd);
	}
	if (rs->signals.fd >= 0) {
		struct sh_loop *lp = sh_loop_get(L);
		struct signalfd_siginfo si;

		/* A signal still pending came while the run ended some other way (an error, a
		 * callback interrupted by the watchdog, the duration): it was meant for the run,
		 * so take it here rather than let the unmasking below deliver it to whoever
		 * handles signals after run() (a second interrupt, or the default action). */
		while (read(rs->signals.fd, &si, sizeof(si)) == sizeof(si)) {
			if (!lp->signo && lp->err_ref == LUA_NOREF && !lp->forced) {
				lp->reason = "signal";
				__atomic_store_n(&lp->signo, (int)si.ssi_signo, __ATOMIC_RELEASE);
			}
		}
		sh_loop_del(L, &rs->signals);
		close(rs->signals.fd);
	}
	if (rs->masked)
		sigprocmask(SIG_SETMASK, &rs->old_mask, NULL);
}

static int l_run(lua_State *L)
{
	struct sh_loop *lp = sh_loop_get(L);
	struct run_state rs = {
		.duration.fd = -1, .signals.fd = -1, .hup.fd = -1, .hup_ref = LUA_NOREF
	};
	double duration = 0;
	struct sh_watchdog *watchdog;
	sigset_t mask;
	int status;

	static const char *const run_opts[] = { "duration", "on_hup", NULL };
	bool has_hup = false;

	if (sh_opts_check(L, 1, "sockhost.run", run_opts)) {
		if (lua_getfield(L, 1, "duration") != LUA_TNIL)
			duration = sh_check_seconds(L, -1, "sockhost.run: duration");
		if (lua_getfield(L, 1, "on_hup") != LUA_TNIL) {
			if (!lua_isfunction(L, -1))
				return luaL_error(L,
						  "sockhost.run: on_hup must be a function, got %s",
						  luaL_typename(L, -1));
			has_hup = true;
		}
		lua_pop(L, 2);
	}
	if (lp->running)
		return luaL_error(L, "sockhost.run: the loop is already running (run and poll "
				     "cannot be called from a callback)");

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (has_hup)
		sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &rs.old_mask) == 0)
		rs.masked = true;
	sigdelset(&mask, SIGHUP);
	rs.signals.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	rs.signals.dispatch = on_signal;
	if (rs.signals.fd < 0 || (errno = -loop_add(lp, &rs.signals)) != 0) {
		int err = errno;

		run_teardown(L, &rs);
		return sh_raise_errno(L, err, NULL, "sockhost.run: signalfd");
	}
	if (has_hup) {
		sigset_t hup;

		lua_getfield(L, 1, "on_hup");
		rs.hup_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		sigemptyset(&hup);
		sigaddset(&hup, SIGHUP);
		rs.hup.fd = signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
		rs.hup.dispatch = on_hup;
		rs.hup.ctx = &rs;
		if (rs.hup.fd < 0 || (errno = -loop_add(lp, &rs.hup)) != 0) {
			int err = errno;

			run_teardown(L, &rs);
			return sh_raise_errno(L, err, NULL, "sockhost.run: on_hup signalfd");
		}
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
	lp->sigfd = rs.signals.fd;
	lp->deadline_ns = duration > 0 ? now_ns(CLOCK_MONOTONIC) + (__u64)(duration * 1e9) : 0;
	lp->next_check_ns = 0;
	lp->forced = 0;
	watchdog = sh_watchdog_start(L, rs.signals.fd, &lp->signo);
	lua_pushcfunction(L, run_inner);
	lua_pushlightuserdata(L, lp);
	status = lua_pcall(L, 1, 0, 0);
	lp->forced = sh_watchdog_stop(watchdog);
	lp->running = false;
	lp->sigfd = -1;
	lp->deadline_ns = 0;
	run_teardown(L, &rs);
	if (lp->forced) {
		/* a callback did not come back in time: what it raised says less than this */
		lua_sethook(L, NULL, 0, 0);
		if (lp->err_ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, lp->err_ref);
		lp->err_ref = LUA_NOREF;
		return luaL_error(L, lp->forced == SIGTERM ? "terminated!" : "interrupted!");
	}
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

/* sockhost.hold_hup(): block SIGHUP from now on, so one that comes before sockhost.run{on_hup}
 * waits for that run (its signalfd reads what is pending) instead of ending the process by
 * the default action. A tool calls it when it opens its --output file, before any setup. */
static int l_hold_hup(lua_State *L)
{
	sigset_t hup;

	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &hup, NULL) < 0)
		return sh_raise_errno(L, errno, NULL, "sockhost.hold_hup");
	return 0;
}

static int l_poll(lua_State *L)
{
	lua_Integer ms = luaL_optinteger(L, 1, 0);

	if (ms < -1 || ms > INT32_MAX)
		return luaL_error(L, "sockhost.poll: timeout %I ms out of range", ms);
	lua_pushinteger(L, sh_loop_step(L, (int)ms));
	return 1;
}

static void loop_stop(lua_State *L, const char *reason)
{
	struct sh_loop *lp = sh_loop_get(L);

	lp->stop = true;
	lp->reason = reason;
}

static int l_stop(lua_State *L)
{
	loop_stop(L, "stopped");
	return 0;
}

int sh_loop_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "run", l_run },	    { "poll", l_poll }, { "stop", l_stop },
		{ "hold_hup", l_hold_hup }, { NULL, NULL },
	};

	sh_class_register(L, &loop_class);
	luaL_setfuncs(L, funcs, 0);
	return 0;
}
