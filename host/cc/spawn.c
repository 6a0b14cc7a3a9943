// SPDX-License-Identifier: GPL-2.0
/*
 * cc/spawn.c: PATH lookup and posix_spawn with the output collected through a pipe
 * (cc/spawn.h). No shell sees a path, so file names need no quoting. The child gets
 * sockhost's environment; every fd sockhost holds is close-on-exec, so it inherits none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "cc/spawn.h"

extern char **environ;

static int try_dir(const char *dir, size_t dlen, const char *name, char *out, size_t len)
{
	char cand[PATH_MAX];
	int n = snprintf(cand, sizeof(cand), "%.*s/%s", (int)dlen, dlen ? dir : ".", name);

	if (n < 0 || (size_t)n >= sizeof(cand) || access(cand, X_OK))
		return -ENOENT;
	if (!realpath(cand, out) || strlen(out) >= len)
		return -ENOENT;
	return 0;
}

int sh_find_tool(const char *name, const char *const *extra, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p, *colon;
	char real[PATH_MAX];

	for (p = path; p && *p; p = colon + 1) {
		colon = strchrnul(p, ':');
		if (!try_dir(p, colon - p, name, real, sizeof(real)))
			goto found;
		if (!*colon)
			break;
	}
	for (; extra && *extra; extra++)
		if (!try_dir(*extra, strlen(*extra), name, real, sizeof(real)))
			goto found;
	return -ENOENT;
found:
	if (strlen(real) >= len)
		return -ENAMETOOLONG;
	strcpy(out, real);
	return 0;
}

int sh_spawn(char *const argv[], const char *out_path, char **text, int *status)
{
	posix_spawn_file_actions_t fa;
	size_t used = 0, cap = 4096;
	int pipefd[2], err, ws;
	char *buf;
	pid_t pid;
	ssize_t n;

	*text = NULL;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC)) {
		err = -errno;
		goto err_free;
	}
	err = -posix_spawn_file_actions_init(&fa);
	if (err)
		goto err_pipe;
	if (out_path)
		err = -posix_spawn_file_actions_addopen(&fa, 1, out_path,
							O_WRONLY | O_CREAT | O_TRUNC, 0644);
	else
		err = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (!err)
		err = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (!err)
		err = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		goto err_pipe;
	close(pipefd[1]);
	pipefd[1] = -1;
	for (;;) {
		if (used + 1 >= cap) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown) {
				err = -ENOMEM;
				break;
			}
			buf = grown;
		}
		n = read(pipefd[0], buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += n;
	}
	buf[used] = '\0';
	close(pipefd[0]); /* a child still writing gets EPIPE, never blocks the wait */
	pipefd[0] = -1;
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR) {
			err = -errno;
			goto err_pipe;
		}
	}
	if (err)
		goto err_pipe;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	*text = buf;
	return 0;
err_pipe:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
err_free:
	free(buf);
	return err;
}
