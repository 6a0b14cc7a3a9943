// SPDX-License-Identifier: GPL-2.0
/*
 * connrate: TCP connections per second over loopback, the cost sock_ops adds to every
 * connection. One thread accepts and closes, the main thread connects and closes, for
 * --duration seconds; prints {"connections":N,"failed":N,"seconds":S,"rate":R}. Built by
 * CMake into build/bench/connrate; used by bench/redirect.lua.
 *
 *   connrate [--cgroup DIR] [--host 127.0.0.1|::1] [--duration S]
 *
 * The client closes first, so its side goes to TIME_WAIT; Linux reuses those ports for
 * loopback connections (net.ipv4.tcp_tw_reuse = 2, the default), so the loop does not run
 * out of them.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "tcpsock.h"

static volatile bool stop_accepting;

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg;

	while (!stop_accepting) {
		int fd = accept(lfd, NULL, NULL);

		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *cgroup = NULL;
	double duration = 1, start, elapsed;
	uint64_t n = 0, failed = 0;
	int port, lfd, fd;
	pthread_t t;

	bool bad = argc % 2 == 0;

	for (int i = 1; i + 1 < argc && !bad; i += 2) {
		if (!strcmp(argv[i], "--cgroup"))
			cgroup = argv[i + 1];
		else if (!strcmp(argv[i], "--host"))
			host = argv[i + 1];
		else if (!strcmp(argv[i], "--duration"))
			duration = atof(argv[i + 1]);
		else
			bad = true;
	}
	if (bad || duration <= 0) {
		fprintf(stderr, "usage: connrate [--cgroup DIR] [--host H] [--duration S]\n");
		return 2;
	}
	if (cgroup && join_cgroup(cgroup))
		return 1;
	lfd = listen_on(host, &port);
	if (lfd < 0)
		return 1;
	if (pthread_create(&t, NULL, acceptor, &lfd)) {
		fprintf(stderr, "connrate: cannot start the accept thread\n");
		return 1;
	}
	start = now();
	while ((elapsed = now() - start) < duration) {
		fd = connect_to(host, port);
		if (fd < 0) {
			failed++;
			continue;
		}
		close(fd);
		n++;
	}
	stop_accepting = true;
	/* wake the acceptor with one last connection */
	fd = connect_to(host, port);
	if (fd >= 0)
		close(fd);
	pthread_join(t, NULL);
	close(lfd);
	printf("{\"connections\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"seconds\":%.3f,"
	       "\"rate\":%.1f}\n",
	       n, failed, elapsed, n / elapsed);
	return failed ? 1 : 0;
}
