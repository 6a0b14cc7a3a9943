// SPDX-License-Identifier: GPL-2.0
/*
 * obj/path.c: resolving sockhost.open's argument to a file and checking that it is a BPF
 * ELF object before libbpf sees it, so the error says what is wrong with it (obj/path.h).
 * The built-in directory is listed with opendir/readdir, never through a shell.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Push the built-in object names, sorted, as "a, b, c". */
static void push_builtin_names(lua_State *L, const char *dir)
{
	size_t n = 0, cap = 0, slen = strlen(OBJ_SUFFIX);
	char **names = NULL;
	struct sh_names nm;
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (len <= slen || strcmp(de->d_name + len - slen, OBJ_SUFFIX))
			continue;
		if (n == cap) {
			grown = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		names[n] = strndup(de->d_name, len - slen);
		if (names[n])
			n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	/* the names are copied into Lua strings before anything can raise */
	sh_names_init(L, &nm);
	for (size_t i = 0; i < n; i++) {
		sh_names_add(&nm, names[i]);
		free(names[i]);
	}
	free(names);
	sh_names_push(&nm);
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
	dir = sh_bpf_dir();
	if ((size_t)snprintf(path, len, "%s/%s" OBJ_SUFFIX, dir, name) >= len)
		luaL_error(L, "built-in object name '%s' is too long", name);
	if (access(path, R_OK) != 0) {
		push_builtin_names(L, dir);
		luaL_error(L, "no built-in BPF object '%s' in %s (built-in: %s)", name, dir,
			   lua_tostring(L, -1));
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
