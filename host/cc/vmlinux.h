/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/vmlinux.h: the running kernel as the compile cache sees it: the hash of its BTF (part
 * of every cache key) and a vmlinux.h generated from that BTF, one per hash.
 */
#ifndef SOCKHOST_CC_VMLINUX_H
#define SOCKHOST_CC_VMLINUX_H

#include <stddef.h>
#include "cc/cache.h"
#include "cc/sha256.h"

#define SH_KERNEL_BTF "/sys/kernel/btf/vmlinux"

/* SHA-256 of /sys/kernel/btf/vmlinux, remembered per boot in <cache>/btf-<boot_id> (the
 * kernel's BTF cannot change without a reboot), so a warm open reads 64 bytes, not 5 MB. */
int sh_cc_btf_hash(const struct sh_cache *c, char hex[SH_SHA256_HEX], char **msg);
/* <cache>/vmlinux/<btf hash>, holding vmlinux.h, generated with bpftool on first use. */
int sh_cc_vmlinux_dir(const struct sh_cache *c, const char *btf_hex, char *dir, size_t len,
		      char **msg);

#endif
