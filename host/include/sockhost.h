/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockhost.h: the embedding API. A C program hosts sockhost scripts and folds their event
 * loop (ring buffers, timers) into its own: poll sockhost_fd() and call sockhost_step() when
 * it is readable. Every call that can fail returns 0 or -1 and leaves a message for
 * sockhost_error(). The struct sockhost owns its lua_State: sockhost_free() closes it, which
 * detaches every link and closes every fd the scripts made.
 */
#ifndef SOCKHOST_H
#define SOCKHOST_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sockhost;

/* A new host with the standard Lua libraries and sockhost (require "sockhost") loaded. */
struct sockhost *sockhost_new(void);
void sockhost_free(struct sockhost *sh);

/* Run a script with arg = {[0] = path, ...argv} (as lua.c does). */
int sockhost_dofile(struct sockhost *sh, const char *path, int argc, char **argv);
int sockhost_dostring(struct sockhost *sh, const char *code, const char *chunkname);

/* The loop's epoll fd: readable when a ring buffer, timer or watched fd has work. */
int sockhost_fd(struct sockhost *sh);
/* Dispatch what is ready, waiting at most timeout_ms (0: don't wait). Returns the number of
 * events handled, or -1 when a callback raised (see sockhost_error). */
int sockhost_step(struct sockhost *sh, int timeout_ms);

/* The message of the last failure, with traceback when one was available. */
const char *sockhost_error(struct sockhost *sh);
lua_State *sockhost_lua(struct sockhost *sh);

/* Open sockhost.core into L (what require "sockhost.core" does). */
int luaopen_sockhost_core(lua_State *L);
/* Add sockhost.core to package.preload and the build-tree/installed Lua paths to
 * package.path, so require "sockhost" works in an embedded state. */
void sockhost_openlibs(lua_State *L);
const char *sockhost_version(void);
/* "v1.1" etc.: the libbpf sockhost runs on. */
const char *sockhost_libbpf_version(void);
/* lua.c's message handler, as sockhost uses it: a traceback for strings (unless the message
 * has one already), the __tostring of error objects. */
int sockhost_msghandler(lua_State *L);
/* The signal (SIGINT, SIGTERM) for which sockhost.run raised "interrupted!"/"terminated!"
 * because a callback did not come back after it (a second signal, or a grace period of one
 * second), or 0: a host exits as that signal would (128 + it). */
int sockhost_forced_signal(lua_State *L);
/* Close every event subscription still open (ring and perf buffers) and return how many
 * records they still held, counted as discarded in their ledgers: a host calls it before
 * sockhost_free() to say what was left unread. Never raises. */
long long sockhost_close_events(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif
