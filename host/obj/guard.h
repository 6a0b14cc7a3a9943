/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/guard.h: parsing an object nobody vouched for where a crash cannot take sockhost down.
 */
#ifndef SOCKHOST_OBJ_GUARD_H
#define SOCKHOST_OBJ_GUARD_H

#include <stddef.h>

/*
 * Let libbpf parse path (bpf_object__open_file, then close) in a forked child first. 0 when
 * libbpf opened it there (the caller opens it itself now); 1 when libbpf refused it, with
 * *err its errno and why its last word; -1 with why filled ("libbpf crashed parsing it
 * (Segmentation fault)") when the child died. libbpf 1.1.2 crashes on some malformed ELF
 * files; the same parse of the same bytes in this process would have ended it.
 */
int sh_object_trial_open(const char *path, int *err, char *why, size_t len);

#endif
