// SPDX-License-Identifier: GPL-2.0
/*
 * base/paths.c: the directory of the built-in BPF objects (base/paths.h). The build tree
 * keeps bpf/ next to the sockhost binary (build/sockhost, build/bpf) and two levels above the
 * Lua module (build/lua/sockhost/core.so); an installed copy uses the compiled-in data dir.
 * The answer cannot change while the process runs, so it is cached once found. The BPF SDK
 * headers (include/sockhost) follow the objects: the source tree's include/ for a build
 * tree, the installed include dir otherwise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/paths.h"

#ifndef __clang__ /* gcc only: snprintf into PATH_MAX buffers truncates on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
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

const char *sh_bpf_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("SOCKHOST_BPF_PATH");
	Dl_info info;

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	if (dladdr((void *)sh_bpf_dir, &info) && info.dli_fname &&
	    (try_beside(dir, info.dli_fname, "bpf") ||
	     try_beside(dir, info.dli_fname, "../../bpf")))
		return dir;
	if (try_beside(dir, "/proc/self/exe", "bpf"))
		return dir;
	snprintf(dir, sizeof(dir), "%s", SOCKHOST_BPF_INSTALL_DIR);
	return dir;
}

const char *sh_sdk_include_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("SOCKHOST_INCLUDE_PATH");
	char probe[PATH_MAX];

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	snprintf(probe, sizeof(probe), "%s/sockhost/sockhost.bpf.h", SOCKHOST_SOURCE_INCLUDE_DIR);
	if (strcmp(sh_bpf_dir(), SOCKHOST_BPF_INSTALL_DIR) && access(probe, R_OK) == 0)
		snprintf(dir, sizeof(dir), "%s", SOCKHOST_SOURCE_INCLUDE_DIR);
	else
		snprintf(dir, sizeof(dir), "%s", SOCKHOST_INCLUDE_INSTALL_DIR);
	return dir;
}
