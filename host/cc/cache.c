// SPDX-License-Identifier: GPL-2.0
/*
 * cc/cache.c: the compile cache's directory (cc/cache.h). The cache holds objects that are
 * loaded into the kernel, so nothing in it is used unless this user wrote it: the directory
 * and every entry must be owned by the effective uid and writable by nobody else, and
 * entries are never symlinks. Entries appear whole: they are written to a temporary name in
 * the same directory and renamed into place. One exclusive flock on <dir>/lock, taken in
 * sh_cache_open and dropped in sh_cache_close, serialises compiles between processes: the
 * second process to miss waits, then finds the first one's result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "cc/cache.h"

#define OWN_DIR_HINT "set SOCKHOST_CACHE_DIR to a directory you own"

int sh_cc_fail(char **msg, int err, const char *fmt, ...)
{
	va_list ap;

	if (err < 0)
		err = -err;
	free(*msg);
	va_start(ap, fmt);
	if (vasprintf(msg, fmt, ap) < 0)
		*msg = NULL;
	va_end(ap);
	return -(err ? err : EINVAL);
}

static int cache_dir_name(char *out, size_t len, char **msg)
{
	const char *env = getenv("SOCKHOST_CACHE_DIR"), *xdg, *home;
	int n;

	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/var/cache/sockhost");
	else if ((xdg = getenv("XDG_CACHE_HOME")) && *xdg == '/')
		n = snprintf(out, len, "%s/sockhost", xdg);
	else if ((home = getenv("HOME")) && *home == '/')
		n = snprintf(out, len, "%s/.cache/sockhost", home);
	else
		return sh_cc_fail(
			msg, ENOENT,
			"no cache dir: neither XDG_CACHE_HOME nor HOME is set (" OWN_DIR_HINT ")");
	if (n < 0 || (size_t)n >= len)
		return sh_cc_fail(msg, ENAMETOOLONG, "cache dir name is too long");
	return 0;
}

/* mkdir -p; only the last component is the cache's own. */
static int make_dirs(char *path, char **msg)
{
	char *p = path;

	while ((p = strchr(p + 1, '/'))) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST) {
			int err = errno;

			*p = '/';
			return sh_cc_fail(msg, err, "cache dir '%s': cannot create it: %s", path,
					  strerror(err));
		}
		*p = '/';
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		return sh_cc_fail(msg, errno, "cache dir '%s': cannot create it: %s", path,
				  strerror(errno));
	return 0;
}

static int check_owner(const char *what, const char *path, const struct stat *st, char **msg)
{
	uid_t me = geteuid();

	if (st->st_uid != me)
		return sh_cc_fail(msg, EPERM,
				  "%s '%s' is owned by uid %u, not by this user (uid %u): refusing "
				  "to use it (" OWN_DIR_HINT ")",
				  what, path, (unsigned)st->st_uid, (unsigned)me);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return sh_cc_fail(msg, EPERM,
				  "%s '%s' is writable by other users (mode %04o): refusing to use "
				  "it (" OWN_DIR_HINT ")",
				  what, path, (unsigned)(st->st_mode & 07777));
	return 0;
}

int sh_cache_open(struct sh_cache *c, char **msg)
{
	char lock[PATH_MAX + 8];
	struct stat st;
	int err;

	c->lock_fd = -1;
	err = cache_dir_name(c->dir, sizeof(c->dir), msg);
	if (err)
		return err;
	if (stat(c->dir, &st)) {
		if (errno != ENOENT)
			return sh_cc_fail(msg, errno, "cache dir '%s': %s", c->dir,
					  strerror(errno));
		err = make_dirs(c->dir, msg);
		if (err)
			return err;
		if (stat(c->dir, &st))
			return sh_cc_fail(msg, errno, "cache dir '%s': %s", c->dir,
					  strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return sh_cc_fail(msg, ENOTDIR, "cache dir '%s' is not a directory", c->dir);
	err = check_owner("cache dir", c->dir, &st, msg);
	if (err)
		return err;
	snprintf(lock, sizeof(lock), "%s/lock", c->dir);
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (c->lock_fd < 0)
		return sh_cc_fail(
			msg, errno,
			"cache dir '%s' is not writable (cannot create 'lock': %s; " OWN_DIR_HINT
			")",
			c->dir, strerror(errno));
	while (flock(c->lock_fd, LOCK_EX)) {
		if (errno != EINTR) {
			err = sh_cc_fail(msg, errno, "cache dir '%s': cannot lock 'lock': %s",
					 c->dir, strerror(errno));
			goto err_close;
		}
	}
	return 0;
err_close:
	close(c->lock_fd);
	c->lock_fd = -1;
	return err;
}

void sh_cache_close(struct sh_cache *c)
{
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* drops the flock */
	c->lock_fd = -1;
}

int sh_cache_path(const struct sh_cache *c, const char *rel, char *out, size_t len, char **msg)
{
	int n = snprintf(out, len, "%s/%s", c->dir, rel);

	if (n < 0 || (size_t)n >= len)
		return sh_cc_fail(msg, ENAMETOOLONG, "cache dir '%s': entry path too long", c->dir);
	return 0;
}

int sh_cache_trusted(const char *path, int dir, char **msg)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? -ENOENT :
					 sh_cc_fail(msg, errno, "cache entry '%s': %s", path,
						    strerror(errno));
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return sh_cc_fail(msg, EPERM, "cache entry '%s' is not a %s%s: refusing to use it",
				  path, dir ? "directory" : "regular file",
				  S_ISLNK(st.st_mode) ? " (a symlink)" : "");
	return check_owner("cache entry", path, &st, msg);
}

int sh_cache_mkdir(const char *path, char **msg)
{
	int err = sh_cache_trusted(path, 1, msg);

	if (err != -ENOENT)
		return err;
	if (mkdir(path, 0755) && errno != EEXIST)
		return sh_cc_fail(msg, errno,
				  "cache entry '%s': cannot create it: %s (" OWN_DIR_HINT ")", path,
				  strerror(errno));
	return sh_cache_trusted(path, 1, msg);
}

int sh_cache_read(const char *path, char **buf, size_t *len, char **msg)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, err;

	*buf = NULL;
	err = sh_cache_trusted(path, 0, msg);
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sh_cc_fail(msg, errno, "cache entry '%s': %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		err = sh_cc_fail(msg, errno, "cache entry '%s': %s", path, strerror(errno));
		goto err_close;
	}
	*buf = malloc(st.st_size + 1);
	if (!*buf) {
		err = sh_cc_fail(msg, ENOMEM, "cache entry '%s': out of memory", path);
		goto err_close;
	}
	while (got < (size_t)st.st_size && (n = read(fd, *buf + got, st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sh_cc_fail(msg, errno, "cache entry '%s': %s", path, strerror(errno));
			goto err_free;
		}
		got += n;
	}
	(*buf)[got] = '\0';
	if (len)
		*len = got;
	close(fd);
	return 0;
err_free:
	free(*buf);
	*buf = NULL;
err_close:
	close(fd);
	return err;
}

int sh_cache_tmpname(const char *path, char *out, size_t len, char **msg)
{
	static unsigned seq;
	int n = snprintf(out, len, "%s.tmp.%d.%u", path, (int)getpid(), seq++);

	if (n < 0 || (size_t)n >= len)
		return sh_cc_fail(msg, ENAMETOOLONG, "cache entry '%s': path too long", path);
	return 0;
}

int sh_cache_rename(const char *from, const char *to, char **msg)
{
	if (rename(from, to))
		return sh_cc_fail(msg, errno, "cache entry '%s': cannot rename '%s' onto it: %s",
				  to, from, strerror(errno));
	return 0;
}

int sh_cache_write(const char *path, const void *data, size_t len, char **msg)
{
	char tmp[PATH_MAX];
	const char *p = data;
	ssize_t n;
	int fd, err;

	err = sh_cache_tmpname(path, tmp, sizeof(tmp), msg);
	if (err)
		return err;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return sh_cc_fail(msg, errno,
				  "cache entry '%s': cannot create it: %s (" OWN_DIR_HINT ")", path,
				  strerror(errno));
	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sh_cc_fail(msg, errno, "cache entry '%s': cannot write it: %s", path,
					 strerror(errno));
			goto err_unlink;
		}
		p += n, len -= n;
	}
	if (close(fd)) {
		fd = -1;
		err = sh_cc_fail(msg, errno, "cache entry '%s': cannot write it: %s", path,
				 strerror(errno));
		goto err_unlink;
	}
	fd = -1;
	err = sh_cache_rename(tmp, path, msg);
	if (err)
		goto err_unlink;
	return 0;
err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err;
}
