/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cli.h: what main.c (command line, signals) and repl.c (the prompt) share: the executable's
 * own header, never included by the library.
 */
#ifndef SOCKHOST_CLI_H
#define SOCKHOST_CLI_H

#include <signal.h>
#include <lua.h>

#define PROGNAME "sockhost"

/* The pending SIGINT/SIGTERM (0 when none), and the signal the hook turned into an error. */
extern volatile sig_atomic_t caught_signal;
extern volatile sig_atomic_t raised_signal;
/* (Re)install the SIGINT/SIGTERM handlers (a handled signal falls back to SIG_DFL). */
void arm_signals(void);
/* Forget a signal that was handled outside Lua (at the prompt). */
void clear_signal(lua_State *L);
/* lua_pcall with sockhost's message handler, signals armed. */
int docall(lua_State *L, int narg, int nres);
/* Print the error on top of the stack as "sockhost: <message>" (if status says one), pop it. */
int report(lua_State *L, int status);
/* The interactive prompt until EOF; the status of the last chunk. */
int do_repl(lua_State *L);
/* Print the REPL's Tab completions of word, one a line (sockhost --complete WORD): 0, or -1
 * with the error message on the stack. */
int print_completions(lua_State *L, const char *word);

#endif
