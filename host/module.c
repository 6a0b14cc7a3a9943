// SPDX-License-Identifier: GPL-2.0
/*
 * module.c: the registrar, and the only file that names every layer. luaopen_sockhost_core
 * builds the sockhost.core table by calling each layer's open function in order: a layer's
 * classes exist before a layer above adds methods to them (program:attach, obj:subscribe)
 * or registers hooks with them (the log ring's load hook). Nothing here holds state: all of
 * it lives in the Lua state being opened.
 */
#include <sys/resource.h>
#include <lua.h>
#include <lauxlib.h>
#include "attach/attach.h"
#include "base/facts.h"
#include "base/libbpf_log.h"
#include "events/events.h"
#include "features/features.h"
#include "loop/loop.h"
#include "net/http.h"
#include "net/socket.h"
#include "obj/compile.h"
#include "obj/map.h"
#include "obj/object.h"
#include "obj/pin.h"
#include "obj/program.h"
#include "sockhost.h"

static const struct {
	const char *layer;
	int (*open)(lua_State *L);
} mod[] = {
	{ "base", sh_facts_open },     { "features", sh_features_open },
	{ "obj", sh_object_open },     { "obj", sh_program_open },
	{ "obj", sh_map_open },	       { "obj", sh_pin_open },
	{ "attach", sh_link_open },    { "attach", sh_socket_filter_open },
	{ "loop", sh_loop_open },      { "loop", sh_timer_open },
	{ "loop", sh_watch_open },     { "loop", sh_tracepipe_open },
	{ "events", sh_ringbuf_open }, { "events", sh_perfbuf_open },
	{ "events", sh_events_open },  { "events", sh_log_open },
	{ "events", sh_output_open },
	{ "net", sh_socket_open },     { "obj", sh_compile_open }, /* after sh_object_open */
	{ "net", sh_http_open }, /* after loop */
};

int luaopen_sockhost_core(lua_State *L)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	/* Kernels since 5.11 charge BPF memory to the memory cgroup; older ones need the
	 * memlock limit raised. Where it cannot be raised that is not an error. */
	setrlimit(RLIMIT_MEMLOCK, &rl);
	sh_libbpf_log_init();

	lua_newtable(L);
	for (size_t i = 0; i < sizeof(mod) / sizeof(mod[0]); i++)
		mod[i].open(L);
	lua_pushstring(L, SOCKHOST_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
