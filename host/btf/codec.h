/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btf/codec.h: the BTF codec, BTF type -> immutable plan -> Lua values and back. A plan is
 * made once per type id and cached per struct btf; any number of maps and ring buffers may
 * share one. The plan format is private to btf/ (btf/plan.h).
 *
 * Lifetime: a cache belongs to one struct btf and must be freed before it. Plans are owned by
 * the cache; a plan pointer is valid until sh_codec_cache_free.
 */
#ifndef SOCKHOST_BTF_CODEC_H
#define SOCKHOST_BTF_CODEC_H

#include <stddef.h>
#include <bpf/btf.h>
#include <lua.h>

struct sh_codec; /* an immutable plan for one BTF type, owned by its cache */
struct sh_codec_cache; /* one per struct btf; frees every plan it made */

struct sh_codec_cache *sh_codec_cache_new(const struct btf *btf);
void sh_codec_cache_free(struct sh_codec_cache *cache);
/* Plan for type_id (typedefs/const/volatile are peeled). NULL with errno set and err filled
 * ("unsupported BTF kind func_proto in 'struct x' field 'f'") when it cannot be coded. */
const struct sh_codec *sh_codec_get(struct sh_codec_cache *cache, __u32 type_id, char *err,
				    size_t errlen);
size_t sh_codec_size(const struct sh_codec *c);
/* Push the Lua value for the bytes at data (sh_codec_size(c) bytes). Never raises except on
 * memory errors. */
void sh_codec_push(lua_State *L, const struct sh_codec *c, const void *data);
/* Encode the Lua value at idx into out (which it zeroes first). Raises a Lua error that starts
 * with what (e.g. "map 'conns' key") and names the offending field path. */
void sh_codec_encode(lua_State *L, int idx, const struct sh_codec *c, void *out, const char *what);
/* Add the integer leaves of src into acc, both sh_codec_size(c) bytes laid out as c (one
 * CPU's slot of a per-CPU value): integers, bitfields and floats are summed (integers wrap
 * at their width, as the kernel's counters do); other leaves (char arrays, enums, bools,
 * unions) keep acc's value unless it is all zero, then take src's: the first CPU that set
 * them wins. Never fails. */
void sh_codec_sum(const struct sh_codec *c, void *acc, const void *src);

#endif
