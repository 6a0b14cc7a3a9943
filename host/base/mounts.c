// SPDX-License-Identifier: GPL-2.0
/*
 * base/mounts.c: the one /proc/mounts parser, and mounting bpffs/tracefs where libbpf and
 * bpftool expect them on a machine that has neither (base/mounts.h). Stateless.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/magic.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "base/mounts.h"

bool sh_mount_find(const char *fstype, const char *prefer, char *out, size_t len)
{
	struct mntent ent, *m;
	char buf[4096];
	bool found = false;
	FILE *fp;

	fp = setmntent("/proc/mounts", "re");
	if (!fp)
		return false;
	while ((m = getmntent_r(fp, &ent, buf, sizeof(buf)))) {
		if (strcmp(m->mnt_type, fstype))
			continue;
		if (!found || (prefer && !strcmp(m->mnt_dir, prefer))) {
			snprintf(out, len, "%s", m->mnt_dir);
			found = true;
		}
		if (!prefer || !strcmp(m->mnt_dir, prefer))
			break;
	}
	endmntent(fp);
	return found;
}

bool sh_cgroup2_root(char *out, size_t len)
{
	return sh_mount_find("cgroup2", NULL, out, len);
}

bool sh_dir_on_fs(const char *dir, long magic)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && (long)sfs.f_type == magic;
}

int sh_bpffs_mount_default(void)
{
	if (sh_dir_on_fs("/sys/fs/bpf", BPF_FS_MAGIC))
		return 0;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
		return -errno;
	return 0;
}

int sh_tracefs_mount_default(void)
{
	const char *dir = "/sys/kernel/tracing";

	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return 0;
	if (sh_dir_on_fs(dir, TRACEFS_MAGIC))
		return 0;
	if (mount("tracefs", dir, "tracefs", 0, NULL) < 0)
		return -errno;
	return 0;
}
