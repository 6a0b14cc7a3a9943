// SPDX-License-Identifier: GPL-2.0
/*
 * main.c: the sockhost executable: command line, signals and running chunks; the REPL
 * is repl.c. It sees sockhost.h only (and cli.h, which the two share). Modelled on
 * lua.c of Lua 5.4: `arg` is built the same way, -e chunks run in order before the script,
 * errors are reported as "sockhost: <message>" with a traceback. A script argument that is
 * no file (no '/', no ".lua") names an installed tool, found and listed (--list) by the Lua
 * module sockhost.tools.
 *
 * Lifetime: one struct sockhost (embed.c) owns the Lua state; every way out of main() goes
 * through sockhost_free(), so every link detaches and every fd closes before exit.
 *
 * Signals: SIGINT and SIGTERM set a hook that raises "interrupted!"/"terminated!" at the next
 * Lua instruction (lua.c's laction/lstop). Inside sockhost.run the loop (loop/loop.c) blocks both
 * and takes them from a signalfd, so a script ends its run and prints its summary instead.
 * A script ended by a signal exits 128+signo after the state is closed. At the REPL prompt
 * SIGINT cancels the line being typed; SIGTERM (or SIGINT without a terminal) ends sockhost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "cli.h"
#include "sockhost.h"

static lua_State *globalL; /* NULL while no Lua may run (closing) */
volatile sig_atomic_t caught_signal;
volatile sig_atomic_t raised_signal;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROGNAME " [options] [script [args]]\n"
		"       " PROGNAME " cc probe.bpf.c [-o probe.bpf.o]  (compile BPF C)\n"
		"       " PROGNAME
		" test [busted options] [DIR|FILE...]  (run specs, default spec/)\n"
		"       " PROGNAME " new NAME --type TYPE [--dir D]  (start a tool: new --help)\n"
		"Available options are:\n"
		"  -e stat        execute string 'stat' (may be repeated)\n"
		"  -i             enter interactive mode after executing 'script'\n"
		"  -h, --help     show this help\n"
		"  -v, --version  show version information\n"
		"  --features     show which kernel facilities sockhost can use\n"
		"  --list         list the installed tools (run one as: " PROGNAME " TOOL [args])\n"
		"  --             stop handling options\n"
		"  -              stop handling options and execute stdin\n"
		"A script that is not a file names an installed tool. With no script and no -e, " PROGNAME
		" reads statements at an interactive prompt.\n");
}

static void print_version(void)
{
	printf(PROGNAME " %s (libbpf %s, %s)\n", sockhost_version(), sockhost_libbpf_version() + 1,
	       LUA_RELEASE);
	fflush(stdout);
}

/* ---- signals ------------------------------------------------------------------------------- */

static void lstop(lua_State *L, lua_Debug *ar)
{
	int sig = caught_signal;

	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	caught_signal = 0;
	raised_signal = sig;
	luaL_error(L, sig == SIGTERM ? "terminated!" : "interrupted!");
}

static void set_signal(int sig, void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	/* No SA_RESTART: a blocking read at the prompt must return to look at the flag. */
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A second signal while Lua is stuck in C code kills the process, as with lua.c. */
static void laction(int sig)
{
	int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;

	set_signal(sig, SIG_DFL);
	caught_signal = sig;
	if (globalL)
		lua_sethook(globalL, lstop, flag, 1);
}

void arm_signals(void)
{
	set_signal(SIGINT, laction);
	set_signal(SIGTERM, laction);
}

/* Forget a signal that was handled outside Lua (at the prompt). */
void clear_signal(lua_State *L)
{
	lua_sethook(L, NULL, 0, 0);
	caught_signal = 0;
	arm_signals();
}

/* ---- running chunks ------------------------------------------------------------------------ */

int docall(lua_State *L, int narg, int nres)
{
	int base = lua_gettop(L) - narg;
	int status;

	lua_pushcfunction(L, sockhost_msghandler);
	lua_insert(L, base);
	arm_signals();
	status = lua_pcall(L, narg, nres, base);
	lua_remove(L, base);
	return status;
}

/* Print the error on top of the stack, if any, and pop it. */
int report(lua_State *L, int status)
{
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);

		if (!msg)
			msg = "(error object is not a string)";
		fflush(stdout);
		fprintf(stderr, PROGNAME ": %s\n", msg);
		fflush(stderr);
		lua_pop(L, 1);
	}
	return status;
}

static int dochunk(lua_State *L, int status)
{
	if (status == LUA_OK)
		status = docall(L, 0, 0);
	return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name)
{
	return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* arg = {[-n] = argv[0], ..., [0] = script, [1] = first argument, ...} (lua.c) */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
	int i, narg;

	if (script == argc)
		script = 0; /* no script name: arg[0] is the program */
	narg = argc - (script + 1);
	lua_createtable(L, narg, script + 1);
	for (i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

static int push_args(lua_State *L)
{
	int i, n;

	if (lua_getglobal(L, "arg") != LUA_TTABLE)
		luaL_error(L, "'arg' is not a table");
	n = (int)luaL_len(L, -1);
	luaL_checkstack(L, n + 3, "too many arguments to script");
	for (i = 1; i <= n; i++)
		lua_rawgeti(L, -i, i);
	lua_remove(L, -i);
	return n;
}

/* A script argument that is no file, has no '/' and does not end in ".lua" names a tool. */
static bool names_tool(const char *fname)
{
	size_t len = strlen(fname);

	return !strchr(fname, '/') && !(len >= 4 && strcmp(fname + len - 4, ".lua") == 0) &&
	       access(fname, F_OK) != 0;
}

/* Replace the tool name on top of the stack by its path (sockhost.tools.find), which also
 * becomes arg[0]. */
static int find_tool(lua_State *L)
{
	int status = luaL_loadstring(L, "return require('sockhost.tools').find(...)");

	if (status != LUA_OK)
		return status;
	lua_insert(L, -2);
	/* no traceback: an unknown name is a usage error, not a bug */
	status = lua_pcall(L, 1, 1, 0);
	if (status == LUA_OK && lua_getglobal(L, "arg") == LUA_TTABLE) {
		lua_pushvalue(L, -2);
		lua_rawseti(L, -2, 0);
	}
	if (status == LUA_OK)
		lua_pop(L, 1);
	return status;
}

static int handle_script(lua_State *L, char **argv)
{
	const char *fname = argv[0];
	int status;

	if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
		fname = NULL; /* stdin */
	if (fname && names_tool(fname)) {
		lua_pushstring(L, fname);
		status = find_tool(L);
		if (status != LUA_OK)
			return report(L, status);
		fname = lua_tostring(L, -1); /* on the stack until it is loaded */
		status = luaL_loadfile(L, fname);
		lua_remove(L, -2); /* the path, under the chunk or the error */
	} else {
		status = luaL_loadfile(L, fname);
	}
	if (status == LUA_OK) {
		int n = push_args(L);

		status = docall(L, n, 0);
	}
	return report(L, status);
}

/* ---- command line -------------------------------------------------------------------------- */

enum { ARG_BAD = -1 };
struct opts {
	int script; /* index of the script in argv, argc when none */
	bool has_e, has_i, help, version, features, list;
	const char *subcommand; /* the Lua module of `sockhost cc|test ...`, else NULL */
	const char *complete; /* --complete WORD (hidden): the REPL's Tab completions of WORD */
};

/* Subcommands: their words are their own, the module's main(arg) parses them. */
static const struct {
	const char *word, *module;
} subcommands[] = {
	{ "cc", "sockhost.cctool" }, /* lua/sockhost/cctool.lua */
	{ "test", "sockhost.testtool" }, /* lua/sockhost/testtool.lua: busted under this Lua */
	{ "new", "sockhost.newtool" }, /* lua/sockhost/newtool.lua: a tool's starting point */
};

/* lua.c's collectargs: options up to the first non-option (the script). */
static int collect_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->script = argc;
	for (i = 0; argc > 1 && i < (int)(sizeof(subcommands) / sizeof(subcommands[0])); i++) {
		if (strcmp(argv[1], subcommands[i].word) == 0) {
			o->subcommand = subcommands[i].module;
			o->script = 1;
			return 0;
		}
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-') {
			o->script = i;
			return 0;
		}
		switch (a[1]) {
		case '\0': /* "-": the script is stdin */
			o->script = i;
			return 0;
		case '-':
			if (a[2] == '\0') {
				o->script = i + 1;
				return 0;
			}
			if (strcmp(a, "--help") == 0)
				o->help = true;
			else if (strcmp(a, "--version") == 0)
				o->version = true;
			else if (strcmp(a, "--features") == 0)
				o->features = true;
			else if (strcmp(a, "--list") == 0)
				o->list = true;
			else if (strcmp(a, "--complete") == 0) {
				if (++i >= argc) {
					fprintf(stderr, PROGNAME ": '--complete' needs argument\n");
					return ARG_BAD;
				}
				o->complete = argv[i];
			} else
				return i;
			break;
		case 'e':
			o->has_e = true;
			if (a[2] == '\0' && ++i >= argc) {
				fprintf(stderr, PROGNAME ": '-e' needs argument\n");
				return ARG_BAD;
			}
			break;
		case 'i':
		case 'h':
		case 'v':
			if (a[2] != '\0')
				return i;
			if (a[1] == 'i')
				o->has_i = true;
			else if (a[1] == 'h')
				o->help = true;
			else
				o->version = true;
			break;
		default:
			return i;
		}
	}
	return 0;
}

/* The -e chunks, in order, up to the script. */
static int run_e_chunks(lua_State *L, char **argv, int script)
{
	int i;

	for (i = 1; i < script; i++) {
		const char *code;

		if (argv[i][0] != '-' || argv[i][1] != 'e')
			continue;
		code = argv[i][2] != '\0' ? argv[i] + 2 : argv[++i];
		if (dostring(L, code, "=(command line)") != LUA_OK)
			return -1;
	}
	return 0;
}

/* Exit status of a failed chunk: 128+signo when a signal ended it, else 1. */
static int failure_status(void)
{
	int sig = raised_signal ? raised_signal : caught_signal;

	if (!sig && globalL)
		sig = sockhost_forced_signal(globalL);

	return sig ? 128 + sig : EXIT_FAILURE;
}

struct run {
	int argc;
	char **argv;
	struct opts o;
	int status; /* exit status */
};

/* Everything that runs Lua, protected as lua.c's pmain: a memory error, or a chunk that
 * broke `arg`, is reported instead of ending in lua_atpanic. */
static int pmain(lua_State *L)
{
	struct run *run = lua_touserdata(L, 1);
	char **argv = run->argv;
	int sig;

	luaL_checkversion(L);
	/* Lua's warning channel on, as lua5.4 -W: sockhost says there what a script did that is
	 * almost always a mistake (a link left to the garbage collector) */
	lua_warning(L, "@on", 0);
	if (run->o.features) {
		if (dostring(L, "require('sockhost').print_features()", "=--features") != LUA_OK)
			run->status = failure_status();
		return 0;
	}
	if (run->o.list) {
		if (dostring(L, "io.write(require('sockhost.tools').list())", "=--list") != LUA_OK)
			run->status = failure_status();
		return 0;
	}
	create_arg_table(L, argv, run->argc, run->o.script);
	if (run->o.subcommand) {
		static const char sub[] = "return require((...)).main(arg)";
		int status = luaL_loadbuffer(L, sub, sizeof(sub) - 1, "=subcommand");

		if (status == LUA_OK) {
			lua_pushstring(L, run->o.subcommand);
			status = docall(L, 1, 1);
		}
		if (report(L, status) != LUA_OK)
			run->status = failure_status();
		else
			run->status = (int)lua_tointeger(L, -1);
		return 0;
	}
	/* -e one-liners and the REPL get the module at hand, as bpftrace users expect; scripts
	 * require it themselves. */
	if ((run->o.has_e || run->o.has_i || run->o.script == run->argc) &&
	    dostring(L, "sockhost = require('sockhost')", "=(sockhost)") != LUA_OK) {
		run->status = failure_status();
		return 0;
	}
	if (run_e_chunks(L, argv, run->o.script) < 0) {
		run->status = failure_status();
		return 0;
	}
	if (run->o.complete) {
		/* after the -e chunks, so they can make the globals to complete */
		if (print_completions(L, run->o.complete) < 0 && report(L, LUA_ERRRUN) != LUA_OK)
			run->status = failure_status();
		return 0;
	}
	if (run->o.script < run->argc && handle_script(L, argv + run->o.script) != LUA_OK) {
		run->status = failure_status();
		return 0;
	}
	if (run->o.has_i || (run->o.script == run->argc && !run->o.has_e)) {
		if (isatty(STDIN_FILENO))
			print_version();
		sig = do_repl(L);
		if (sig)
			run->status = 128 + sig;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct run run = { .argc = argc, .argv = argv, .status = EXIT_SUCCESS };
	struct sockhost *sh;
	lua_State *L;
	long long discarded;
	int bad;

	bad = collect_args(argc, argv, &run.o);
	if (bad) {
		if (bad > 0)
			fprintf(stderr, PROGNAME ": unrecognized option '%s'\n", argv[bad]);
		usage(stderr);
		return 2;
	}
	if (run.o.help) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (run.o.version) {
		print_version();
		return EXIT_SUCCESS;
	}

	sh = sockhost_new();
	if (!sh) {
		fprintf(stderr, PROGNAME ": cannot create state: not enough memory\n");
		return EXIT_FAILURE;
	}
	L = sockhost_lua(sh);
	globalL = L;
	arm_signals();
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, &run);
	if (report(L, docall(L, 1, 0)) != LUA_OK)
		run.status = failure_status();

	globalL = NULL; /* a signal from here on only sets the flag */
	/* the exit ledger: what the kernel wrote and nobody read is said, not lost silently */
	discarded = sockhost_close_events(L);
	if (discarded > 0)
		fprintf(stderr,
			PROGNAME ": %lld event records were still in ring/perf buffers at exit "
				 "and were discarded (sub:drain() before exit reads them)\n",
			discarded);
	sockhost_free(sh);
	if (run.status == EXIT_SUCCESS && caught_signal)
		run.status = 128 + caught_signal;
	fflush(stdout);
	return run.status;
}
