// SPDX-License-Identifier: GPL-2.0
/*
 * obj/guard.c: the trial open of an object that is not a built-in (obj/guard.h). The child is
 * forked with no Lua in it: it only runs libbpf's parser on the file and _exit()s, with
 * stderr on /dev/null and core dumps off, so a crash there costs one process and prints
 * nothing. Built-in objects (built with this sockhost, found by name) skip it.
 *
 * Cost: one fork and one extra parse per open of a user's object (README "Benchmarks" gives
 * the figure); the parent then parses the same bytes itself, which is deterministic, so what
 * the child survived the parent survives.
 */
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
#include "obj/guard.h"

#define CHILD_OPENED  0
#define CHILD_REFUSED 3

static void child(const char *path)
{
	struct rlimit no_core = { 0, 0 };
	struct bpf_object *obj;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (null >= 0)
		dup2(null, STDERR_FILENO);
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0);
	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		_exit(CHILD_REFUSED);
	bpf_object__close(obj);
	_exit(CHILD_OPENED);
}

int sh_object_trial_open(const char *path, char *why, size_t len)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return 0; /* no child to spare: parse in-process, as without the guard */
	if (pid == 0)
		child(path);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 0; /* SIGCHLD ignored by the host program: the child was reaped */
	}
	if (WIFEXITED(status) &&
	    (WEXITSTATUS(status) == CHILD_OPENED || WEXITSTATUS(status) == CHILD_REFUSED))
		return 0;
	if (WIFSIGNALED(status))
		snprintf(why, len, "libbpf crashed parsing it (%s)", strsignal(WTERMSIG(status)));
	else /* a sanitizer build reports the crash and exits */
		snprintf(why, len, "libbpf crashed parsing it (exit status %d)",
			 WEXITSTATUS(status));
	return -1;
}
