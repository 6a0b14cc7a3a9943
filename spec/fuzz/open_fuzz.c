// SPDX-License-Identifier: GPL-2.0
/*
 * spec/fuzz/open_fuzz.c: libFuzzer harness for sockhost.open on bytes the fuzzer chooses. The
 * input is written to a memfd and opened by its /proc/self/fd path with {load = false} (the
 * fuzzer never loads into the kernel, so it does not hammer bpf(2)); when the open succeeds,
 * obj:maps(), obj:programs() and every global are touched, each under pcall, and the object
 * is closed. Any Lua error is fine; a crash, a sanitizer report or an fd left open is not.
 *
 * One sockhost state (sockhost_new) and one memfd for the whole run, made on the first input.
 * The fd check: after each input the lowest free descriptor must be the one it was before
 * (check_new_fds says which descriptors are exempt).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lua.h>
#include "sockhost.h"

static const char script[] =
	"local core = require 'sockhost.core'\n"
	"return function(path)\n"
	"   local ok, obj = pcall(core.open, path, { load = false })\n"
	"   if not ok then return end\n"
	"   pcall(function() for _, m in ipairs(obj:maps()) do tostring(m) end end)\n"
	"   pcall(function() for _, p in ipairs(obj:programs()) do tostring(p) end end)\n"
	"   pcall(function() for _ in pairs(obj.globals) do end end)\n"
	"   tostring(obj)\n"
	"   obj:close()\n"
	"end\n";

static struct sockhost *sh;
static int memfd = -1, free_fd = -1, run_ref;
static char path[64];

static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * The fds from free_fd up to (not including) fd were opened during the input. The only ones
 * allowed are pipes: the sanitizer's symbolizer, which libFuzzer starts on demand to name new
 * functions, keeps its pipes open for the rest of the run.
 */
static void check_new_fds(int fd)
{
	for (int i = free_fd; i < fd; i++) {
		char link[64], target[256] = "";

		snprintf(link, sizeof(link), "/proc/self/fd/%d", i);
		if (readlink(link, target, sizeof(target) - 1) < 0 || !strncmp(target, "pipe:", 5))
			continue;
		fprintf(stderr, "open_fuzz: fd %d (%s) left open by the input\n", i, target);
		abort();
	}
}

static void setup(void)
{
	lua_State *L;

	sh = sockhost_new();
	if (!sh)
		abort();
	L = sockhost_lua(sh);
	if (luaL_loadstring(L, script) || lua_pcall(L, 0, 1, 0)) {
		fprintf(stderr, "open_fuzz: %s\n", lua_tostring(L, -1));
		abort();
	}
	run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	memfd = memfd_create("open_fuzz.bpf.o", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	free_fd = lowest_free_fd();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L;
	int fd;

	if (!sh)
		setup();
	L = sockhost_lua(sh);
	if (ftruncate(memfd, 0) || (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
	lua_pushstring(L, path);
	if (lua_pcall(L, 1, 0, 0)) {
		fprintf(stderr, "open_fuzz: the harness script raised: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	fd = lowest_free_fd();
	if (fd > free_fd)
		check_new_fds(fd);
	free_fd = fd;
	return 0;
}
