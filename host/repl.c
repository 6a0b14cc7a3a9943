// SPDX-License-Identifier: GPL-2.0
/*
 * repl.c: the interactive prompt (lua.c's doREPL): readline with history when stdin is a
 * terminal, plain reads otherwise; incomplete statements continue on the next line, "=expr"
 * and bare expressions print their values (through sockhost.inspect when it loads). Signals
 * are main.c's: SIGINT at the prompt cancels the line being typed.
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
#include "cli.h"

#define PROMPT	     "sockhost> "
#define PROMPT2	     ">> "
#define HISTORY_FILE ".sockhost_history"
#define HISTORY_MAX  1000
#define INSPECT_KEY  "sockhost.repl.inspect" /* registry: the inspect function, or absent */
#define EOFMARK	     "<eof>"

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

/* ---- completion ---------------------------------------------------------------------------- */

/*
 * Tab completes Lua names: the word before the cursor (a dotted path, maybe ending in
 * ":method") goes to sockhost.complete.candidates (lua/sockhost/complete.lua), which walks
 * globals, table fields, __index tables and the methods of handles. The candidates of the
 * last word asked for are kept here for readline's generator, which hands out one at a time.
 */
static lua_State *complete_L;
static char **cands;
static size_t ncands, next_cand;

static void free_cands(void)
{
	for (size_t i = 0; i < ncands; i++)
		free(cands[i]);
	free(cands);
	cands = NULL;
	ncands = next_cand = 0;
}

/* Fill cands for word: 0, or -1 with the error message on the stack. */
static int fill_cands(lua_State *L, const char *word)
{
	static const char chunk[] = "return require('sockhost.complete').candidates(...)";
	size_t n;

	free_cands();
	if (luaL_loadbuffer(L, chunk, sizeof(chunk) - 1, "=complete") != LUA_OK)
		return -1;
	lua_pushstring(L, word);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK)
		return -1;
	n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	cands = n ? calloc(n, sizeof(*cands)) : NULL;
	for (size_t i = 0; cands && i < n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			cands[ncands] = strdup(lua_tostring(L, -1));
			if (cands[ncands])
				ncands++;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 0;
}

static char *complete_next(const char *text, int state)
{
	if (state == 0) {
		int top = lua_gettop(complete_L);

		fill_cands(complete_L, text); /* an error completes to nothing */
		lua_settop(complete_L, top);
	}
	return next_cand < ncands ? strdup(cands[next_cand++]) : NULL;
}

static char **complete_word(const char *text, int start, int end)
{
	(void)start;
	(void)end;
	rl_attempted_completion_over = 1; /* Lua names, never file names */
	rl_completion_append_character = '\0';
	return rl_completion_matches(text, complete_next);
}

int print_completions(lua_State *L, const char *word)
{
	if (fill_cands(L, word) < 0)
		return -1;
	for (size_t i = 0; i < ncands; i++)
		printf("%s\n", cands[i]);
	free_cands();
	return 0;
}

/* Returns 0 at end of input, or the signal that ended the REPL. */
int do_repl(lua_State *L)
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
		/* '.' and ':' are inside a word: "sockhost.ope" completes as one */
		rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]";
		rl_attempted_completion_function = complete_word;
		complete_L = L;
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
	free_cands();
	if (use_readline) {
		if (hist)
			write_history(hist); /* a read-only home is not worth a message */
		if (!sig)
			fputc('\n', stdout);
	}
	fflush(stdout);
	return sig;
}
