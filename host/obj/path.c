// SPDX-License-Identifier: GPL-2.0
/*
 * obj/path.c: resolving sockhost.open's argument to a file and checking that it is a BPF
 * ELF object before libbpf sees it, so the error says what is wrong with it (obj/path.h).
 * A bare name is looked for next to the calling script, then in each SOCKHOST_PATH entry,
 * then in the built-in directory (SOCKHOST_BPF_PATH, when set, replaces that one); only the
 * last counts as built-in. The built-in directory is listed with opendir/readdir, never
 * through a shell.
 */
#define _GNU_SOURCE /* strchrnul */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "base/error.h"
#include "base/paths.h"
#include "lua/class.h"
#include "obj/path.h"

#define EM_BPF_MACHINE 247
#define OBJ_SUFFIX     ".bpf.o"

/* Push the built-in object names, sorted, as "a, b, c". */
static void push_builtin_names(lua_State *L, const char *dir)
{
	struct sh_names nm;
	size_t n, i;
	char **names = sh_dir_names(dir, OBJ_SUFFIX, &n);

	/* the names are copied into Lua strings before anything can raise */
	sh_names_init(L, &nm);
	for (i = 0; i < n; i++)
		sh_names_add(&nm, names[i]);
	sh_dir_names_free(names, n);
	sh_names_push(&nm);
}

/* The directory of the innermost chunk on the stack that was loaded from a file (the script
 * that called sockhost.open, or the module it required), in dir; false when there is none
 * (-e, the REPL, a string chunk). */
static bool script_dir(lua_State *L, char *dir, size_t len)
{
	lua_Debug ar;
	int level;

	for (level = 1; lua_getstack(L, level, &ar); level++) {
		const char *src, *slash;

		if (!lua_getinfo(L, "S", &ar) || strcmp(ar.what, "main") || ar.source[0] != '@')
			continue;
		src = ar.source + 1;
		slash = strrchr(src, '/');
		if (!slash)
			return (size_t)snprintf(dir, len, ".") < len;
		return (size_t)snprintf(dir, len, "%.*s", (int)(slash - src), src) < len;
	}
	return false;
}

/* dir/name.bpf.o into path when it is readable. */
static bool try_dir(const char *dir, size_t dlen, const char *name, char *path, size_t len)
{
	if (!dlen || (size_t)snprintf(path, len, "%.*s/%s" OBJ_SUFFIX, (int)dlen, dir, name) >= len)
		return false;
	return access(path, R_OK) == 0;
}

/* Next to the calling script, then each SOCKHOST_PATH entry (empty ones skipped). */
static bool find_elsewhere(lua_State *L, const char *name, char *path, size_t len)
{
	const char *env = getenv("SOCKHOST_PATH");
	char dir[PATH_MAX];

	if (script_dir(L, dir, sizeof(dir)) && try_dir(dir, strlen(dir), name, path, len))
		return true;
	while (env && *env) {
		const char *colon = strchrnul(env, ':');

		if (try_dir(env, (size_t)(colon - env), name, path, len))
			return true;
		env = *colon ? colon + 1 : colon;
	}
	return false;
}

bool sh_object_resolve(lua_State *L, const char *name, char *path, size_t len)
{
	const char *dir;

	if (strchr(name, '/') || strstr(name, ".o")) {
		if (strlen(name) >= len)
			luaL_error(L,
				   "object path is %d bytes, longer than the %d the system allows",
				   (int)strlen(name), (int)len - 1);
		memcpy(path, name, strlen(name) + 1);
		return false;
	}
	if (find_elsewhere(L, name, path, len))
		return false;
	dir = sh_bpf_dir();
	if ((size_t)snprintf(path, len, "%s/%s" OBJ_SUFFIX, dir, name) >= len)
		luaL_error(L, "built-in object name '%s' is too long", name);
	if (access(path, R_OK) != 0) {
		const char *env = getenv("SOCKHOST_PATH");

		push_builtin_names(L, dir);
		luaL_error(L, "no built-in BPF object '%s' in %s (built-in: %s)%s%s%s", name, dir,
			   lua_tostring(L, -1), env && *env ? ", nor in SOCKHOST_PATH '" : "",
			   env && *env ? env : "", env && *env ? "'" : "");
	}
	return true;
}

void sh_object_check_elf(lua_State *L, const char *path)
{
	unsigned char hdr[20];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		sh_raise_errno(L, errno, NULL, "object '%s'", path);
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		luaL_error(L, "object '%s': not a regular file%s", path,
			   S_ISDIR(st.st_mode) ? " (a directory)" : "");
	}
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n < 4 || memcmp(hdr, "\177ELF", 4))
		luaL_error(L, "object '%s': not an ELF file", path);
	if (n < 20 || (hdr[18] | hdr[19] << 8) != EM_BPF_MACHINE)
		luaL_error(L,
			   "object '%s': ELF file is not a BPF object (e_machine %d, want EM_BPF)",
			   path, n < 20 ? -1 : hdr[18] | hdr[19] << 8);
}
