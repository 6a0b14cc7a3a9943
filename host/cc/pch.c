// SPDX-License-Identifier: GPL-2.0
/*
 * cc/pch.c: the precompiled vmlinux.h (cc/pch.h). It lives beside the vmlinux.h it is made
 * from, in the directory named after the kernel BTF's hash, and its own name hashes the clang
 * and the flags: clang refuses a PCH built by another compiler or with other defines, so each
 * combination gets its own. It is only an accelerator: anything that goes wrong here means
 * a compile without it, never an error. Built to a temporary name and renamed, under the
 * cache lock the caller holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cc/cache.h"
#include "cc/pch.h"
#include "cc/sha256.h"
#include "cc/spawn.h"

bool sh_cc_pch_fits(const char *text, size_t n)
{
	const char *p = text, *end = text + n;

	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		} else if (p + 1 < end && p[0] == '/' && p[1] == '/') {
			p = memchr(p, '\n', end - p);
			if (!p)
				return false;
		} else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
			p = memmem(p + 2, end - p - 2, "*/", 2);
			if (!p)
				return false;
			p += 2;
		} else if (end - p > 5 && !memcmp(p, "#line", 5)) {
			p = memchr(p, '\n', end - p);
			if (!p)
				return false;
		} else {
			return (end - p >= 20 && !memcmp(p, "#include \"vmlinux.h\"", 20)) ||
			       (end - p >= 20 && !memcmp(p, "#include <vmlinux.h>", 20));
		}
	}
	return false;
}

int sh_cc_pch(const char *vmlinux_dir, const char *clang, const char *ident,
	      const char *const flags[], char *pch, size_t len)
{
	char hex[SH_SHA256_HEX], hdr[PATH_MAX], tmp[PATH_MAX], *msg = NULL, *out = NULL;
	const char *argv[40];
	struct sh_sha256 s;
	int n = 0, err, status;

	sh_sha256_init(&s);
	sh_sha256_str(&s, ident);
	for (int i = 0; flags[i]; i++)
		sh_sha256_str(&s, flags[i]);
	sh_sha256_hex(&s, hex);
	if (snprintf(pch, len, "%s/vmlinux-%.16s.pch", vmlinux_dir, hex) >= (int)len)
		return -ENAMETOOLONG;
	err = sh_cache_trusted(pch, 0, &msg);
	free(msg);
	msg = NULL;
	if (err != -ENOENT)
		return err;
	snprintf(hdr, sizeof(hdr), "%s/vmlinux.h", vmlinux_dir);
	err = sh_cache_tmpname(pch, tmp, sizeof(tmp), &msg);
	if (err)
		goto out;
	argv[n++] = clang;
	for (int i = 0; flags[i] && n < 34; i++)
		argv[n++] = flags[i];
	argv[n++] = "-x";
	argv[n++] = "c-header";
	argv[n++] = hdr;
	argv[n++] = "-o";
	argv[n++] = tmp;
	argv[n] = NULL;
	err = sh_spawn((char *const *)argv, NULL, &out, &status);
	if (!err && status)
		err = -EIO;
	if (!err)
		err = sh_cache_rename(tmp, pch, &msg);
	if (err)
		unlink(tmp);
out:
	free(msg);
	free(out);
	return err;
}
