/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc/sha256.h: SHA-256 (FIPS 180-4), written here because no library sockhost links has one
 * (libelf and zlib do not). Used for cache keys and for checking cached objects; not for
 * anything where an attacker chooses both inputs and the comparison.
 */
#ifndef SOCKHOST_CC_SHA256_H
#define SOCKHOST_CC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SH_SHA256_LEN 32
#define SH_SHA256_HEX (2 * SH_SHA256_LEN + 1)

struct sh_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t used;
};

void sh_sha256_init(struct sh_sha256 *s);
void sh_sha256_update(struct sh_sha256 *s, const void *data, size_t n);
/* A string with its terminating NUL, so "ab" "c" and "a" "bc" hash differently. */
void sh_sha256_str(struct sh_sha256 *s, const char *str);
void sh_sha256_final(struct sh_sha256 *s, unsigned char out[SH_SHA256_LEN]);
/* final, as lowercase hex into hex[SH_SHA256_HEX] */
void sh_sha256_hex(struct sh_sha256 *s, char hex[SH_SHA256_HEX]);
/* The hex digest of a file's bytes; 0 or -errno. */
int sh_sha256_file(const char *path, char hex[SH_SHA256_HEX]);

#endif
