/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop/watchdog.h: what ends sockhost.run when a callback does not come back. The loop acts on
 * SIGINT/SIGTERM between records; a callback stuck in Lua never gets there. While run() waits,
 * a watchdog thread watches run's signalfd (never reading it): a second signal after the
 * loop took the first, or one the loop has not acted on within a grace period, makes the Lua
 * state raise "interrupted!" ("terminated!") at its next instruction, as lua.c does for a
 * script stuck outside run().
 */
#ifndef SOCKHOST_LOOP_WATCHDOG_H
#define SOCKHOST_LOOP_WATCHDOG_H

#include <lua.h>

/* How long the loop has to act on a signal before the watchdog interrupts Lua. */
#define SH_WATCHDOG_GRACE_MS 1000

struct sh_watchdog;

/* Watch sigfd (a signalfd of SIGINT and SIGTERM) for the state L; *taken is the signal the
 * loop took (0 before), written by the loop's thread. NULL when no thread could be started:
 * run() then goes on without one. */
struct sh_watchdog *sh_watchdog_start(lua_State *L, int sigfd, const int *taken);
/* Stop and free it (NULL is fine). Returns the signal it interrupted Lua for, or 0; when not
 * 0, the interrupting hook may still be set: the caller clears it. */
int sh_watchdog_stop(struct sh_watchdog *w);

#endif
