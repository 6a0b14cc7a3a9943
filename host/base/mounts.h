/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/mounts.h: the machine's mounts, read from /proc/mounts every time (sockhost itself may
 * mount bpffs or tracefs later), never assumed: cgroup2 may live anywhere (this project's CI
 * has it at /sys/fs/cgroup/unified). No Lua here; base/fs.h raises on top of it.
 */
#ifndef SOCKHOST_BASE_MOUNTS_H
#define SOCKHOST_BASE_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

/* Mount point of a filesystem type (getmntent decodes \040 escapes). prefer wins when it is
 * one of several mounts of that type. false when there is none (out untouched). */
bool sh_mount_find(const char *fstype, const char *prefer, char *out, size_t len);
/* The cgroup2 mount point, as sh_mount_find("cgroup2"). */
bool sh_cgroup2_root(char *out, size_t len);
/* Is dir on a filesystem with this statfs magic? */
bool sh_dir_on_fs(const char *dir, long magic);
/* bpffs at /sys/fs/bpf, mounted there (mode 0700, as bpftool does) when nothing is: 0 or
 * -errno of the failed mount. */
int sh_bpffs_mount_default(void);
/* tracefs where libbpf looks (/sys/kernel/tracing, or the debugfs copy), mounted at
 * /sys/kernel/tracing when neither is usable: 0 or -errno of the failed mount. */
int sh_tracefs_mount_default(void);

#endif
