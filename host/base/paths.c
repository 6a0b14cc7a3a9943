// SPDX-License-Identifier: GPL-2.0
/*
 * base/paths.c: where sockhost's data lives (base/paths.h): the built-in BPF objects and the
 * installed tools. The build tree keeps bpf/ and scripts/ next to the sockhost binary
 * (build/sockhost, build/bpf, build/scripts) and two levels above the Lua module
 * (build/lua/sockhost/core.so). An installed copy finds share/sockhost/{bpf,scripts} by the
 * same relative paths the install used (bin/ -> share/sockhost/bpf, and from the Lua C module
 * and the shared library), so `cmake --install --prefix P` works from P with no environment;
 * the compiled-in data dir is the last resort. The answers cannot change while the process
 * runs, so they are cached once found. Directories are listed with opendir/readdir, never
 * through a shell.
 * The BPF SDK headers (include/sockhost) follow the objects: the source tree's include/ for
 * a build tree, <prefix>/include for an installed copy.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "base/paths.h"

#ifndef __clang__ /* gcc only: snprintf into PATH_MAX buffers truncates on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#ifndef SOCKHOST_EXE_TO_BPF
#error "SOCKHOST_EXE_TO_BPF and friends come from host/CMakeLists.txt"
#endif

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

/* <dir of file>/<rel> when it holds the objects. */
static bool try_beside(char *dir, const char *file, const char *rel)
{
	char self[PATH_MAX], *slash;

	if (!realpath(file, self))
		return false;
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(dir, PATH_MAX, "%s/%s", self, rel);
	return has_objects(dir);
}

/* The objects beside the file this code is linked into (executable, libsockhost.so or the
 * Lua C module), in the build tree or an installed prefix; then beside the executable. */
static bool find_beside(char *dir)
{
	static const char *const rels[] = { "bpf", "../../bpf", SOCKHOST_EXE_TO_BPF,
					    SOCKHOST_LIB_TO_BPF, SOCKHOST_CMOD_TO_BPF };
	Dl_info info;
	size_t i;

	if (dladdr((void *)find_beside, &info) && info.dli_fname)
		for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
			if (try_beside(dir, info.dli_fname, rels[i]))
				return true;
	return try_beside(dir, "/proc/self/exe", "bpf") ||
	       try_beside(dir, "/proc/self/exe", SOCKHOST_EXE_TO_BPF);
}

const char *sh_builtin_dir(void)
{
	static char dir[PATH_MAX];

	if (!dir[0] && !find_beside(dir))
		snprintf(dir, sizeof(dir), "%s", SOCKHOST_BPF_INSTALL_DIR);
	return dir;
}

const char *sh_bpf_dir(void)
{
	const char *env = getenv("SOCKHOST_BPF_PATH");

	return env && *env ? env : sh_builtin_dir();
}

const char *sh_scripts_dir(void)
{
	static char dir[PATH_MAX];
	char *slash;
	struct stat st;

	if (dir[0])
		return dir;
	/* scripts/ is the sibling of bpf/ wherever the objects were found */
	snprintf(dir, sizeof(dir), "%s", sh_builtin_dir());
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/scripts");
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return dir;
	}
	snprintf(dir, sizeof(dir), "%s", SOCKHOST_SCRIPT_INSTALL_DIR);
	return dir;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **sh_dir_names(const char *dir, const char *suffix, size_t *count)
{
	size_t n = 0, cap = 0, slen = strlen(suffix);
	char **names = NULL;
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (len <= slen || strcmp(de->d_name + len - slen, suffix))
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
	*count = n;
	return names;
}

void sh_dir_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

const char *sh_sdk_include_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("SOCKHOST_INCLUDE_PATH");
	const char *bpf = sh_builtin_dir();
	const char *tail = "/share/sockhost/bpf";
	size_t blen = strlen(bpf), tlen = strlen(tail);
	char probe[PATH_MAX];

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	if (blen > tlen && !strcmp(bpf + blen - tlen, tail)) {
		/* installed: <prefix>/share/sockhost/bpf -> <prefix>/include */
		snprintf(dir, sizeof(dir), "%.*s/include", (int)(blen - tlen), bpf);
		return dir;
	}
	snprintf(probe, sizeof(probe), "%s/sockhost/sockhost.bpf.h", SOCKHOST_SOURCE_INCLUDE_DIR);
	if (access(probe, R_OK) == 0)
		snprintf(dir, sizeof(dir), "%s", SOCKHOST_SOURCE_INCLUDE_DIR);
	else
		snprintf(dir, sizeof(dir), "%s", SOCKHOST_INCLUDE_INSTALL_DIR);
	return dir;
}
