/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/cache.h: the compile cache's directory: where it is, whether it can be trusted, the
 * lock that serialises compiles, and the small-file and rename helpers the entries are made
 * with. Every failure comes back as -errno with a message for the user in *msg (malloc'd,
 * the caller frees it).
 */
#ifndef SOCKHOST_CC_CACHE_H
#define SOCKHOST_CC_CACHE_H

#include <limits.h>
#include <stddef.h>

struct sh_cache {
	char dir[PATH_MAX];
	int lock_fd;
};

/* *msg = the formatted message (malloc'd); returns -err (err either sign). */
int sh_cc_fail(char **msg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Find the cache dir (SOCKHOST_CACHE_DIR; root: /var/cache/sockhost; else
 * $XDG_CACHE_HOME/sockhost or ~/.cache/sockhost), create it, refuse it unless this user
 * owns it and nobody else can write it, then take its lock (flock, exclusive, held until
 * sh_cache_close). */
int sh_cache_open(struct sh_cache *c, char **msg);
void sh_cache_close(struct sh_cache *c);
/* dir/rel into out; -ENAMETOOLONG when it does not fit. */
int sh_cache_path(const struct sh_cache *c, const char *rel, char *out, size_t len, char **msg);
/* 0 when path is an entry this user wrote (not a symlink, owned by euid, not writable by
 * group or others, a regular file or a directory as dir says); -ENOENT when it is absent;
 * -EPERM with a message when it is there but untrusted. */
int sh_cache_trusted(const char *path, int dir, char **msg);
/* mkdir path (0755) unless it is there already and trusted. */
int sh_cache_mkdir(const char *path, char **msg);
/* A trusted regular file's whole contents, NUL-terminated, in *buf (malloc'd). */
int sh_cache_read(const char *path, char **buf, size_t *len, char **msg);
/* Write data to a temporary file beside path, then rename it onto path. */
int sh_cache_write(const char *path, const void *data, size_t len, char **msg);
/* A fresh temporary name beside path ("<path>.tmp.<pid>.<n>"), for a tool to write into. */
int sh_cache_tmpname(const char *path, char *out, size_t len, char **msg);
/* rename with a message naming both paths */
int sh_cache_rename(const char *from, const char *to, char **msg);

#endif
