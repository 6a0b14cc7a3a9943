/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h: the types and helpers shared by the files of libsockhost. Nothing here is
 * public API (that is sockhost.h). Each Lua type lives in its own file and exposes
 * sh_<type>_open(lua_State *), registered from sh_core_open() in core.c.
 *
 * Lifetime rules (STYLE.md, modelled on liolib's LStream):
 *  - every handle is a full userdata whose first pointer is NULL when closed;
 *  - objects, links, ring buffers own their libbpf handle; programs and maps are borrowed
 *    from their object and keep it alive through user value 1;
 *  - one function serves __gc and __close, is idempotent and tolerates NULL.
 */
#ifndef SOCKHOST_INTERNAL_H
#define SOCKHOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <lua.h>
#include <lauxlib.h>

#define SH_OBJECT_MT "sockhost.object"
#define SH_PROGRAM_MT "sockhost.program"
#define SH_MAP_MT "sockhost.map"
#define SH_LINK_MT "sockhost.link"
#define SH_RINGBUF_MT "sockhost.ringbuf"
#define SH_SOCKET_MT "sockhost.socket"
#define SH_TIMER_MT "sockhost.timer"
#define SH_LOOP_MT "sockhost.loop"
#define SH_STATS_MT "sockhost.stats"

/* ---- codec.c: BTF type -> flat plan, Lua <-> bytes ------------------------------------- */
struct sh_codec;       /* an immutable plan for one BTF type, owned by its cache */
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
void sh_codec_encode(lua_State *L, int idx, const struct sh_codec *c, void *out,
		     const char *what);
/* Resolve a type by name: "struct event", "event", "enum op", "__u32", "u64". Returns the
 * type id, or a negative errno. */
int sh_btf_find_type(const struct btf *btf, const char *name);
/* Human name of a type for messages ("struct event", "u32", "char[16]"). */
const char *sh_btf_type_name(const struct btf *btf, __u32 type_id, char *buf, size_t len);

/* ---- error.c: errors at the C/Lua boundary ----------------------------------------------- */
/* Raise "<fmt ...>: <strerror(err)>[ (hint)]" as a table-free string error. err is a positive
 * errno. The hint is looked up from err (EPERM -> "run as root or grant CAP_BPF...") when
 * hint is NULL. Never returns. */
int sh_raise_errno(lua_State *L, int err, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Raise an error table {message=, errno=, log=} whose __tostring gives message; used for
 * verifier failures where the full log must reach pcall users. Never returns. */
int sh_raise_verifier(lua_State *L, int err, const char *log, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* libbpf's print callback is routed here; the last warning is kept for messages. */
void sh_libbpf_log_init(void);
const char *sh_libbpf_last_log(void);
void sh_libbpf_log_reset(void);
/* Collect libbpf output into a caller buffer while a load runs (NULL to stop). */
void sh_libbpf_log_capture(char *buf, size_t len);

/* ---- util.c ------------------------------------------------------------------------------ */
/* cgroup2 mount point from /proc/mounts, NULL if none. Cached. */
const char *sh_cgroup2_root(void);
/* Open a cgroup v2 directory, raising with a clear message when it is missing or not v2. */
int sh_open_cgroup(lua_State *L, const char *path);
/* Directory that holds the built-in BPF objects (env SOCKHOST_BPF_PATH, the build tree next
 * to the binary, then the install dir). */
const char *sh_bpf_dir(void);
/* Make sure the directory of path is on a bpffs, mounting /sys/fs/bpf if needed. Raises. */
void sh_ensure_bpffs(lua_State *L, const char *path);
/* Mount tracefs at /sys/kernel/tracing when no tracefs is where libbpf looks. Raises. */
void sh_ensure_tracefs(lua_State *L, const char *why);
/* A socket-like Lua value (integer fd, object with :getfd(), sockhost.socket) -> fd or
 * raises naming what it got. */
int sh_check_sockfd(lua_State *L, int idx, const char *what);

/* ---- lobject.c --------------------------------------------------------------------------- */
struct sh_object {
	struct bpf_object *obj; /* NULL when closed */
	struct sh_codec_cache *codecs;
	const struct btf *btf;
	bool loaded;
	char path[256];
	/* after load: own mmaps of .data/.bss so globals read live kernel values */
	int ndatasec;
	struct sh_datasec {
		struct bpf_map *map;
		void *mem;        /* mmaped map value, or NULL (then use lookup/update) */
		size_t size;
		bool readonly;
	} datasec[8];
};
struct sh_object *sh_object_check(lua_State *L, int idx); /* raises when closed */
/* Register a link created from a program of the object at idx, so closing the object
 * detaches it. The link userdata is at link_idx. */
void sh_object_track_link(lua_State *L, int obj_idx, int link_idx);

/* ---- lprog.c ----------------------------------------------------------------------------- */
struct sh_program {
	struct bpf_program *prog; /* borrowed from parent; NULL for a program opened by pin */
	struct sh_object *parent; /* valid while user value 1 holds the object; else NULL */
	int fd;                   /* owned fd for a program opened from a pin, else -1 */
	enum bpf_prog_type type;
	bool closed;
	char name[64];
};
struct sh_program *sh_program_check(lua_State *L, int idx); /* raises when closed/unloaded */
int sh_program_fd(lua_State *L, struct sh_program *p);      /* raises when not loaded */
enum bpf_prog_type sh_program_type(struct sh_program *p);
void sh_push_program(lua_State *L, int obj_idx, struct bpf_program *prog);
void sh_push_pinned_program(lua_State *L, int fd); /* takes fd */

/* ---- lmap.c ------------------------------------------------------------------------------ */
struct sh_map {
	int fd;                   /* owned fd (pinned/by id), else -1: use bpf_map__fd(map) */
	bool owned;               /* fd is ours (pinned/by id); else borrowed from the object */
	struct bpf_map *map;      /* borrowed from the object, or NULL for owned maps */
	struct sh_object *parent; /* NULL for owned maps */
	struct btf *own_btf;      /* for owned maps: kernel BTF of the map, freed on close */
	struct sh_codec_cache *own_codecs;
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries, map_flags;
	__u32 btf_key_id, btf_value_id;
	const struct sh_codec *key_codec, *value_codec; /* NULL: raw byte strings */
	char name[64];
	/* error prefixes for the codec ("map 'x' key"), made once: every encode passes one */
	char what_key[80], what_value[80];
	bool closed;
};
struct sh_map *sh_map_check(lua_State *L, int idx); /* raises when closed or not loaded */
void sh_push_map(lua_State *L, int obj_idx, struct bpf_map *map);
void sh_push_owned_map(lua_State *L, int fd); /* takes fd; BTF from the kernel */
int sh_map_fd(lua_State *L, struct sh_map *m); /* raises when not loaded */
struct sh_codec_cache *sh_map_codecs(struct sh_map *m);
const struct btf *sh_map_btf(struct sh_map *m);

/* ---- llink.c ----------------------------------------------------------------------------- */
enum sh_link_kind {
	SH_LINK_BPF,        /* a struct bpf_link (cgroup, perf, tracing links) */
	SH_LINK_FD,         /* a raw BPF link fd from bpf_link_create (sockmap links) */
	SH_LINK_SOCKFILTER, /* SO_ATTACH_BPF on a socket: not detached on gc (aya semantics) */
	SH_LINK_PROG_ATTACH /* bpf_prog_attach fallback: detached with bpf_prog_detach2 */
};
struct sh_link {
	struct bpf_link *link;
	enum sh_link_kind kind;
	bool attached;
	int target_fd;          /* socket or map fd (borrowed, not closed) */
	int link_fd;            /* SH_LINK_FD: owned link fd */
	__u64 sock_cookie;      /* SH_LINK_SOCKFILTER: which socket, in case the fd is reused */
	int prog_fd;            /* for prog_attach fallback (dup'ed, owned) */
	enum bpf_attach_type attach_type;
	char desc[160];         /* "sock_ops 'hello' -> cgroup /sys/fs/cgroup/unified/x" */
};
/* Push a new link handle (closed state first, then fill: liolib's newprefile). It has one
 * user value, free for what the attachment needs kept alive (a map). */
struct sh_link *sh_link_new(lua_State *L);
/* attach.c: socket filter slots (aya SocketFilter semantics) */
void sh_socket_filter_detach(lua_State *L, struct sh_link *l);
int sh_detach_filter(lua_State *L);

/* ---- attach.c: one entry per attach kind (ply's provider ops) ---------------------------- */
struct sh_attach_kind {
	const char *kind;                   /* "cgroup", "socket", "kprobe", ... */
	/* Attach the program at prog_idx using Lua args from arg_idx on; pushes a link. */
	int (*attach)(lua_State *L, int prog_idx, int arg_idx);
	/* What the kind wants as target, for error messages. */
	const char *describe;
};
const struct sh_attach_kind *sh_attach_kind_for(struct sh_program *p);

/* ---- lloop.c: one epoll loop per Lua state ----------------------------------------------- */
struct sh_loop;
struct sh_source;
typedef int (*sh_dispatch_fn)(lua_State *L, struct sh_source *src, uint32_t events);
struct sh_source {
	int fd;
	sh_dispatch_fn dispatch; /* returns 0, or -1 after storing an error with sh_loop_fail */
	void *ctx;
	bool registered;
	/* Optional: called before every wait while registered (watch: is the fd still open?).
	 * Returns 0, or -1 after storing an error with sh_loop_fail. */
	int (*check)(lua_State *L, struct sh_source *src);
	struct sh_source *check_next; /* the loop's list of sources with a check */
};
struct sh_loop *sh_loop_get(lua_State *L); /* created on first use, owned by the registry */
int sh_loop_add(lua_State *L, struct sh_source *src);
void sh_loop_del(lua_State *L, struct sh_source *src);
/* Store the Lua value on top of the stack as the loop's pending error (pops it). */
void sh_loop_fail(lua_State *L);
int sh_loop_fd(lua_State *L);
/* Call the function below nargs arguments under a traceback handler; on error the error is
 * stored for the loop (which stops) and -1 is returned. Never raises. */
int sh_loop_call(lua_State *L, int nargs);
/* One non-blocking-ish pass: wait up to timeout_ms, dispatch; raises a stored error. Returns
 * the number of events dispatched. */
int sh_loop_step(lua_State *L, int timeout_ms);
/* lua_pcall with the loop's traceback handler; on error the (traced) error value is left on
 * top and the status returned, nothing is stored. */
int sh_loop_pcall(lua_State *L, int nargs, int nresults);
/* The loop's stop flag, for drains that check it per record without a registry lookup. */
const bool *sh_loop_stop_flag(lua_State *L);

/* ---- lringbuf.c, lperfbuf.c, lev*.c: event sources --------------------------------------- */
/* sockhost.ringbuf(map, type_name_or_nil, fn [, opts]) */
int sh_ringbuf_subscribe(lua_State *L);
/* sockhost.perfbuf(map, type_name_or_nil, fn [, opts]) */
int sh_perfbuf_subscribe(lua_State *L);

enum sh_col_kind {
	SH_COL_U8, SH_COL_U16, SH_COL_U32, SH_COL_U64,
	SH_COL_S8, SH_COL_S16, SH_COL_S32, SH_COL_S64,
	SH_COL_BITS, SH_COL_CODEC,
};

/* One field of a struct record cut into columns (levsetup.c): batch mode gives each its own
 * array; the per-record path of an all-integer struct reads the integers directly. */
struct sh_column {
	enum sh_col_kind kind;
	size_t off;
	__u8 bit_off, bit_size; /* SH_COL_BITS */
	bool is_signed;         /* SH_COL_BITS */
	const struct sh_codec *codec; /* SH_COL_CODEC: enums, arrays, strings, nested structs */
	char name[64];
};

/* registry table (weak keys) of every live event subscription, in subscription order of ids */
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
};

/*
 * What every subscription shares, embedded first in its userdata (`handle` NULL means
 * closed). User values of the userdata: 1 the map, 2 the callback, 3 the batch table (batch mode) or the field names (all-integer struct), 4 the on_lost
 * function (perf). Setup is levsetup.c, the drain and error policy levents.c, counters
 * levstats.c; the kinds only produce records.
 */
struct sh_evsrc {
	void *handle;                    /* NULL when closed */
	const struct sh_evsrc_ops *ops;
	struct sh_source src;
	const struct sh_codec *codec;    /* NULL: raw byte strings */
	size_t min_size;
	struct sh_column *cols;          /* batch, or an all-integer struct: one per field */
	int ncols;
	int batch;                       /* records per call in batch mode; 0: one per call */
	int batch_prev;                  /* entries filled by the previous batch call */
	bool count_errors;               /* opts.on_error = "count" */
	bool draining;                   /* a drain is running: close() defers the free */
	bool close_pending;
	int self_ref;                    /* registry ref while subscribed */
	int error_ref;                   /* registry ref of the last counted error, or LUA_NOREF */
	void (*free)(struct sh_evsrc *s);/* the kind's teardown (unmap, free) */
	lua_Integer id, received, errors;
	lua_Integer commits;             /* records given back to the kernel */
	__u64 dropped_final;             /* dropped() at close */
	const char *kind;                /* "ringbuf", "perfbuf" */
	char name[64];
	char type[96];
};
/* levsetup.c: parse type (at type_idx), callback (fn_idx) and opts (opts_idx) for map m
 * into s, which is in the userdata at ud_idx. Raises on bad input. */
void sh_evsrc_setup(lua_State *L, struct sh_evsrc *s, int ud_idx, struct sh_map *m,
		    int type_idx, int fn_idx, int opts_idx);
void sh_evsrc_free_columns(struct sh_evsrc *s);
/* Register s (its userdata at ud_idx) with the loop and the stats list (the weak registry
 * table "sockhost.evsources", read by levstats.c). */
void sh_evsrc_start(lua_State *L, struct sh_evsrc *s, int ud_idx);
/* The loop's dispatch function for every event source. */
int sh_evsrc_dispatch(lua_State *L, struct sh_source *src, uint32_t events);
/* Close (idempotent); inside a drain the free waits until the drain ends. */
void sh_evsrc_close(lua_State *L, struct sh_evsrc *s);
/* levstats.c: counters. Records dropped in the kernel (read now, or at close). */
__u64 sh_evsrc_dropped(struct sh_evsrc *s);
/* __index, __tostring, :stats() shared by the source types. */
int sh_evsrc_index(lua_State *L);
int sh_evsrc_tostring(lua_State *L);
int sh_evsrc_stats(lua_State *L);
/* Register the class mt of an event-source kind and its module function fname. */
void sh_evsrc_class(lua_State *L, const char *mt, lua_CFunction close, const char *fname,
		    lua_CFunction subscribe);
/* The `<name>_drops` per-CPU counter map next to map m in its object: a dup'ed fd, or -1. */
int sh_evsrc_drops_fd(struct sh_map *m);
/* Sum of a per-CPU (or plain) u64 counter at key 0. */
__u64 sh_evsrc_read_counter(int fd);

/* llog.c: subscribe the log consumer to the object's `sockhost_log` ring buffer if it has
 * one (idempotent). Returns 1 when subscribed (now or before), 0 when there is none. */
int sh_log_attach_object(lua_State *L, int obj_idx);

/* Registered from core.c with the other sh_<type>_open functions. */
int sh_perfbuf_open(lua_State *L);   /* sockhost.perfbuf */
int sh_events_open(lua_State *L);    /* sockhost.stats */
int sh_log_open(lua_State *L);       /* sockhost.log_level, on_log, log_attach */
int sh_tracepipe_open(lua_State *L); /* sockhost.trace_pipe */
int sh_watch_open(lua_State *L);     /* sockhost.watch (lwatch.c) */

/* ---- registration ------------------------------------------------------------------------ */
int sh_object_open(lua_State *L);
int sh_program_open(lua_State *L);
int sh_map_open(lua_State *L);
int sh_link_open(lua_State *L);
int sh_ringbuf_open(lua_State *L);
int sh_socket_open(lua_State *L);
int sh_loop_open(lua_State *L);
int sh_features_open(lua_State *L);
int sh_core_open(lua_State *L); /* luaopen_sockhost_core's body */

/* Push registry[key], a table with weak keys or values (mode "k" or "v") made on first use. */
void sh_push_weak_registry(lua_State *L, const char *key, const char *mode);
/* Set the functions l into the table at -1 and make it a metatable with __index = methods. */
void sh_new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods);

#endif
