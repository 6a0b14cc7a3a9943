// SPDX-License-Identifier: GPL-2.0
/*
 * events/logring.c: the host side of BPF logging (sockhost/sockhost.bpf.h's sh_log_* macros,
 * after aya-log). An object with a `sockhost_log` ring buffer gets a raw ring subscription whose
 * callback is a C function here: it filters by level, formats the record's printf-style
 * format with its integer arguments and hands the line to the Lua function set with
 * sockhost.on_log(fn), or writes "[INFO prog] message" to stderr when none is set.
 *
 * The level comes from SOCKHOST_LOG (error|warn|info|debug|trace|off; default info) and
 * sockhost.log_level(name). It filters on both sides: here, and in the kernel through each
 * attached object's `sockhost_log_level` global, so messages nobody shows are not written.
 *
 * Per-state data lives in the registry: the level (an integer), the handler, and a weak table
 * object -> subscription that makes attaching idempotent. Every load in the state runs
 * attach_object (an obj/ load hook), so an object that logs is subscribed by itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <lauxlib.h>
#include "events/events.h"
#include "events/source.h"
#include "lua/class.h"
#include "obj/object.h"
#include "sockhost/log.h"

#define LEVEL_KEY   "sockhost.log.level"
#define HANDLER_KEY "sockhost.log.handler"
#define OBJS_KEY    "sockhost.log.objects"

static const char *const level_names[] = { "off", "error", "warn", "info", "debug", "trace" };
static const char *const level_tags[] = { "OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };

static int parse_level(const char *s)
{
	for (int i = 0; i <= SH_LOG_TRACE; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	if (!strcmp(s, "warning"))
		return SH_LOG_WARN;
	return -1;
}

static int get_level(lua_State *L)
{
	int level;

	if (lua_getfield(L, LUA_REGISTRYINDEX, LEVEL_KEY) == LUA_TNUMBER) {
		level = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		return level;
	}
	lua_pop(L, 1);
	const char *env = getenv("SOCKHOST_LOG");

	level = env && *env ? parse_level(env) : SH_LOG_INFO;
	if (level < 0)
		level = SH_LOG_INFO; /* a typo in the environment must not stop a script */
	lua_pushinteger(L, level);
	lua_setfield(L, LUA_REGISTRYINDEX, LEVEL_KEY);
	return level;
}

/* ---- formatting ------------------------------------------------------------------------------ */

static void add_ipv4(luaL_Buffer *b, __u64 v)
{
	char s[16];

	/* a __u32 in network order: its bytes in memory are the address bytes */
	snprintf(s, sizeof(s), "%u.%u.%u.%u", (unsigned)(v & 0xff), (unsigned)((v >> 8) & 0xff),
		 (unsigned)((v >> 16) & 0xff), (unsigned)((v >> 24) & 0xff));
	luaL_addstring(b, s);
}

/* One conversion starting at f (just after '%'); returns the char after it. */
static const char *add_conv(luaL_Buffer *b, const char *f, const struct sh_log_record *r, int *argi)
{
	char spec[32] = "%", out[64];
	const char *start = f;
	int len = 0; /* 0 int, 1 char/short (h/hh narrow), 2 64-bit */
	int narrow = 0;
	size_t n = 1;
	__u64 v;

	while (*f && strchr("-+ #0", *f))
		f++;
	while (*f >= '0' && *f <= '9')
		f++;
	if (*f == '.')
		for (f++; *f >= '0' && *f <= '9'; f++)
			;
	if ((size_t)(f - start) > sizeof(spec) - 8)
		return f; /* absurd width: drop the conversion */
	memcpy(spec + n, start, (size_t)(f - start));
	n += (size_t)(f - start);
	for (; *f == 'h' || *f == 'l' || *f == 'z'; f++) {
		if (*f == 'h')
			narrow++;
		else
			len = 2;
	}
	if (*f == '%') {
		luaL_addchar(b, '%');
		return f + 1;
	}
	if (!*f || !strchr("diuxXocp", *f)) {
		luaL_addchar(b, '%'); /* not a conversion we know: show it as written */
		luaL_addlstring(b, start, (size_t)(f - start));
		return f;
	}
	if (*argi >= r->nargs || *argi >= SH_LOG_ARGS_MAX) {
		luaL_addstring(b, "<missing>");
		return f + 1;
	}
	v = r->args[(*argi)++];
	switch (*f) {
	case 'p':
		if (f[1] == 'I' && f[2] == '4') {
			add_ipv4(b, v);
			return f + 3;
		}
		snprintf(out, sizeof(out), "0x%" PRIx64, (uint64_t)v);
		break;
	case 'c':
		spec[n++] = 'c';
		spec[n] = 0;
		snprintf(out, sizeof(out), spec, (int)(unsigned char)v);
		break;
	case 'd':
	case 'i': {
		int64_t s = len == 2	? (int64_t)v :
			    narrow == 1 ? (int16_t)v :
			    narrow >= 2 ? (int8_t)v :
					  (int32_t)v;

		memcpy(spec + n, PRId64, sizeof(PRId64));
		snprintf(out, sizeof(out), spec, s);
		break;
	}
	default: {
		uint64_t u = len == 2	 ? v :
			     narrow == 1 ? (uint16_t)v :
			     narrow >= 2 ? (uint8_t)v :
					   (uint32_t)v;
		const char *m = *f == 'u' ? PRIu64 :
				*f == 'x' ? PRIx64 :
				*f == 'X' ? PRIX64 :
					    PRIo64;

		memcpy(spec + n, m, strlen(m) + 1);
		snprintf(out, sizeof(out), spec, u);
		break;
	}
	}
	luaL_addstring(b, out);
	return f + 1;
}

/* Push the message of record r. */
static void push_message(lua_State *L, const struct sh_log_record *r)
{
	char fmt[SH_LOG_FMT_MAX + 1];
	luaL_Buffer b;
	int argi = 0;

	memcpy(fmt, r->fmt, SH_LOG_FMT_MAX);
	fmt[SH_LOG_FMT_MAX] = 0;
	luaL_buffinit(L, &b);
	for (const char *f = fmt; *f;) {
		const char *pct = strchr(f, '%');

		if (!pct) {
			luaL_addstring(&b, f);
			break;
		}
		luaL_addlstring(&b, f, (size_t)(pct - f));
		f = add_conv(&b, pct + 1, r, &argi);
	}
	luaL_pushresult(&b);
}

/* The ring subscription's callback: (raw record). */
static int on_record(lua_State *L)
{
	size_t size;
	const char *raw = luaL_checklstring(L, 1, &size);
	struct sh_log_record r;
	char prog[SH_LOG_PROG_MAX + 1];

	if (size < sizeof(r))
		return luaL_error(L,
				  "sockhost_log: record of %d bytes, expected %d (is the object "
				  "built with this sockhost's sockhost.bpf.h?)",
				  (int)size, (int)sizeof(r));
	memcpy(&r, raw, sizeof(r));
	if (r.level < SH_LOG_ERROR || r.level > SH_LOG_TRACE || r.level > get_level(L))
		return 0;
	memcpy(prog, r.prog, SH_LOG_PROG_MAX);
	prog[SH_LOG_PROG_MAX] = 0;
	if (lua_getfield(L, LUA_REGISTRYINDEX, HANDLER_KEY) != LUA_TNIL) {
		lua_pushstring(L, level_names[r.level]);
		lua_pushstring(L, prog);
		push_message(L, &r);
		lua_call(L, 3, 0);
		return 0;
	}
	push_message(L, &r);
	fprintf(stderr, "[%s %s] %s\n", level_tags[r.level], prog, lua_tostring(L, -1));
	return 0;
}

/* obj.globals.sockhost_log_level = level, where the object has it. Never raises. */
static int set_kernel_level(lua_State *L)
{
	lua_getfield(L, 1, "globals");
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, "sockhost_log_level");
	return 0;
}

static void push_kernel_level(lua_State *L, int obj_idx, int level)
{
	lua_pushcfunction(L, set_kernel_level);
	lua_pushvalue(L, obj_idx);
	lua_pushinteger(L, level);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK)
		lua_pop(L, 1); /* an object without the global filters on the host only */
}

/* Subscribe the log consumer to the object's `sockhost_log` ring buffer if it has one
 * (idempotent). Returns 1 when subscribed (now or before), 0 when there is none. */
static int attach_object(lua_State *L, int obj_idx)
{
	struct sh_object *o = sh_object_check(L, obj_idx);

	obj_idx = lua_absindex(L, obj_idx);
	if (!o->loaded || !bpf_object__find_map_by_name(sh_object_bpf(o), "sockhost_log"))
		return 0;
	sh_push_weak_registry(L, OBJS_KEY, "k");
	lua_pushvalue(L, obj_idx);
	if (lua_rawget(L, -2) != LUA_TNIL) {
		lua_pop(L, 2);
		return 1;
	}
	lua_pop(L, 1);
	lua_pushcfunction(L, sh_ringbuf_subscribe);
	lua_getfield(L, obj_idx, "map");
	lua_pushvalue(L, obj_idx);
	lua_pushliteral(L, "sockhost_log");
	lua_call(L, 2, 1);
	lua_pushnil(L);
	lua_pushcfunction(L, on_record);
	lua_call(L, 3, 1);
	/* the object holds its log subscription (the ephemeron below), not the registry: a
	 * dropped object is collected with it */
	sh_evsrc_hold_weakly(L, -1);
	lua_pushvalue(L, obj_idx);
	lua_pushvalue(L, -2);
	lua_rawset(L, -4);
	lua_pop(L, 2);
	push_kernel_level(L, obj_idx, get_level(L));
	return 1;
}

/* sockhost.log_attach(obj) -> the subscription, or nil when obj has no sockhost_log */
static int l_log_attach(lua_State *L)
{
	lua_settop(L, 1);
	if (!attach_object(L, 1))
		return 0;
	lua_getfield(L, LUA_REGISTRYINDEX, OBJS_KEY);
	lua_pushvalue(L, 1);
	lua_rawget(L, -2);
	return 1;
}

/* sockhost.log_level([name]) -> the level before the call */
static int l_log_level(lua_State *L)
{
	int old = get_level(L), level;

	lua_pushstring(L, level_names[old]);
	if (lua_isnoneornil(L, 1))
		return 1;
	level = parse_level(luaL_checkstring(L, 1));
	if (level < 0)
		return luaL_error(L,
				  "sockhost.log_level: unknown level '%s' (error, warn, info, "
				  "debug, trace or off)",
				  lua_tostring(L, 1));
	lua_pushinteger(L, level);
	lua_setfield(L, LUA_REGISTRYINDEX, LEVEL_KEY);
	if (lua_getfield(L, LUA_REGISTRYINDEX, OBJS_KEY) == LUA_TTABLE) {
		int objs = lua_gettop(L);

		lua_pushnil(L);
		while (lua_next(L, objs)) {
			lua_pop(L, 1);
			push_kernel_level(L, lua_gettop(L), level);
		}
	}
	lua_pop(L, 1);
	return 1;
}

/* sockhost.on_log(fn_or_nil): fn(level, prog, message) instead of stderr */
static int l_on_log(lua_State *L)
{
	if (!lua_isnoneornil(L, 1) && !lua_isfunction(L, 1)) {
		if (!luaL_getmetafield(L, 1, "__call"))
			return luaL_error(L, "sockhost.on_log: expected a function or nil, got %s",
					  luaL_typename(L, 1));
		lua_pop(L, 1);
	}
	lua_settop(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, HANDLER_KEY);
	return 0;
}

/* sockhost.log_format(raw_record) -> level, prog, message (for tests and raw readers) */
static int l_log_format(lua_State *L)
{
	size_t size;
	const char *raw = luaL_checklstring(L, 1, &size);
	struct sh_log_record r;
	char prog[SH_LOG_PROG_MAX + 1];

	if (size < sizeof(r))
		return luaL_error(L, "sockhost.log_format: record of %d bytes, expected %d",
				  (int)size, (int)sizeof(r));
	memcpy(&r, raw, sizeof(r));
	memcpy(prog, r.prog, SH_LOG_PROG_MAX);
	prog[SH_LOG_PROG_MAX] = 0;
	lua_pushstring(L, r.level <= SH_LOG_TRACE ? level_names[r.level] : "?");
	lua_pushstring(L, prog);
	push_message(L, &r);
	return 3;
}

/* The load hook: (obj) */
static int on_load(lua_State *L)
{
	attach_object(L, 1);
	return 0;
}

int sh_log_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "log_attach", l_log_attach },
		{ "log_level", l_log_level },
		{ "on_log", l_on_log },
		{ "log_format", l_log_format },
		{ NULL, NULL },
	};

	luaL_setfuncs(L, funcs, 0);
	sh_object_on_load(L, on_load);
	return 0;
}
