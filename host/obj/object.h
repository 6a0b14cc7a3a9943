/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/object.h: sockhost.object, an opened (and usually loaded) BPF object file.
 *
 * Owns the bpf_object (h.live), the codec cache of its BTF and its own mmaps of .data/.bss.
 * User value 1 is a table holding the handles it gave out (progs, maps: so repeated lookups
 * return the same handle), the handles it owns (sh_owner_track: links, subscriptions, closed
 * with it) and the globals proxy. Programs and maps keep the object alive through their own
 * user value, so the object is collected only after them; once it is closed, they raise.
 *
 * Layers above obj never get called from here: they register what must happen on a load
 * (sh_object_on_load) and add their own methods to the class (sh_class_add_methods).
 */
#ifndef SOCKHOST_OBJ_OBJECT_H
#define SOCKHOST_OBJ_OBJECT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include "btf/codec.h"
#include "lua/class.h"

#define SH_OBJECT_MT   "sockhost.object"
#define SH_DATASEC_MAX 8

/* One .data/.bss/.rodata section: after load our own mmap, so globals read live values. */
struct sh_datasec {
	struct bpf_map *map;
	void *mem; /* mmaped map value, or NULL (then use lookup/update) */
	size_t size;
	bool readonly;
};

struct sh_object {
	struct sh_handle h; /* h.live: the struct bpf_object */
	struct sh_codec_cache *codecs;
	const struct btf *btf;
	bool loaded;
	int ndatasec;
	struct sh_datasec datasec[SH_DATASEC_MAX];
	char path[]; /* as opened, NUL-terminated: sized to it */
};

extern const struct sh_class sh_object_class;

/* The object at idx; raises when closed. */
struct sh_object *sh_object_check(lua_State *L, int idx);
static inline struct bpf_object *sh_object_bpf(const struct sh_object *o)
{
	return o->h.live;
}
/* Call hook(obj) after every successful load in this state, in registration order. Errors
 * it raises propagate from obj:load()/sockhost.open(). */
void sh_object_on_load(lua_State *L, lua_CFunction hook);

int sh_object_open(lua_State *L); /* sockhost.open and the class */

#endif
