/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/paths.h: where the built-in BPF objects live. No Lua.
 */
#ifndef SOCKHOST_BASE_PATHS_H
#define SOCKHOST_BASE_PATHS_H

/* Directory that holds the built-in BPF objects: env SOCKHOST_BPF_PATH, else the build tree
 * next to the binary or the Lua module, else the install dir. Canonical (realpath) when found
 * in the build tree. Valid until the next call; not thread-safe on the first call. */
const char *sh_bpf_dir(void);
/* The dir holding sockhost/sockhost.bpf.h for compiling BPF C: SOCKHOST_INCLUDE_PATH, the
 * source tree's include/ when the objects come from a build tree, else the installed one. */
const char *sh_sdk_include_dir(void);

#endif
