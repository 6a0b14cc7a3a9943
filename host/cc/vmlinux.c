// SPDX-License-Identifier: GPL-2.0
/*
 * cc/vmlinux.c: kernel BTF hash and vmlinux.h in the compile cache (cc/vmlinux.h). The
 * header is `bpftool btf dump file /sys/kernel/btf/vmlinux format c`, as the build makes its
 * own, written to a temporary name and renamed to vmlinux/<hash>/vmlinux.h: a kernel upgrade
 * has another hash and so gets its own header; the old one stays until the cache is removed.
 * Callers hold the cache lock, so two processes never generate the same header at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cc/spawn.h"
#include "cc/vmlinux.h"

static int read_boot_id(char *out, size_t len)
{
	ssize_t n;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return strspn(out, "0123456789abcdef-") == strlen(out) && *out ? 0 : -EINVAL;
}

int sh_cc_btf_hash(const struct sh_cache *c, char hex[SH_SHA256_HEX], char **msg)
{
	char boot[64], rel[96], memo[PATH_MAX], *text = NULL;
	int err;

	if (read_boot_id(boot, sizeof(boot)))
		goto compute; /* no /proc: hash every time */
	snprintf(rel, sizeof(rel), "btf-%s", boot);
	err = sh_cache_path(c, rel, memo, sizeof(memo), msg);
	if (err)
		return err;
	err = sh_cache_read(memo, &text, NULL, msg);
	if (!err && strlen(text) == SH_SHA256_HEX - 1) {
		memcpy(hex, text, SH_SHA256_HEX);
		free(text);
		return 0;
	}
	free(text);
	if (err && err != -ENOENT)
		return err;
	err = sh_sha256_file(SH_KERNEL_BTF, hex);
	if (err)
		goto err_btf;
	return sh_cache_write(memo, hex, SH_SHA256_HEX - 1, msg);
compute:
	err = sh_sha256_file(SH_KERNEL_BTF, hex);
	if (!err)
		return 0;
err_btf:
	return sh_cc_fail(msg, err,
			  "kernel BTF '%s': %s (compiling CO-RE C needs a kernel built with "
			  "CONFIG_DEBUG_INFO_BTF=y)",
			  SH_KERNEL_BTF, strerror(-err));
}

int sh_cc_vmlinux_dir(const struct sh_cache *c, const char *btf_hex, char *dir, size_t len,
		      char **msg)
{
	static const char *const sbin[] = { "/usr/sbin", "/sbin", "/usr/local/sbin", NULL };
	char rel[128], hdr[PATH_MAX], tmp[PATH_MAX], bpftool[PATH_MAX], *out = NULL;
	int err, status;

	err = sh_cache_path(c, "vmlinux", dir, len, msg);
	if (err)
		return err;
	err = sh_cache_mkdir(dir, msg);
	if (err)
		return err;
	snprintf(rel, sizeof(rel), "vmlinux/%s", btf_hex);
	err = sh_cache_path(c, rel, dir, len, msg);
	if (!err)
		err = sh_cache_mkdir(dir, msg);
	if (err)
		return err;
	snprintf(hdr, sizeof(hdr), "%s/vmlinux.h", dir);
	err = sh_cache_trusted(hdr, 0, msg);
	if (err != -ENOENT)
		return err;

	if (sh_find_tool("bpftool", sbin, bpftool, sizeof(bpftool)))
		return sh_cc_fail(msg, ENOENT,
				  "bpftool not found (PATH, /usr/sbin, /sbin): it generates "
				  "vmlinux.h from %s (Debian: apt install bpftool)",
				  SH_KERNEL_BTF);
	err = sh_cache_tmpname(hdr, tmp, sizeof(tmp), msg);
	if (err)
		return err;
	{
		char *argv[] = {
			bpftool, "btf", "dump", "file", SH_KERNEL_BTF, "format", "c", NULL
		};

		err = sh_spawn(argv, tmp, &out, &status);
	}
	if (err) {
		err = sh_cc_fail(msg, err, "cannot run '%s': %s", bpftool, strerror(-err));
		goto err_unlink;
	}
	if (status) {
		err = sh_cc_fail(msg, EIO, "'%s btf dump file %s format c' failed (exit %d): %s",
				 bpftool, SH_KERNEL_BTF, status, out);
		goto err_unlink;
	}
	err = sh_cache_rename(tmp, hdr, msg);
	if (err)
		goto err_unlink;
	free(out);
	return 0;
err_unlink:
	unlink(tmp);
	free(out);
	return err;
}
