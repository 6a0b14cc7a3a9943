// SPDX-License-Identifier: GPL-2.0
/*
 * util.c: facts about the machine that several handles need: where cgroup2 is mounted (read
 * from /proc/mounts, never assumed), where the built-in BPF objects live, that a pin path is
 * on a bpffs, and how a Lua value names a socket. Results that cannot change are cached.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "internal.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

const char *sh_cgroup2_root(void)
{
	static char root[PATH_MAX];
	static bool done;
	struct mntent *m;
	FILE *f;

	if (done)
		return root[0] ? root : NULL;
	f = setmntent("/proc/mounts", "r");
	if (!f)
		return NULL;
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(root, sizeof(root), "%s", m->mnt_dir);
			break;
		}
	}
	endmntent(f);
	done = true;
	return root[0] ? root : NULL;
}

int sh_open_cgroup(lua_State *L, const char *path)
{
	struct statfs sfs;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sh_raise_errno(L, errno, NULL, "cgroup '%s'", path);
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		const char *root = sh_cgroup2_root();

		close(fd);
		return luaL_error(L, "cgroup '%s': not a cgroup v2 directory (cgroup2 is mounted "
				  "at %s)", path, root ? root : "nowhere: no cgroup2 in /proc/mounts");
	}
	return fd;
}

/* Does dir hold the built-in objects? If so, make it canonical in place (messages and
 * obj.path then name the same file whichever binary resolved it). */
static bool has_objects(char *dir)
{
	char probe[PATH_MAX], real[PATH_MAX];

	snprintf(probe, sizeof(probe), "%s/hello-sockops.bpf.o", dir);
	if (access(probe, R_OK) != 0)
		return false;
	if (realpath(dir, real))
		snprintf(dir, PATH_MAX, "%s", real);
	return true;
}

/* The build tree keeps bpf/ next to the sockhost binary (build/sockhost, build/bpf) and two
 * levels above the Lua module (build/lua/sockhost/core.so); an installed copy uses the
 * compiled-in data dir. */
const char *sh_bpf_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("SOCKHOST_BPF_PATH");
	char self[PATH_MAX], *slash;
	Dl_info info;

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	if (dladdr((void *)sh_bpf_dir, &info) && info.dli_fname &&
	    realpath(info.dli_fname, self)) {
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%s/bpf", self);
			if (has_objects(dir))
				return dir;
			snprintf(dir, sizeof(dir), "%s/../../bpf", self);
			if (has_objects(dir))
				return dir;
		}
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%s/bpf", self);
			if (has_objects(dir))
				return dir;
		}
	}
	snprintf(dir, sizeof(dir), "%s", SOCKHOST_BPF_INSTALL_DIR);
	return dir;
}

void sh_ensure_bpffs(lua_State *L, const char *path)
{
	char dir[PATH_MAX], *slash;
	struct statfs sfs;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		luaL_error(L, "pin path '%s': must be a file below a bpffs mount such as "
			   "/sys/fs/bpf", path);
	*slash = '\0';
	if (statfs(dir, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return;
	/* A fresh machine may not have bpffs at /sys/fs/bpf: mount it there, as bpftool does. */
	if (!strncmp(path, "/sys/fs/bpf/", 12) &&
	    (statfs("/sys/fs/bpf", &sfs) != 0 || sfs.f_type != BPF_FS_MAGIC)) {
		mkdir("/sys/fs/bpf", 0700);
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
			sh_raise_errno(L, errno, NULL, "pin path '%s': mounting bpffs at "
				       "/sys/fs/bpf", path);
	}
	if (statfs(dir, &sfs) < 0)
		sh_raise_errno(L, errno, NULL, "pin path '%s': directory '%s'", path, dir);
	if (sfs.f_type != BPF_FS_MAGIC)
		luaL_error(L, "pin path '%s': '%s' is not on a bpffs (mount -t bpf bpf DIR)",
			   path, dir);
}

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

/* libbpf resolves tracepoint ids (and legacy kprobes) through tracefs; a machine without
 * systemd may not have it mounted, so mount it where libbpf looks, as bpftool does for
 * bpffs. Only when neither libbpf path is usable. */
void sh_ensure_tracefs(lua_State *L, const char *why)
{
	const char *dir = "/sys/kernel/tracing";
	struct statfs sfs;

	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (statfs(dir, &sfs) == 0 && sfs.f_type == TRACEFS_MAGIC)
		return;
	if (mount("tracefs", dir, "tracefs", 0, NULL) < 0)
		sh_raise_errno(L, errno, NULL, "%s needs tracefs, which is not mounted; mounting it "
			       "at %s", why, dir);
}

static bool sh_fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int sh_check_sockfd(lua_State *L, int idx, const char *what)
{
	int fd = -1;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		int isint = 0;
		lua_Integer n = lua_tointegerx(L, idx, &isint);

		if (!isint)
			return luaL_error(L, "%s: fd must be an integer, got %s", what,
					  lua_tostring(L, idx));
		fd = (int)n;
	} else if (luaL_testudata(L, idx, SH_SOCKET_MT)) {
		int *sfd = lua_touserdata(L, idx);

		if (*sfd < 0)
			return luaL_error(L, "%s: attempt to use a closed %s", what, SH_SOCKET_MT);
		fd = *sfd;
	} else if ((lua_type(L, idx) == LUA_TUSERDATA || lua_type(L, idx) == LUA_TTABLE) &&
		   luaL_getmetafield(L, idx, "__index") != LUA_TNIL) {
		lua_pop(L, 1);
		/* LuaSocket and similar objects expose their descriptor through :getfd(). */
		if (lua_getfield(L, idx, "getfd") == LUA_TFUNCTION) {
			lua_pushvalue(L, idx);
			lua_call(L, 1, 1);
			/* LuaSocket gives the descriptor as a float */
			lua_Integer n;
			int isnum = 0;

			n = lua_tointegerx(L, -1, &isnum);
			if (isnum)
				fd = (int)n;
		}
		lua_pop(L, 1);
		if (fd < 0)
			return luaL_error(L, "%s: socket object has no open descriptor", what);
	} else {
		return luaL_error(L, "%s: expected a socket (fd number, LuaSocket object or "
				  "sockhost.socket), got %s", what, luaL_typename(L, idx));
	}
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return luaL_error(L, "%s: fd %d is not open", what, fd);
	if (!sh_fd_is_socket(fd))
		return luaL_error(L, "%s: fd %d is not a socket", what, fd);
	return fd;
}
