// SPDX-License-Identifier: GPL-2.0
/*
 * obj/pin.c: pins (obj/pin.h). A pinned program or map opened again owns its fd; which of the
 * two a pin holds is read from the kernel's fdinfo, never guessed from the path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <bpf/bpf.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/fs.h"
#include "lua/class.h"
#include "obj/map.h"
#include "obj/pin.h"
#include "obj/program.h"

/* Pin fd at path (bpffs mounted first where needed); kind and name say whose fd it is. */
static void pin_fd(lua_State *L, int fd, const char *kind, const char *name, const char *path)
{
	sh_ensure_bpffs(L, path);
	if (bpf_obj_pin(fd, path) < 0)
		sh_raise_errno(L, errno, NULL, "%s '%s': pin at '%s'", kind, name, path);
}

/* Raise unless path is on a bpffs: unpin and open_pinned act on pins only, never on an
 * ordinary file someone names by mistake. */
static void need_pin_path(lua_State *L, const char *what, const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs) < 0)
		sh_raise_errno(L, errno, NULL, "%s '%s'", what, path);
	if (sfs.f_type != BPF_FS_MAGIC)
		luaL_error(L, "%s '%s': not on a bpffs, so not a pin", what, path);
}

static void unpin(lua_State *L, const char *kind, const char *name, const char *path)
{
	char what[96];

	snprintf(what, sizeof(what), "%s '%s': unpin", kind, name);
	need_pin_path(L, what, path);
	if (unlink(path) < 0)
		sh_raise_errno(L, errno, NULL, "%s '%s': unpin '%s'", kind, name, path);
}

static int l_prog_pin(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);
	const char *path = luaL_checkstring(L, 2);

	pin_fd(L, sh_program_fd(L, p), "program", p->name, path);
	lua_settop(L, 1);
	return 1;
}

static int l_prog_unpin(lua_State *L)
{
	struct sh_program *p = sh_program_check(L, 1);

	unpin(L, "program", p->name, luaL_checkstring(L, 2));
	lua_settop(L, 1);
	return 1;
}

static int l_map_pin(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);
	const char *path = luaL_checkstring(L, 2);

	pin_fd(L, sh_map_fd(L, m), "map", m->name, path);
	lua_settop(L, 1);
	return 1;
}

static int l_map_unpin(lua_State *L)
{
	struct sh_map *m = sh_map_check(L, 1);

	unpin(L, "map", m->name, luaL_checkstring(L, 2));
	lua_settop(L, 1);
	return 1;
}

/* The kernel's info for a pinned fd (a program's or a map's), or close fd and raise. */
static void pinned_info(lua_State *L, int fd, void *info, __u32 len, const char *what)
{
	memset(info, 0, len);
	if (bpf_obj_get_info_by_fd(fd, info, &len) < 0) {
		int err = errno;

		close(fd);
		sh_raise_errno(L, err, NULL, "%s", what);
	}
}

/* sockhost.open_pinned(path) -> program or map */
static int l_open_pinned(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char fdinfo[64], line[128];
	bool is_prog = false, is_map = false;
	FILE *f;
	int fd;

	need_pin_path(L, "open_pinned", path);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return sh_raise_errno(L, errno, NULL, "open_pinned '%s'", path);
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
	f = fopen(fdinfo, "re");
	while (f && fgets(line, sizeof(line), f)) {
		is_prog |= !strncmp(line, "prog_type:", 10);
		is_map |= !strncmp(line, "map_type:", 9);
	}
	if (f)
		fclose(f);
	if (is_prog) {
		struct bpf_prog_info info;

		pinned_info(L, fd, &info, sizeof(info), "program info");
		sh_push_pinned_program(L, fd, &info);
	} else if (is_map) {
		struct bpf_map_info info;

		pinned_info(L, fd, &info, sizeof(info), "map info");
		sh_push_owned_map(L, fd, &info);
	} else {
		close(fd);
		return luaL_error(L,
				  "open_pinned '%s': pinned object is neither a program nor a "
				  "map",
				  path);
	}
	return 1;
}

int sh_pin_open(lua_State *L)
{
	static const luaL_Reg prog_methods[] = {
		{ "pin", l_prog_pin },
		{ "unpin", l_prog_unpin },
		{ NULL, NULL },
	};
	static const luaL_Reg map_methods[] = {
		{ "pin", l_map_pin },
		{ "unpin", l_map_unpin },
		{ NULL, NULL },
	};

	sh_class_add_methods(L, SH_PROGRAM_MT, prog_methods);
	sh_class_add_methods(L, SH_MAP_MT, map_methods);
	lua_pushcfunction(L, l_open_pinned);
	lua_setfield(L, -2, "open_pinned");
	return 0;
}
