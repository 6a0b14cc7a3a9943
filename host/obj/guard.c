// SPDX-License-Identifier: GPL-2.0
/*
 * obj/guard.c: the trial open of an object that is not a built-in (obj/guard.h). The child is
 * forked with no Lua in it: it only runs libbpf's parser on the file and _exit()s, with
 * stderr on /dev/null and core dumps off, so a crash there costs one process and prints
 * nothing. Built-in objects (built with this sockhost, found by name) skip it.
 *
 * Cost: one fork and one extra parse per open of a user's object (README "Benchmarks" gives
 * the figure); the parent then parses the same bytes itself, which is deterministic, so what
 * the child survived the parent survives. A file libbpf refuses is not parsed again: the
 * child sends libbpf's errno and last word back through a pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "base/libbpf_log.h"
#include "obj/guard.h"

#define CHILD_OPENED  0
#define CHILD_REFUSED 3

/* What a refusing child tells the parent: libbpf's errno and its last word. */
struct refusal {
	int err;
	char last[512];
};

static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

static void child(const char *path, int out)
{
	struct rlimit no_core = { 0, 0 };
	struct refusal r = { 0 };
	struct bpf_object *obj;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (null >= 0)
		dup2(null, STDERR_FILENO);
	/* the default actions, not a sanitizer's report-and-exit: the parent then says what
	 * killed the parse the same way in every build */
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0);
	sh_libbpf_log_reset();
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		r.err = errno;
		snprintf(r.last, sizeof(r.last), "%s", sh_libbpf_last_log());
		if (write(out, &r, sizeof(r)) != sizeof(r))
			_exit(CHILD_OPENED); /* the parent will see for itself */
		_exit(CHILD_REFUSED);
	}
	bpf_object__close(obj);
	_exit(CHILD_OPENED);
}

int sh_object_trial_open(const char *path, int *err, char *why, size_t len)
{
	struct refusal r;
	int status, p[2];
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 0; /* no pipe to spare: parse in-process, as without the guard */
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return 0;
	}
	if (pid == 0) {
		close(p[0]);
		child(path, p[1]);
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			close(p[0]);
			return 0; /* SIGCHLD ignored by the host program: the child was reaped */
		}
	}
	n = read(p[0], &r, sizeof(r));
	close(p[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OPENED)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_REFUSED && n == sizeof(r)) {
		/* libbpf refused it: its answer, without parsing it again here (libbpf 1.1.2
		 * leaks an fd on some refusals) */
		*err = r.err;
		r.last[sizeof(r.last) - 1] = '\0';
		snprintf(why, len, "%s", r.last);
		return 1;
	}
	if (WIFSIGNALED(status))
		snprintf(why, len, "libbpf crashed parsing it (%s)", strsignal(WTERMSIG(status)));
	else /* a sanitizer build reports the crash and exits */
		snprintf(why, len, "libbpf crashed parsing it (exit status %d)",
			 WEXITSTATUS(status));
	return -1;
}
