// SPDX-License-Identifier: GPL-2.0
/*
 * base/fs.c: filesystem preconditions raised as Lua errors (base/fs.h), on top of the
 * stateless facts of base/mounts.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/fs.h"
#include "base/mounts.h"

#ifndef __clang__ /* gcc only: snprintf into PATH_MAX buffers truncates on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

int sh_open_cgroup(lua_State *L, const char *path)
{
	struct statfs sfs;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sh_raise_errno(L, errno, NULL, "cgroup '%s'", path);
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		char root[PATH_MAX];
		bool have = sh_cgroup2_root(root, sizeof(root));

		close(fd);
		return luaL_error(L,
				  "cgroup '%s': not a cgroup v2 directory (cgroup2 is mounted "
				  "at %s)",
				  path, have ? root : "nowhere: no cgroup2 in /proc/mounts");
	}
	return fd;
}

void sh_ensure_bpffs(lua_State *L, const char *path)
{
	char dir[PATH_MAX], *slash;
	struct statfs sfs;
	int err;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		luaL_error(L,
			   "pin path '%s': must be a file below a bpffs mount such as "
			   "/sys/fs/bpf",
			   path);
	*slash = '\0';
	if (sh_dir_on_fs(dir, BPF_FS_MAGIC))
		return;
	/* A fresh machine may not have bpffs at /sys/fs/bpf: mount it there, as bpftool does. */
	if (!strncmp(path, "/sys/fs/bpf/", 12) && (err = sh_bpffs_mount_default()) < 0)
		sh_raise_errno(L, err, NULL, "pin path '%s': mounting bpffs at /sys/fs/bpf", path);
	if (statfs(dir, &sfs) < 0)
		sh_raise_errno(L, errno, NULL, "pin path '%s': directory '%s'", path, dir);
	if (sfs.f_type != BPF_FS_MAGIC)
		luaL_error(L, "pin path '%s': '%s' is not on a bpffs (mount -t bpf bpf DIR)", path,
			   dir);
}

void sh_ensure_tracefs(lua_State *L, const char *why)
{
	int err = sh_tracefs_mount_default();
	const char *hint = NULL;

	/* not the BPF capabilities: mounting is CAP_SYS_ADMIN's */
	if (err == -EPERM || err == -EACCES)
		hint = "mounting tracefs needs root (CAP_SYS_ADMIN); or mount it beforehand: "
		       "mount -t tracefs tracefs /sys/kernel/tracing";
	if (err < 0)
		sh_raise_errno(L, err, hint,
			       "%s needs tracefs, which is not mounted; mounting it at "
			       "/sys/kernel/tracing",
			       why);
}
