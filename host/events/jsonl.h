/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events/jsonl.h: records encoded as NDJSON lines in C, straight from their bytes, with no
 * Lua value made per record (opts.ndjson of a subscription). A template is compiled once
 * from the record's BTF struct and a Lua description of the line; encoding a record is then
 * a walk over fixed offsets. Private to events/: setup.c compiles, drain.c encodes.
 *
 * The line follows sockhost.ndjson's rules: keys in a fixed order ("type", "ts", then the
 * fields as listed), integers exact, unsigned types printed unsigned (u64 included), strings
 * escaped as JSON requires ("/" left alone; bytes that are not UTF-8 as \u00XX).
 *
 * Lifetime: the template is malloc'ed, owned by its subscription and freed with it.
 */
#ifndef SOCKHOST_EVENTS_JSONL_H
#define SOCKHOST_EVENTS_JSONL_H

#include <stddef.h>
#include <bpf/btf.h>
#include <lua.h>

struct sh_jsonl;

/* Compile the description at idx (opts.ndjson) for records of struct type_id. Raises a Lua
 * error starting with what ("ringbuf 'events': opts.ndjson") on a bad description. */
struct sh_jsonl *sh_jsonl_compile(lua_State *L, int idx, const struct btf *btf, __u32 type_id,
				  const char *what);
void sh_jsonl_free(struct sh_jsonl *j);
/* Clock offsets for this drain (CLOCK_BOOTTIME/MONOTONIC to wall clock). */
void sh_jsonl_begin(struct sh_jsonl *j);
/* The line for one record (size >= the struct's size), '\n' included: valid until the next
 * call. NULL when out of memory. */
const char *sh_jsonl_encode(struct sh_jsonl *j, const void *rec, size_t *len);

#endif
