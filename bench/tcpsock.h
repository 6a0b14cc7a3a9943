/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcpsock.h: the few socket and process helpers of the TCP traffic tools: bench/connrate.c
 * and the specs' spec/bin/tcpcheck.c (which builds with bench/ on its include path; the
 * bench never includes anything from spec/). Header-only (static functions): each tool is
 * its own executable.
 */
#ifndef TCPSOCK_H
#define TCPSOCK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int family_of(const char *host)
{
	return strchr(host, ':') ? AF_INET6 : AF_INET;
}

static inline socklen_t make_addr(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family_of(host) == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return 0;
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return 0;
	return sizeof(*a);
}

static inline int listen_on(const char *host, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, 0, &ss);
	int fd, one = 1;

	if (!len) {
		fprintf(stderr, "bad address '%s'\n", host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024)) {
		fprintf(stderr, "listen on %s: %s\n", host, strerror(errno));
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						 ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static inline int connect_to(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int fd;

	if (!len)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Move this process into the cgroup v2 directory dir (sockets belong to the cgroup of the
 * task that creates them, so do this first). */
static inline int join_cgroup(const char *dir)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		fprintf(stderr, "cannot join cgroup %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

#endif /* TCPSOCK_H */
