// SPDX-License-Identifier: GPL-2.0
/*
 * main.c: the sockhost executable: command line, REPL, signals, nothing else. Modelled on
 * lua.c of Lua 5.4: `arg` is built the same way, -e chunks run in order before the script,
 * errors are reported as "sockhost: <message>" with a traceback.
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
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "sockhost.h"

#define PROGNAME     "sockhost"
#define PROMPT	     "sockhost> "
#define PROMPT2	     ">> "
#define HISTORY_FILE ".sockhost_history"
#define HISTORY_MAX  1000
#define INSPECT_KEY  "sockhost.repl.inspect" /* registry: the inspect function, or absent */
#define EOFMARK	     "<eof>"

static lua_State *globalL; /* NULL while no Lua may run (closing) */
static volatile sig_atomic_t caught_signal; /* pending SIGINT/SIGTERM, 0 when none */
static volatile sig_atomic_t raised_signal; /* the signal lstop turned into an error */

static void usage(FILE *out)
{
	fprintf(out, "usage: " PROGNAME " [options] [script [args]]\n"
		     "Available options are:\n"
		     "  -e stat        execute string 'stat' (may be repeated)\n"
		     "  -i             enter interactive mode after executing 'script'\n"
		     "  -h, --help     show this help\n"
		     "  -v, --version  show version information\n"
		     "  --features     show which kernel facilities sockhost can use\n"
		     "  --             stop handling options\n"
		     "  -              stop handling options and execute stdin\n"
		     "With no script and no -e, " PROGNAME " reads statements at an interactive "
		     "prompt.\n");
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

static void arm_signals(void)
{
	set_signal(SIGINT, laction);
	set_signal(SIGTERM, laction);
}

/* Forget a signal that was handled outside Lua (at the prompt). */
static void clear_signal(lua_State *L)
{
	lua_sethook(L, NULL, 0, 0);
	caught_signal = 0;
	arm_signals();
}

/* ---- running chunks ------------------------------------------------------------------------ */

static int docall(lua_State *L, int narg, int nres)
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
static int report(lua_State *L, int status)
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

static int handle_script(lua_State *L, char **argv)
{
	const char *fname = argv[0];
	int status;

	if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
		fname = NULL; /* stdin */
	status = luaL_loadfile(L, fname);
	if (status == LUA_OK) {
		int n = push_args(L);

		status = docall(L, n, 0);
	}
	return report(L, status);
}

/* ---- the REPL ------------------------------------------------------------------------------ */

enum { LINE_OK, LINE_EOF, LINE_SIGNAL };

static bool use_readline;

/*
 * readline's getc: the wait for input is a ppoll() with SIGINT and SIGTERM unblocked only
 * there, so a signal is never lost between looking at the flag and blocking. readline's own
 * handlers (kept for SIGTSTP, SIGWINCH...) only note a signal; rl_check_signals() does the
 * work: it restores the terminal and sends the signal again to laction. That resend stays
 * pending when the signal is blocked (readline 8.2 unblocks SIGINT as a side effect, not
 * SIGTERM), so it is taken with sigtimedwait(). A caught signal then ends the line with EOF;
 * the line is emptied first so that readline returns NULL instead of taking EOF as ^D.
 */
static int repl_getc(FILE *stream)
{
	static const struct timespec no_wait;
	struct pollfd pfd = { .fd = fileno(stream), .events = POLLIN };
	sigset_t block, mask;
	unsigned char c;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	for (;;) {
		ssize_t n;
		int sig;

		sigprocmask(SIG_BLOCK, &block, &mask);
		sigdelset(&mask, SIGINT);
		sigdelset(&mask, SIGTERM);
		rl_check_signals();
		sig = sigtimedwait(&block, NULL, &no_wait);
		if (sig > 0 && !caught_signal)
			caught_signal = sig;
		if (caught_signal) {
			rl_replace_line("", 0);
			return EOF;
		}
		if (ppoll(&pfd, 1, NULL, &mask) < 0) {
			if (errno == EINTR)
				continue;
			return EOF;
		}
		n = read(pfd.fd, &c, 1);
		if (n == 1)
			return c;
		if (n == 0 || errno != EINTR)
			return EOF;
	}
}

/* SIGINT and SIGTERM stay blocked in readline() except while repl_getc waits. */
static int read_line_tty(const char *prompt, char **out)
{
	sigset_t block, orig;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	*out = readline(prompt);
	sigprocmask(SIG_SETMASK, &orig, NULL);
	if (caught_signal) {
		free(*out);
		*out = NULL;
		return LINE_SIGNAL;
	}
	return *out ? LINE_OK : LINE_EOF;
}

/* Wait until stdin is readable, or return -1 for a pending SIGINT/SIGTERM. The signals are
 * blocked between the flag check and the wait and unblocked only inside ppoll, so one that
 * arrives just before the wait cannot leave the REPL blocked on input (stdin is unbuffered in
 * the plain REPL, so readable means the next read will not block). */
static int wait_stdin(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	sigset_t block, old;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (;;) {
		if (caught_signal) {
			rc = -1;
			break;
		}
		rc = ppoll(&pfd, 1, NULL, &old);
		if (rc >= 0 || errno != EINTR)
			break;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc < 0 && caught_signal ? -1 : 0;
}

static int read_line_plain(char **out)
{
	size_t cap = 0;
	ssize_t n;

	*out = NULL;
	for (;;) {
		if (wait_stdin() < 0)
			return LINE_SIGNAL;
		errno = 0;
		n = getline(out, &cap, stdin);
		if (n >= 0)
			break;
		if (errno != EINTR || caught_signal) {
			free(*out);
			*out = NULL;
			return caught_signal ? LINE_SIGNAL : LINE_EOF;
		}
		clearerr(stdin);
	}
	if (n > 0 && (*out)[n - 1] == '\n')
		(*out)[n - 1] = '\0';
	return LINE_OK;
}

/* Push the next line (without its newline). LINE_OK, LINE_EOF or LINE_SIGNAL. */
static int push_line(lua_State *L, bool first)
{
	char *line;
	int r;

	fflush(stdout);
	arm_signals(); /* laction fell back to SIG_DFL if a signal came since the last call */
	if (use_readline)
		r = read_line_tty(first ? PROMPT : PROMPT2, &line);
	else
		r = read_line_plain(&line);
	if (r != LINE_OK)
		return r;
	lua_pushstring(L, line);
	free(line);
	return LINE_OK;
}

static void save_line(const char *line)
{
	HIST_ENTRY *last;

	if (!use_readline || line[0] == '\0')
		return;
	last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
	if (!last || strcmp(last->line, line) != 0)
		add_history(line);
}

/* Try the line as "return <line>" so expressions print their values. */
static int add_return(lua_State *L)
{
	const char *line = lua_tostring(L, -1);
	const char *retline = lua_pushfstring(L, "return %s;", line);
	int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");

	if (status == LUA_OK) {
		lua_remove(L, -2); /* the "return" text */
		save_line(line);
	} else {
		lua_pop(L, 2); /* result from luaL_loadbuffer and the "return" text */
	}
	return status;
}

static bool incomplete(lua_State *L, int status)
{
	size_t len, marklen = sizeof(EOFMARK) - 1;
	const char *msg;

	if (status != LUA_ERRSYNTAX)
		return false;
	msg = lua_tolstring(L, -1, &len);
	return len >= marklen && strcmp(msg + len - marklen, EOFMARK) == 0;
}

/* Read continuation lines while the statement is incomplete. LINE_SIGNAL cancels it. */
static int multiline(lua_State *L, int *status)
{
	for (;;) {
		size_t len;
		const char *line = lua_tolstring(L, 1, &len);
		int r;

		*status = luaL_loadbuffer(L, line, len, "=stdin");
		if (!incomplete(L, *status)) {
			save_line(line);
			return LINE_OK;
		}
		r = push_line(L, false);
		if (r == LINE_SIGNAL) {
			save_line(line);
			return r;
		}
		if (r == LINE_EOF) {
			save_line(line);
			return LINE_OK; /* report the "<eof>" syntax error still on the stack */
		}
		lua_remove(L, -2); /* the syntax error */
		lua_pushliteral(L, "\n");
		lua_insert(L, -2);
		lua_concat(L, 3);
	}
}

/* Leave one compiled chunk (or an error) on the stack and its status in *status. */
static int load_line(lua_State *L, int *status)
{
	int r;

	lua_settop(L, 0);
	r = push_line(L, true);
	if (r != LINE_OK)
		return r;
	*status = add_return(L);
	if (*status != LUA_OK) {
		r = multiline(L, status);
		if (r != LINE_OK) {
			lua_settop(L, 0);
			return r;
		}
	}
	lua_remove(L, 1); /* the line */
	return LINE_OK;
}

static int load_inspect(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, "sockhost.inspect");
	lua_call(L, 1, 1);
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "module 'sockhost.inspect' did not return a function");
	lua_setfield(L, LUA_REGISTRYINDEX, INSPECT_KEY);
	return 0;
}

/* The values on the stack, each through sockhost.inspect, tab-separated on one line. */
static int print_values(lua_State *L)
{
	int i, n = lua_gettop(L);
	bool inspect = lua_getfield(L, LUA_REGISTRYINDEX, INSPECT_KEY) == LUA_TFUNCTION;

	luaL_checkstack(L, 4, "too many results to print");
	for (i = 1; i <= n; i++) {
		size_t len;
		const char *s;

		if (inspect) {
			lua_pushvalue(L, n + 1);
			lua_pushvalue(L, i);
			lua_call(L, 1, 1);
		} else {
			lua_pushvalue(L, i);
		}
		s = luaL_tolstring(L, -1, &len);
		if (i > 1)
			fputc('\t', stdout);
		fwrite(s, 1, len, stdout);
		lua_pop(L, 2); /* the value or its inspection, and its string */
	}
	fputc('\n', stdout);
	fflush(stdout);
	return 0;
}

static const char *history_path(char *buf, size_t len)
{
	const char *home = getenv("HOME");

	if (!home || !home[0]) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || snprintf(buf, len, "%s/" HISTORY_FILE, home) >= (int)len)
		return NULL;
	return buf;
}

/* Returns 0 at end of input, or the signal that ended the REPL. */
static int do_repl(lua_State *L)
{
	char histbuf[4096];
	const char *hist = NULL;
	int status, r, sig = 0;

	use_readline = isatty(STDIN_FILENO);
	if (!use_readline)
		setvbuf(stdin, NULL, _IONBF, 0); /* see wait_stdin */
	if (use_readline) {
		rl_readline_name = PROGNAME;
		rl_getc_function = repl_getc;
		stifle_history(HISTORY_MAX);
		hist = history_path(histbuf, sizeof(histbuf));
		if (hist)
			read_history(hist);
	}
	lua_pushcfunction(L, load_inspect);
	status = docall(L, 0, 0);
	if (status != LUA_OK && raised_signal) {
		/* the signal came before the first prompt: treat it as one at the prompt */
		lua_pop(L, 1);
		sig = raised_signal;
		raised_signal = 0;
		if (sig != SIGINT || !use_readline)
			return sig;
		sig = 0;
	} else if (status != LUA_OK) {
		fprintf(stderr, PROGNAME ": values print with tostring: %s\n", lua_tostring(L, -1));
		lua_pop(L, 1);
	}

	for (;;) {
		r = load_line(L, &status);
		if (r == LINE_EOF)
			break;
		if (r == LINE_SIGNAL) {
			sig = caught_signal;
			clear_signal(L);
			if (sig != SIGINT || !use_readline)
				break;
			sig = 0; /* ^C cancels the line being typed */
			continue;
		}
		if (status == LUA_OK)
			status = docall(L, 0, LUA_MULTRET);
		if (status == LUA_OK && lua_gettop(L) > 0) {
			lua_pushcfunction(L, print_values);
			lua_insert(L, 1);
			status = docall(L, lua_gettop(L) - 1, 0);
		}
		report(L, status);
		if (raised_signal) {
			sig = raised_signal;
			raised_signal = 0;
			if (sig != SIGINT)
				break; /* SIGTERM ends sockhost; ^C only the statement */
			sig = 0;
		}
	}
	lua_settop(L, 0);
	if (use_readline) {
		if (hist)
			write_history(hist); /* a read-only home is not worth a message */
		if (!sig)
			fputc('\n', stdout);
	}
	fflush(stdout);
	return sig;
}

/* ---- command line -------------------------------------------------------------------------- */

enum { ARG_BAD = -1 };
struct opts {
	int script; /* index of the script in argv, argc when none */
	bool has_e, has_i, help, version, features;
};

/* lua.c's collectargs: options up to the first non-option (the script). */
static int collect_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->script = argc;
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
			else
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
	if (run->o.features) {
		if (dostring(L, "require('sockhost').print_features()", "=--features") != LUA_OK)
			run->status = failure_status();
		return 0;
	}
	create_arg_table(L, argv, run->argc, run->o.script);
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
	sockhost_free(sh);
	if (run.status == EXIT_SUCCESS && caught_signal)
		run.status = 128 + caught_signal;
	fflush(stdout);
	return run.status;
}
