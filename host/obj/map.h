/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/map.h: sockhost.map as the rest of sockhost sees it: the handle, its fd and its BTF.
 * One map of an object (borrowed: user value 1 keeps the object alive, h.parent is the
 * object's handle) or a map opened from a pin or id (owns its fd and the kernel BTF it was
 * created with). The map files' own header is obj/map/map_int.h.
 */
#ifndef SOCKHOST_OBJ_MAP_H
#define SOCKHOST_OBJ_MAP_H

#include <stdbool.h>
#include <bpf/libbpf.h>
#include "btf/codec.h"
#include "lua/class.h"

#define SH_MAP_MT "sockhost.map"

struct sh_object;

struct sh_map {
	struct sh_handle h; /* h.live: the map itself while open */
	int fd; /* owned fd (pinned/by id), else -1: use bpf_map__fd(map) */
	bool owned; /* fd is ours (pinned/by id); else borrowed from the object */
	struct bpf_map *map; /* borrowed from the object, or NULL for owned maps */
	struct sh_object *parent; /* NULL for owned maps */
	struct btf *own_btf; /* for owned maps: kernel BTF of the map, freed on close */
	struct sh_codec_cache *own_codecs;
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries, map_flags;
	__u32 btf_key_id, btf_value_id;
	const struct sh_codec *key_codec, *value_codec; /* NULL: raw byte strings */
	char name[64];
	/* error prefixes for the codec ("map 'x' key"), made once: every encode passes one */
	char what_key[80], what_value[80];
};

extern const struct sh_class sh_map_class;

/* The map at idx; raises when it or its object is closed. */
struct sh_map *sh_map_check(lua_State *L, int idx);
/* Closed handle, or borrowed from an object that was closed. */
bool sh_map_is_closed(const struct sh_map *m);
/* Its fd; raises when not loaded. */
int sh_map_fd(lua_State *L, struct sh_map *m);
/* "hash", "percpu_array", ... */
const char *sh_map_type_name(enum bpf_map_type t);
struct sh_codec_cache *sh_map_codecs(struct sh_map *m);
const struct btf *sh_map_btf(struct sh_map *m);
/* The map named name in the same object as m (a ring's `<name>_drops`), or NULL. */
struct bpf_map *sh_map_sibling(struct sh_map *m, const char *name);
/* Push a handle for map of the object at obj_idx. */
void sh_push_map(lua_State *L, int obj_idx, struct bpf_map *map);
/* Push a handle for a pinned map (info: the kernel's, for fd); takes fd. BTF from the
 * kernel. */
void sh_push_owned_map(lua_State *L, int fd, const struct bpf_map_info *info);

int sh_map_open(lua_State *L); /* the class and the map walk class */

#endif
