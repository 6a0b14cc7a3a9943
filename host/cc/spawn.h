/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/spawn.h: running the tools the compile cache needs (clang, bpftool) without a shell:
 * finding them on PATH and collecting what they print.
 */
#ifndef SOCKHOST_CC_SPAWN_H
#define SOCKHOST_CC_SPAWN_H

#include <stddef.h>

/* The first executable <name> in $PATH, then in the extra dirs (NULL-terminated, may be
 * NULL), as a canonical path into out. 0, or -ENOENT when there is none. */
int sh_find_tool(const char *name, const char *const *extra, char *out, size_t len);
/* Run argv[0] (a path) with argv; stdout goes to the file out_path when it is not NULL,
 * otherwise it is collected with stderr. *text gets what was collected (malloc'd,
 * NUL-terminated), *status the exit status (or 128 + signal). 0 when the program ran, else
 * -errno. */
int sh_spawn(char *const argv[], const char *out_path, char **text, int *status);

#endif
