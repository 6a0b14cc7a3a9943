// SPDX-License-Identifier: GPL-2.0
/*
 * events/output.c: sockhost.core.output_file(path), the file a tool's --output writes its
 * NDJSON to. It is a plain Lua file handle (LUA_FILEHANDLE, as io.open makes), so it serves
 * both the ndjson writer (fh:write) and opts.ndjson/sub:set_output (the FILE * drain.c
 * writes to). The file is opened for appending and, when this call creates it, gets mode
 * 0640 whatever the umask (a log that holds connection data is not world readable); an
 * existing file keeps its mode and owner, as logrotate's create directive set them.
 * The handle owns its FILE: closed by :close(), __gc or __close like any io file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "events/events.h"

static int output_close(lua_State *L)
{
	luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
	int res = fclose(p->f);

	return luaL_fileresult(L, res == 0, NULL);
}

/* core.output_file(path) -> file, or nil, "path: error text", errno (luaL_fileresult). */
static int l_output_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC;
	luaL_Stream *p;
	int fd;

	/* the handle first, closed (closef NULL), so a memory error leaks nothing */
	p = lua_newuserdatauv(L, sizeof(*p), 0);
	p->f = NULL;
	p->closef = NULL;
	luaL_setmetatable(L, LUA_FILEHANDLE);
	fd = open(path, flags | O_EXCL, 0640);
	if (fd >= 0) {
		if (fchmod(fd, 0640) < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return luaL_fileresult(L, 0, path);
		}
	} else if (errno == EEXIST) {
		fd = open(path, flags, 0640);
	}
	if (fd < 0)
		return luaL_fileresult(L, 0, path);
	p->f = fdopen(fd, "a");
	if (!p->f) {
		int e = errno;

		close(fd);
		errno = e;
		return luaL_fileresult(L, 0, path);
	}
	p->closef = output_close;
	return 1;
}

int sh_output_open(lua_State *L)
{
	lua_pushcfunction(L, l_output_file);
	lua_setfield(L, -2, "output_file");
	return 0;
}
