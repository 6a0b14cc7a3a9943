/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events/source.h: what every event source (ring buffer, perf buffer) shares, private to
 * events/: setup.c parses the arguments, drain.c turns records into Lua calls and closes,
 * ledger.c keeps the counters; the kinds (ringbuf.c, perfbuf.c) only produce records.
 */
#ifndef SOCKHOST_EVENTS_SOURCE_H
#define SOCKHOST_EVENTS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include <lua.h>
#include "btf/codec.h"
#include "loop/loop.h"
#include "lua/class.h"

struct sh_map;
struct sh_jsonl;

enum sh_col_kind {
	SH_COL_U8,
	SH_COL_U16,
	SH_COL_U32,
	SH_COL_U64,
	SH_COL_S8,
	SH_COL_S16,
	SH_COL_S32,
	SH_COL_S64,
	SH_COL_BITS,
	SH_COL_CODEC,
};

/* One field of a struct record cut into columns (setup.c): batch mode gives each its own
 * array; the per-record path of an all-integer struct reads the integers directly. */
struct sh_column {
	enum sh_col_kind kind;
	size_t off;
	__u8 bit_off, bit_size; /* SH_COL_BITS */
	bool is_signed; /* SH_COL_BITS */
	const struct sh_codec *codec; /* SH_COL_CODEC: enums, arrays, strings, nested structs */
	char name[64];
};

/* registry table (weak keys) of every live event subscription, for sockhost.stats() */
#define SH_EVSOURCES_KEY "sockhost.evsources"

struct sh_evsrc;
/* How a kind of source hands out records (ring buffer, perf buffer). */
struct sh_evsrc_ops {
	/* The next record: 1 with data and size set (valid until commit), 0 when none is ready. */
	int (*next)(struct sh_evsrc *s, const void **data, size_t *size);
	/* Give the record returned by next() back to the kernel. */
	void (*commit)(struct sh_evsrc *s);
	/* Records dropped in the kernel so far (ring: the <map>_drops counter; perf: lost). */
	__u64 (*dropped)(struct sh_evsrc *s);
	/* Records still in the kernel's buffer, not read (counted as discarded at close). */
	lua_Integer (*pending)(struct sh_evsrc *s);
	/* Optional: what the kind registered with the loop besides its fd (ringbuf: the pacing
	 * timer), undone at close. Never raises; idempotent. */
	void (*stop)(lua_State *L, struct sh_evsrc *s);
	/* Optional: kind-specific fields into the stats table on top of the stack. */
	void (*stats)(lua_State *L, struct sh_evsrc *s);
	/* The kind's teardown (unmap, free); must cope with a half-made source. */
	void (*free)(struct sh_evsrc *s);
	/* The keys its options table may have (NULL-ended). */
	const char *const *opt_names;
};

/*
 * What every subscription shares, embedded first in its userdata. h.live is set from the
 * moment the userdata exists (so a setup that raises half way is still freed by __gc); the
 * kind's resources are freed once (`freed`), at close or, for a close from inside a callback,
 * when the drain is over. User values: 1 the map, 2 the callback, 3 the batch table (batch
 * mode) or the field names (all-integer struct), 4 the on_lost function (perf), 5 the
 * opts.ndjson output file.
 */
struct sh_evsrc {
	struct sh_handle h;
	const struct sh_evsrc_ops *ops;
	struct sh_source src;
	const struct sh_codec *codec; /* NULL: raw byte strings */
	size_t min_size;
	struct sh_column *cols; /* batch, or an all-integer struct: one per field */
	int ncols;
	int batch; /* records per call in batch mode; 0: one per call */
	int batch_prev; /* entries filled by the previous batch call */
	struct sh_jsonl *jsonl; /* opts.ndjson: records written as NDJSON lines from C */
	bool count_errors; /* opts.on_error = "count" */
	bool draining; /* a drain is running: close() defers the free */
	bool close_pending;
	bool freed; /* the kind's resources are gone */
	int self_ref; /* registry ref while subscribed */
	int error_ref; /* registry ref of the last counted error, or LUA_NOREF */
	lua_Integer id, received, errors;
	lua_Integer commits; /* records given back to the kernel */
	lua_Integer discarded; /* records left in the ring at close, never read */
	__u64 dropped_final; /* dropped() at close */
	const char *kind; /* "ringbuf", "perfbuf" */
	char name[64];
	char type[96];
};

/* setup.c: make the userdata of a source of class cls (size bytes, struct sh_evsrc first)
 * and push it; then parse type (at type_idx), callback (fn_idx) and opts (opts_idx) for map
 * m into it. Raises on bad input. */
struct sh_evsrc *sh_evsrc_new(lua_State *L, const struct sh_class *cls, size_t size,
			      const struct sh_evsrc_ops *ops, const char *kind);
void sh_evsrc_setup(lua_State *L, struct sh_evsrc *s, int ud_idx, struct sh_map *m, int type_idx,
		    int fn_idx, int opts_idx);
void sh_evsrc_free_columns(struct sh_evsrc *s);
/* drain.c: register s (its userdata at ud_idx) with the loop, the stats list and the owner
 * of its map's object. */
void sh_evsrc_start(lua_State *L, struct sh_evsrc *s, int ud_idx);
/* A subscription is referenced from the registry while subscribed, so a dropped handle keeps
 * receiving. This one (its userdata at ud_idx) is held weakly instead: it lives while
 * something else holds it (the log ring: its object, through an ephemeron table), so an
 * object nobody holds can be collected with its subscription. */
void sh_evsrc_hold_weakly(lua_State *L, int ud_idx);
/* Push the subscription's userdata; false (nothing pushed) once it is being collected. */
bool sh_evsrc_push(lua_State *L, struct sh_evsrc *s);
/* The loop's dispatch function for every event source. */
int sh_evsrc_dispatch(lua_State *L, struct sh_source *src, uint32_t events);
/* sub:drain() -> records handled: read what is there now, ready or not (ring buffers in
 * batched mode are not signalled). Raises from inside the source's own callback. */
int sh_evsrc_l_drain(lua_State *L);
/* setup.c: sub:set_output(file) -> sub, where opts.ndjson lines go from the next drain on. */
int sh_evsrc_l_set_output(lua_State *L);
/* The class close of every source kind; inside a drain the free waits until it ends. */
void sh_evsrc_close(lua_State *L, int idx, struct sh_handle *h);
/* ledger.c: records dropped in the kernel (read now, or at close). */
__u64 sh_evsrc_dropped(struct sh_evsrc *s);
/* The event source at idx, of any kind (raises otherwise; a closed one is returned). */
struct sh_evsrc *sh_evsrc_check(lua_State *L, int idx);
/* The class of an event-source kind: the shared fields, :stats() and :drain(). */
extern const luaL_Reg sh_evsrc_meta[];
extern const luaL_Reg sh_evsrc_methods[];
void sh_evsrc_describe(lua_State *L, struct sh_handle *h);
/* The `<name>_drops` per-CPU counter map next to map m in its object: a dup'ed fd, or -1. */
int sh_evsrc_drops_fd(struct sh_map *m);
/* Sum of a per-CPU (or plain) u64 counter at key 0. */
__u64 sh_evsrc_read_counter(int fd);

#endif
