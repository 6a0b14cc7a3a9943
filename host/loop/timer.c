// SPDX-License-Identifier: GPL-2.0
/*
 * loop/timer.c: sockhost.every(secs, fn) and sockhost.after(secs, fn), timerfds in the loop.
 * An armed timer is referenced from the registry (a dropped handle keeps firing, as a
 * bpftrace interval does); cancel(), :close() or the end of a one-shot unregisters it.
 * User value 1 is fn.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "loop/loop.h"
#include "lua/class.h"
#include "lua/opts.h"

#define SH_TIMER_MT "sockhost.timer"

struct sh_timer {
	struct sh_handle h; /* h.live: the timer while armed */
	struct sh_source src; /* src.fd < 0: cancelled */
	bool repeat;
	int self_ref; /* registry ref keeping the timer alive while armed */
};

static const struct sh_class timer_class;

static void timer_cancel(lua_State *L, struct sh_timer *t)
{
	t->h.live = NULL;
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
	struct sh_timer *t = src->ctx;
	struct sh_loop *lp = sh_loop_of(L);
	uint64_t n = 0;

	if (read(src->fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	/* an every() that fell behind fires once per missed tick, as bpftrace's interval */
	for (uint64_t i = 0; i < n && t->src.fd >= 0 && !sh_loop_stopping(lp); i++) {
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
	double secs = sh_check_seconds(
		L, 1, repeat ? "sockhost.every: interval" : "sockhost.after: interval");
	struct itimerspec its = { 0 };
	struct sh_timer *t;

	if (!lua_isfunction(L, 2) && !luaL_getmetafield(L, 2, "__call"))
		return luaL_error(L, "sockhost.%s: callback must be callable, got %s",
				  repeat ? "every" : "after", luaL_typename(L, 2));
	lua_settop(L, 2);
	t = sh_handle_new(L, &timer_class, sizeof(*t), 1);
	t->src.fd = -1;
	t->src.ctx = t;
	t->self_ref = LUA_NOREF;
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
	t->h.live = t;
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

static void timer_close(lua_State *L, int idx, struct sh_handle *h)
{
	timer_cancel(L, (struct sh_timer *)h);
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

static const luaL_Reg timer_meta[] = {
	{ "__tostring", timer_l_tostring },
	{ NULL, NULL },
};

static const luaL_Reg timer_methods[] = {
	{ "cancel", timer_l_cancel },
	{ NULL, NULL },
};

static const struct sh_class timer_class = {
	.name = SH_TIMER_MT,
	.close = timer_close,
	.methods = timer_methods,
	.meta = timer_meta,
};

int sh_timer_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "every", l_every },
		{ "after", l_after },
		{ NULL, NULL },
	};

	sh_class_register(L, &timer_class);
	luaL_setfuncs(L, funcs, 0);
	return 0;
}
