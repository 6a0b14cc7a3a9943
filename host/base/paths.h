/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/paths.h: where sockhost's data lives: the built-in BPF objects, the installed tools.
 * No Lua.
 */
#ifndef SOCKHOST_BASE_PATHS_H
#define SOCKHOST_BASE_PATHS_H

#include <stddef.h>

/* Directory that holds the built-in BPF objects, ignoring the environment: the build tree
 * next to the binary or the Lua module, else share/sockhost/bpf of the prefix the binary (or
 * library, or Lua module) was installed into, else the configured install dir. Canonical
 * (realpath) when found beside. Cached; not thread-safe on the first call. */
const char *sh_builtin_dir(void);
/* sh_builtin_dir(), unless env SOCKHOST_BPF_PATH (non-empty) replaces it. */
const char *sh_bpf_dir(void);
/* The tools' directory: scripts/ beside the built-in objects' directory (build/scripts,
 * share/sockhost/scripts), else the configured install dir. Cached. */
const char *sh_scripts_dir(void);
/* The names in dir that end in suffix, the suffix cut off, sorted (strcmp); *count of them.
 * NULL when there are none (or dir cannot be read). Free with sh_dir_names_free. */
char **sh_dir_names(const char *dir, const char *suffix, size_t *count);
void sh_dir_names_free(char **names, size_t count);
/* The dir holding sockhost/sockhost.bpf.h for compiling BPF C: SOCKHOST_INCLUDE_PATH, the
 * source tree's include/ when the objects come from a build tree, else <prefix>/include of
 * the install the objects were found in. */
const char *sh_sdk_include_dir(void);

#endif
