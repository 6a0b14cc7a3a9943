// SPDX-License-Identifier: GPL-2.0
/*
 * halfclose: the request / half-close / reply exchange, as a client like `nc -N`, an HTTP/1.0
 * client or a `curl --data` upload followed by reading the answer does it. Loads nothing: the
 * spec puts it in a cgroup where the redirect (scripts/redirect.lua, bpf/redirect.bpf.c) runs,
 * or not, and compares. Built by CMake into build/spec/halfclose.
 *
 *   halfclose [--cgroup DIR] [--host H] [--request N] [--reply N] [--rounds R] [--early]
 *             [--timeout S]
 *
 * Each round is one connection to a listener of this process (a server thread; --cgroup
 * moves the process into a cgroup v2 directory before any socket exists, so both ends are in
 * it). The client, on a plain blocking socket (no SO_RCVTIMEO, no O_NONBLOCK), sends N request
 * bytes, calls shutdown(SHUT_WR), then calls recv() until it returns 0 (EOF). The server reads
 * the request up to EOF, then sends the reply and closes; with --early it sends the reply
 * first and reads the request after (so the reply can be in flight when the client
 * half-closes). Bytes are a pure function of (direction, offset) and both sides check every
 * byte they get, and the exact counts. A recv() that fails is not retried: that is the fault
 * this program exists to show. --timeout S (default 10) interrupts a client recv() that
 * blocks longer (SIGALRM, reported as EINTR) so that a hang ends with a report too.
 *
 * One JSON line on stdout:
 *   {"rounds":R, "ok":rounds that passed, "request_bytes":N, "reply_bytes":N,
 *    "recv":{"ret":r, "errno":"EAGAIN", "ms":t}, "error":"...", "server_error":"..."}
 * request_bytes and reply_bytes are the bytes the server and the client received and checked,
 * summed over the rounds; the first failure on either side ends the run. recv is the first
 * failed client recv() (return value, errno name, milliseconds from the client's
 * shutdown(SHUT_WR) until it returned), or when no recv() failed the first recv() of round 1;
 * error names the client's first failure, server_error the server's. Exit status 0 when
 * every round passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "tcpsock.h"

#define BUF (64 * 1024)

struct opts {
	const char *host;
	uint64_t request, reply;
	int rounds;
	bool early;
	int delay_ms, pause_us, timeout;
};

struct server {
	const struct opts *o;
	int lfd;
	uint64_t received;
	volatile bool failed;
	char err[200];
};

/* Byte off of the stream seed: the client's request is seed 1, the server's reply seed 2. */
static uint8_t pattern(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed << 56;

	return (uint8_t)(x >> 29 ^ x >> 47);
}

static int send_stream(int fd, uint64_t seed, uint64_t len, char *err, size_t errlen)
{
	uint8_t buf[BUF];
	uint64_t off = 0;

	while (off < len) {
		size_t n = len - off < BUF ? len - off : BUF;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(seed, off + i);
		r = send(fd, buf, n, MSG_NOSIGNAL);
		if (r < 0) {
			snprintf(err, errlen, "send: %s after %" PRIu64 " bytes", strerror(errno),
				 off);
			return -1;
		}
		off += r;
	}
	return 0;
}

/*
 * recv() until EOF, checking every byte against stream seed; *got counts them. The first
 * call's return value goes to *first (and the time it returned to *first_at), errno of a
 * failed call to *fail_errno. A failed call ends the stream: -1, with the error in err.
 */
static int recv_stream(int fd, uint64_t seed, uint64_t want, uint64_t *got, ssize_t *first,
		       double *first_at, int *fail_errno, char *err, size_t errlen)
{
	uint8_t buf[BUF];

	*got = 0;
	for (bool once = true;; once = false) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (once) {
			*first = r;
			*first_at = now();
		}
		if (r < 0) {
			*fail_errno = errno;
			*first = r;
			*first_at = now();
			snprintf(err, errlen, "recv: %s after %" PRIu64 " of %" PRIu64 " bytes",
				 strerror(errno), *got, want);
			return -1;
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != pattern(seed, *got + i)) {
				snprintf(err, errlen, "data differs at offset %" PRIu64, *got + i);
				return -1;
			}
		}
		*got += r;
	}
	if (*got != want) {
		snprintf(err, errlen, "EOF after %" PRIu64 " of %" PRIu64 " bytes", *got, want);
		return -1;
	}
	return 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	const struct opts *o = s->o;
	struct timeval tv = { .tv_sec = o->timeout + 5 };

	for (int i = 0; i < o->rounds && !s->err[0]; i++) {
		int fd = accept(s->lfd, NULL, NULL);
		uint64_t got = 0;
		ssize_t first;
		double at;
		int e;

		if (fd < 0) {
			/* EINVAL: the client gave up and shut the listener down */
			if (errno != EINVAL)
				snprintf(s->err, sizeof(s->err), "accept: %s", strerror(errno));
			break;
		}
		/* the server's own reads are not under test: a timeout only ends a hang */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (o->early && send_stream(fd, 2, o->reply, s->err, sizeof(s->err)) == 0)
			recv_stream(fd, 1, o->request, &got, &first, &at, &e, s->err,
				    sizeof(s->err));
		if (!o->early && !recv_stream(fd, 1, o->request, &got, &first, &at, &e, s->err,
					      sizeof(s->err))) {
			usleep(o->delay_ms * 1000);
			send_stream(fd, 2, o->reply, s->err, sizeof(s->err));
		}
		s->received += got;
		close(fd);
	}
	s->failed = s->err[0];
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0:
		return "";
	case EAGAIN:
		return "EAGAIN";
	case EINTR:
		return "EINTR";
	case ECONNRESET:
		return "ECONNRESET";
	case ENOTCONN:
		return "ENOTCONN";
	case EPIPE:
		return "EPIPE";
	default:
		return strerror(e);
	}
}

static int run(const struct opts *o)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: recv gets EINTR */
	struct server s = { .o = o };
	uint64_t reply_bytes = 0;
	ssize_t first_ret = 0;
	int port, ok = 0, first_errno = 0;
	double first_ms = 0;
	char err[256] = "";
	sigset_t alrm;
	pthread_t t;

	s.lfd = listen_on(o->host, &port);
	if (s.lfd < 0)
		return 1;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	/* only the client (this thread) takes SIGALRM */
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	if (pthread_create(&t, NULL, serve, &s)) {
		fprintf(stderr, "halfclose: cannot start the server thread\n");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	sigaction(SIGALRM, &sa, NULL);

	for (int i = 0; i < o->rounds; i++) {
		char rerr[200] = "";
		uint64_t got = 0;
		ssize_t ret = 0;
		int fail_errno = 0, fd = connect_to(o->host, port);
		double t0 = 0, at = 0;

		if (fd < 0) {
			snprintf(err, sizeof(err), "connect: %s", strerror(errno));
			break;
		}
		if (send_stream(fd, 1, o->request, rerr, sizeof(rerr)) == 0) {
			if (o->pause_us)
				usleep(o->pause_us);
			shutdown(fd, SHUT_WR);
			t0 = now();
			alarm(o->timeout);
			recv_stream(fd, 2, o->reply, &got, &ret, &at, &fail_errno, rerr,
				    sizeof(rerr));
			alarm(0);
		}
		close(fd);
		reply_bytes += got;
		/* what to show: round 1's first recv, replaced by the first failed one */
		if (i == 0 || (fail_errno && !first_errno)) {
			first_ret = ret;
			first_errno = fail_errno;
			first_ms = at > t0 ? (at - t0) * 1000 : 0;
		}
		if (rerr[0]) {
			/* the first failure ends the run: the server may be gone */
			snprintf(err, sizeof(err), "round %d: %s", i + 1, rerr);
			break;
		}
		ok++;
		if (s.failed)
			break;
	}
	/* a client that gave up leaves the server waiting for connections: wake it */
	shutdown(s.lfd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(s.lfd);
	printf("{\"rounds\":%d,\"ok\":%d,\"request_bytes\":%" PRIu64 ",\"reply_bytes\":%" PRIu64
	       ",\"recv\":{\"ret\":%zd,\"errno\":\"%s\",\"ms\":%.3f}",
	       o->rounds, ok, s.received, reply_bytes, first_ret, errno_name(first_errno),
	       first_ms);
	if (err[0])
		printf(",\"error\":\"%s\"", err);
	if (s.err[0])
		printf(",\"server_error\":\"%s\"", s.err);
	printf("}\n");
	return ok == o->rounds && !err[0] && !s.err[0] ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: halfclose [--cgroup DIR] [--host H] [--request N] [--reply N] "
			"[--rounds R] [--delay MS] [--early] [--pause US] [--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1", .request = 100, .reply = 1000, .rounds = 1, .timeout = 10
	};
	const char *cgroup = NULL;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--early")) {
			o.early = true;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--cgroup"))
			cgroup = v;
		else if (!strcmp(a, "--host"))
			o.host = v;
		else if (!strcmp(a, "--request"))
			o.request = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--reply"))
			o.reply = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--rounds"))
			o.rounds = atoi(v);
		else if (!strcmp(a, "--pause"))
			o.pause_us = atoi(v);
		else if (!strcmp(a, "--delay"))
			o.delay_ms = atoi(v);
		else if (!strcmp(a, "--timeout"))
			o.timeout = atoi(v);
		else
			usage();
		i++;
	}
	if (o.rounds < 1 || o.timeout < 1 || o.delay_ms < 0 || o.pause_us < 0)
		usage();
	if (cgroup && join_cgroup(cgroup))
		return 1;
	return run(&o);
}
