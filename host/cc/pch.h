/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/pch.h: vmlinux.h precompiled once per kernel BTF, clang and flag set, so a cold compile
 * does not parse 3 MB of kernel types again (0.8 s -> 0.1 s here).
 */
#ifndef SOCKHOST_CC_PCH_H
#define SOCKHOST_CC_PCH_H

#include <stdbool.h>
#include <stddef.h>

/* Can this source take the PCH: is its first directive the include of vmlinux.h ("" or <>),
 * with only comments, blank lines and #line before it? Anything else (a #define
 * that vmlinux.h looks at, UAPI headers instead) compiles without. */
bool sh_cc_pch_fits(const char *text, size_t n);
/* <vmlinux_dir>/vmlinux-<H(ident, flags)>.pch, built with clang and flags (NULL-terminated)
 * on first use; ident names the clang (its stamp and version). 0 with the path in pch, else
 * -errno: the caller compiles without it. The cache lock must be held. */
int sh_cc_pch(const char *vmlinux_dir, const char *clang, const char *ident,
	      const char *const flags[], char *pch, size_t len);

#endif
