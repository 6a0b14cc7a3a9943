/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events/events.h: the event sources' entry points: ring buffers (sockhost.ringbuf,
 * obj:subscribe), perf buffers (sockhost.perfbuf), the loss ledger (sockhost.stats) and the
 * BPF log ring (sockhost.log_*).
 */
#ifndef SOCKHOST_EVENTS_EVENTS_H
#define SOCKHOST_EVENTS_EVENTS_H

#include <lua.h>

/* sockhost.ringbuf(map, type_name_or_nil, fn [, opts]) */
int sh_ringbuf_subscribe(lua_State *L);

int sh_ringbuf_open(lua_State *L); /* sockhost.ringbuf, obj:subscribe */
int sh_perfbuf_open(lua_State *L); /* sockhost.perfbuf */
int sh_events_open(lua_State *L); /* sockhost.stats */
int sh_output_open(lua_State *L); /* sockhost.core.output_file (events/output.c) */
int sh_log_open(lua_State *L);

/* Close every live subscription of the state (before it closes: the exit ledger); the
 * records they discarded doing so. Never raises. */
lua_Integer sh_evsrc_close_all(lua_State *L); /* sockhost.log_level, on_log, log_attach, log_format */

#endif
