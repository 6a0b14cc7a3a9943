/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/map/map_int.h: what the files of sockhost.map share, private to obj/map/. The handle
 * itself (struct sh_map) is in obj/map.h for the rest of sockhost:
 *  - map.c:    the handle, its fields and metamethods, single-element operations;
 *  - values.c: keys and values between Lua and bytes (BTF codecs, raw bytes, per-CPU
 *              layouts and their reduction, LPM prefixes);
 *  - walk.c:   walks (pairs, snapshot, count, clear) by batch or get_next_key;
 *  - kinds.c:  what only some kinds have (queue/stack, prog arrays, sockmaps) and which
 *              operation each kind allows.
 * Scratch memory for keys and values is a Lua userdata pushed on the stack by the encoder, so
 * an error raised half way leaks nothing and the map is only written after every byte of the
 * key and value has been encoded: a failed operation changes nothing.
 */
#ifndef SOCKHOST_OBJ_MAP_INT_H
#define SOCKHOST_OBJ_MAP_INT_H

#include <lua.h>
#include <lauxlib.h>
#include "obj/map.h"

/* ---- kinds (lmapkinds.c) ------------------------------------------------------------------ */
bool sh_map_is_percpu(enum bpf_map_type t);
/* Keys are indexes below max_entries (arrays, prog arrays, sockmaps ...). */
bool sh_map_is_indexed(enum bpf_map_type t);
/* Indexed kinds whose slots may be empty: a lookup miss is a hole, not a change. */
bool sh_map_has_holes(enum bpf_map_type t);
/* Elements cannot be deleted (arrays): clear() zeroes them. */
bool sh_map_is_fixed(enum bpf_map_type t);

enum sh_map_op {
	SH_MAP_OP_LOOKUP,
	SH_MAP_OP_UPDATE,
	SH_MAP_OP_DELETE,
	SH_MAP_OP_LOOKUP_DELETE,
	SH_MAP_OP_WALK, /* pairs, snapshot, count, clear */
	SH_MAP_OP_QUEUE, /* push, pop, peek */
};
/* Raise "map 'x' is a <kind>: ..." when the kind has no such operation. */
void sh_map_require(lua_State *L, struct sh_map *m, enum sh_map_op op, const char *what);
/* Turn a failed update's errno into the message for this kind (prog array type mismatch,
 * socket that cannot go into a sockmap, map full, flags). Never returns. vidx is the value. */
int sh_map_update_failed(lua_State *L, struct sh_map *m, int err, int flags, int vidx);
/* Raise when an indexed map's key at kidx is out of range (before the kernel says E2BIG). */
void sh_map_check_index(lua_State *L, struct sh_map *m, const void *key, const char *op);
extern const luaL_Reg sh_mapkinds_methods[]; /* push, pop, peek */

/* ---- keys and values (lmapval.c) ---------------------------------------------------------- */
/* Per-CPU value slot size (the kernel rounds each CPU's copy up to 8 bytes). */
size_t sh_map_percpu_stride(const struct sh_map *m);
/* Bytes the kernel reads or writes for one value (all CPUs for a per-CPU map). */
size_t sh_map_value_bytes(const struct sh_map *m);
/* Encode the Lua key at idx into a scratch userdata pushed on the stack; returns its bytes. */
void *sh_map_encode_key(lua_State *L, struct sh_map *m, int idx);
/* Encode the Lua value at idx likewise. For a per-CPU map the value goes to CPU 0 and the
 * others get zeros (so a summed read gives it back), or, with percpu, idx is a sequence of
 * one value per possible CPU. */
void *sh_map_encode_value(lua_State *L, struct sh_map *m, int idx, bool percpu);
void sh_map_push_key(lua_State *L, struct sh_map *m, const void *key);
/* Push a value read from the kernel: per-CPU values summed (or a per-CPU sequence with
 * percpu). acc is scratch of value_size bytes for the sum, or NULL to use the stack. */
void sh_map_push_value(lua_State *L, struct sh_map *m, const void *val, bool percpu, void *acc);

/* The plan that decodes a key (value) alone, for hot loops: NULL when it takes more than the
 * codec (raw bytes, LPM prefix strings, per-CPU sums). */
const struct sh_codec *sh_map_key_plan(const struct sh_map *m);
const struct sh_codec *sh_map_value_plan(const struct sh_map *m);

/* Options table at idx (or none): {percpu = bool, batch = bool, chunk = n}; names not in
 * allowed ("percpu, batch") raise. */
struct sh_map_opts {
	bool percpu;
	bool batch; /* walks: BPF_MAP_LOOKUP_BATCH when the kind has it (default true) */
	__u32 chunk; /* walks: elements per syscall round, 0 = about 1 MiB worth */
};
void sh_map_opts(lua_State *L, struct sh_map *m, int idx, struct sh_map_opts *o,
		 const char *allowed);

/* ---- walks (lmapwalk.c) ------------------------------------------------------------------- */
int sh_map_pairs(lua_State *L); /* pairs(m), m:pairs(opts) */
int sh_map_snapshot(lua_State *L); /* m:snapshot(opts) */
int sh_map_count(lua_State *L); /* m:count() */
int sh_map_clear(lua_State *L); /* m:clear() */
int sh_mapwalk_open(lua_State *L); /* the sockhost.mapwalk class */

#endif
