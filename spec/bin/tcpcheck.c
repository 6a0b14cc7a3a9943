// SPDX-License-Identifier: GPL-2.0
/*
 * tcpcheck: TCP traffic with a known content, for checking that a socket redirect (or
 * anything else between two sockets) neither corrupts, loses nor reorders data. Built by
 * CMake into build/spec/tcpcheck; used by the redirect tool specs (spec/tools/redirect_spec.lua).
 *
 *   tcpcheck [--cgroup DIR] pair     [exchange options]   listener + forked client
 *   tcpcheck [--cgroup DIR] server   --port-file F [...]  one connection, as the server
 *   tcpcheck [--cgroup DIR] client   --port P [...]       one connection, as the client
 *
 * --cgroup moves this process into a cgroup v2 directory before any socket exists (sockets
 * belong to the cgroup of the task that creates them). Each side sends its stream from a
 * thread while the main thread receives and verifies the other stream, so both directions
 * run at once. Stream bytes are a pure function of (direction, offset): the client sends seed
 * 1, the server seed 2, so a byte out of place or crossed between directions is found at its
 * exact offset. Each side prints one JSON line on stdout:
 *   {"role":..., "sent":N, "received":N, "sends":calls, "partial":short_writes,
 *    "sent_hash":"hex", "recv_hash":"hex", "ok":bool, "error":"..."}
 * The hashes (64-bit FNV-1a over 8-byte words, order dependent) are computed from the bytes
 * actually written and read, independent of the pattern check. Exit status 0 when ok.
 *
 * Each side reads the other's whole stream, waits for its own sender, calls shutdown(SHUT_WR)
 * and then reads once more, which must be EOF. Blocking sockets are not retried on EAGAIN: a
 * blocking recv() or send() that fails with EAGAIN before the deadline is reported as an
 * error ("EAGAIN on a blocking socket"), since an application would see exactly that (under
 * the sk_msg redirect, tcp_bpf_recvmsg() returns EAGAIN on a wake-up without data; see
 * bpf/redirect.bpf.c). Only --nonblock sockets wait in poll() and try again.
 *
 * Exchange options:
 *   --host H         127.0.0.1 (default) or ::1, or any local address
 *   --bytes N        client -> server bytes (default 0)
 *   --reply N        server -> client bytes (default 0)
 *   --msg S          bytes per send() call (default 65536)
 *   --more           MSG_MORE on every send but each 4th and the last
 *   --sndbuf B       SO_SNDBUF, --rcvbuf B SO_RCVBUF (messages larger than the buffers)
 *   --nonblock       non-blocking sockets driven by poll(): short writes happen
 *   --read-delay MS  the receiver starts reading this late
 *   --shut           the client closes its socket right after its last send, reading
 *                    nothing (close while in flight; use with --reply 0)
 *   --shut-while-reading  the sender thread calls shutdown(SHUT_WR) after its last send while
 *                    the main thread may still be blocked in recv() (the default is to read
 *                    the whole expected stream first, then shutdown(SHUT_WR), then read EOF)
 *   --abort-after K  the server closes after reading K bytes while the client still sends;
 *                    the client's send error is then expected and not a failure
 *   --timeout S      give up after S seconds (default 60)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tcpsock.h"

#define CHUNK (256 * 1024)

struct opts {
	const char *host;
	const char *port_file;
	int port;
	uint64_t bytes, reply;
	size_t msg;
	bool more, nonblock, shut, shut_while_reading;
	int sndbuf, rcvbuf;
	int read_delay_ms;
	int64_t abort_after;
	double timeout;
};

/* ---- the stream: content and hash ----------------------------------------------------- */

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Bytes [off, off + len) of stream seed into buf. */
static void fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
	uint64_t w = off / 8, base = seed << 56;
	size_t i = 0, skip = off % 8;

	while (i < len) {
		uint64_t v = splitmix(base ^ w++);
		uint8_t b[8];
		size_t n = 8 - skip;

		memcpy(b, &v, 8);
		if (n > len - i)
			n = len - i;
		memcpy(buf + i, b + skip, n);
		i += n;
		skip = 0;
	}
}

struct hash {
	uint64_t h, len;
	uint8_t carry[8];
	size_t ncarry;
};

static void hash_init(struct hash *s)
{
	memset(s, 0, sizeof(*s));
	s->h = 0xcbf29ce484222325ull;
}

static void mix(struct hash *s, uint64_t w)
{
	s->h = (s->h ^ w) * 0x100000001b3ull;
}

static void hash_add(struct hash *s, const uint8_t *p, size_t n)
{
	uint64_t w;

	s->len += n;
	while (s->ncarry && n) {
		s->carry[s->ncarry++] = *p++;
		n--;
		if (s->ncarry == 8) {
			memcpy(&w, s->carry, 8);
			mix(s, w);
			s->ncarry = 0;
		}
	}
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		mix(s, w);
	}
	memcpy(s->carry, p, n);
	s->ncarry = n;
}

static uint64_t hash_end(struct hash *s)
{
	uint64_t w = 0;

	memcpy(&w, s->carry, s->ncarry);
	mix(s, w);
	mix(s, s->len);
	return s->h;
}

/* ---- one side of a connection ------------------------------------------------------------ */

struct side {
	const struct opts *o;
	int fd;
	const char *role;
	uint64_t send_seed, recv_seed, to_send, to_recv;
	/* sender thread */
	uint64_t sent, sends, partial;
	struct hash sent_hash;
	char send_err[160];
	/* receiver */
	uint64_t received;
	struct hash recv_hash;
	char recv_err[160];
	double deadline;
	int lport, rport;
};

/* Wait for events on fd in non-blocking mode; false on timeout. */
static bool wait_fd(struct side *s, short events)
{
	struct pollfd p = { .fd = s->fd, .events = events };
	int ms = (int)((s->deadline - now()) * 1000);

	if (ms <= 0)
		return false;
	return poll(&p, 1, ms) > 0;
}

/* strerror(e), or for EAGAIN on a blocking socket before the deadline, what it is. */
static const char *eagain_text(struct side *s, int e)
{
	if (e != EAGAIN || s->o->nonblock)
		return strerror(e);
	if (now() >= s->deadline - 0.1)
		return "timed out (EAGAIN after SO_RCVTIMEO/SO_SNDTIMEO)";
	return "EAGAIN on a blocking socket";
}

static void *sender(void *arg)
{
	struct side *s = arg;
	size_t cap = s->o->msg > CHUNK ? s->o->msg : CHUNK;
	uint8_t *buf = malloc(cap);
	uint64_t calls = 0;

	hash_init(&s->sent_hash);
	if (!buf) {
		snprintf(s->send_err, sizeof(s->send_err), "out of memory");
		return NULL;
	}
	while (s->sent < s->to_send) {
		size_t n = s->o->msg;
		int flags = MSG_NOSIGNAL;
		ssize_t r;

		if (now() > s->deadline) {
			snprintf(s->send_err, sizeof(s->send_err),
				 "send timed out after %" PRIu64 " bytes", s->sent);
			break;
		}
		if (n > s->to_send - s->sent)
			n = s->to_send - s->sent;
		fill(buf, s->send_seed, s->sent, n);
		if (s->o->more && s->sent + n < s->to_send && calls % 4 != 3)
			flags |= MSG_MORE;
		r = send(s->fd, buf, n, flags);
		calls++;
		if (r < 0 && (errno == EINTR || (errno == EAGAIN && s->o->nonblock))) {
			/*
			 * Data corked by MSG_MORE waits for a send without it, and a non-blocking
			 * send that fails pushes nothing: with a small buffer that is a dead-lock
			 * of the application's making. Setting TCP_NODELAY pushes what is queued.
			 */
			if (s->o->more) {
				int one = 1;

				setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			}
			if (!wait_fd(s, POLLOUT)) {
				snprintf(s->send_err, sizeof(s->send_err),
					 "send timed out after %" PRIu64 " bytes", s->sent);
				break;
			}
			continue;
		}
		if (r < 0) {
			snprintf(s->send_err, sizeof(s->send_err),
				 "send: %s after %" PRIu64 " bytes", eagain_text(s, errno),
				 s->sent);
			break;
		}
		s->sends++;
		if ((size_t)r < n)
			s->partial++;
		hash_add(&s->sent_hash, buf, r);
		s->sent += r;
		/* a short write leaves the rest for the next call, from the same offset */
	}
	/* the peer reads until EOF: by default run_side() shuts down after reading */
	if (s->o->shut_while_reading)
		shutdown(s->fd, SHUT_WR);
	free(buf);
	return NULL;
}

/* Read the peer's stream; until_eof: then one more read, which must be EOF. */
static void receive(struct side *s, bool until_eof)
{
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);
	uint64_t limit = s->to_recv;
	bool abort_early = s->o->abort_after >= 0 && !strcmp(s->role, "server");

	if (!buf || !want) {
		snprintf(s->recv_err, sizeof(s->recv_err), "out of memory");
		goto out;
	}
	if (abort_early && (uint64_t)s->o->abort_after < limit)
		limit = s->o->abort_after;
	if (s->o->read_delay_ms && !until_eof)
		usleep(s->o->read_delay_ms * 1000);
	for (;;) {
		size_t n = CHUNK;
		ssize_t r;

		/* read exactly up to the limit, then one more read must see EOF */
		if (s->received < limit && n > limit - s->received)
			n = limit - s->received;
		if (abort_early && s->received >= limit)
			break;
		if (!until_eof && s->received >= s->to_recv)
			break;
		if (now() > s->deadline) {
			snprintf(s->recv_err, sizeof(s->recv_err),
				 "receive timed out after %" PRIu64 " of %" PRIu64 " bytes",
				 s->received, s->to_recv);
			break;
		}
		r = recv(s->fd, buf, n, 0);
		if (r < 0 && (errno == EINTR || (errno == EAGAIN && s->o->nonblock))) {
			if (!wait_fd(s, POLLIN)) {
				snprintf(s->recv_err, sizeof(s->recv_err),
					 "receive timed out after %" PRIu64 " of %" PRIu64 " bytes",
					 s->received, s->to_recv);
				break;
			}
			continue;
		}
		if (r < 0 && s->o->abort_after >= 0 && (errno == ECONNRESET || errno == EPIPE))
			break; /* the client of an aborted exchange: the server's reset */
		if (r < 0) {
			snprintf(s->recv_err, sizeof(s->recv_err),
				 "recv: %s after %" PRIu64 " bytes", eagain_text(s, errno),
				 s->received);
			break;
		}
		if (r == 0) {
			if (s->received != s->to_recv)
				snprintf(s->recv_err, sizeof(s->recv_err),
					 "EOF after %" PRIu64 " of %" PRIu64 " bytes", s->received,
					 s->to_recv);
			break;
		}
		if (s->received + r > s->to_recv) {
			snprintf(s->recv_err, sizeof(s->recv_err),
				 "%" PRIu64 " bytes more than the %" PRIu64 " expected",
				 s->received + r - s->to_recv, s->to_recv);
			break;
		}
		fill(want, s->recv_seed, s->received, r);
		if (memcmp(buf, want, r)) {
			ssize_t i = 0;

			while (buf[i] == want[i])
				i++;
			snprintf(s->recv_err, sizeof(s->recv_err),
				 "data differs at offset %" PRIu64 ": got 0x%02x, want 0x%02x",
				 s->received + i, buf[i], want[i]);
			break;
		}
		hash_add(&s->recv_hash, buf, r);
		s->received += r;
	}
out:
	free(buf);
	free(want);
}

static void json_str(const char *k, const char *v)
{
	printf(",\"%s\":\"", k);
	for (; *v; v++)
		putchar(*v == '"' || *v == '\\' ? '\'' : *v);
	putchar('"');
}

static void port_of(int fd, bool peer, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	*port = 0;
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len))
		return;
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						 ((struct sockaddr_in *)&ss)->sin_port);
}

static int run_side(struct side *s)
{
	const struct opts *o = s->o;
	bool client = !strcmp(s->role, "client");
	struct timeval tv = { .tv_sec = (time_t)o->timeout,
			      .tv_usec = (o->timeout - (time_t)o->timeout) * 1e6 };
	pthread_t t;
	bool ok;
	int one = 1;

	port_of(s->fd, false, &s->lport);
	port_of(s->fd, true, &s->rport);
	s->deadline = now() + o->timeout;
	/* blocking calls give up too (EAGAIN), so a stuck exchange ends with its report */
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->sndbuf)
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf));
	if (o->rcvbuf)
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
	if (o->nonblock)
		fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
	if (pthread_create(&t, NULL, sender, s)) {
		fprintf(stderr, "tcpcheck: cannot start the sender thread\n");
		return 1;
	}
	if (o->shut && client) {
		/* the close races the data still on its way to (or queued at) the peer */
		pthread_join(t, NULL);
		close(s->fd);
	} else if (o->shut_while_reading || o->abort_after >= 0) {
		receive(s, true);
		if (o->abort_after >= 0 && !client)
			close(s->fd);
		pthread_join(t, NULL);
		if (o->abort_after < 0 || client)
			close(s->fd);
	} else {
		/* the whole stream, then our own half-close, then the peer's EOF */
		receive(s, false);
		pthread_join(t, NULL);
		if (!s->recv_err[0]) {
			shutdown(s->fd, SHUT_WR);
			receive(s, true);
		}
		close(s->fd);
	}
	ok = !s->recv_err[0] && !s->send_err[0];
	/* after an early abort by the server, the client's send is expected to fail */
	if (o->abort_after >= 0 && client)
		ok = !s->recv_err[0];
	printf("{\"role\":\"%s\",\"lport\":%d,\"rport\":%d,\"sent\":%" PRIu64
	       ",\"received\":%" PRIu64 ",\"sends\":%" PRIu64 ",\"partial\":%" PRIu64
	       ",\"sent_hash\":\"%016" PRIx64 "\",\"recv_hash\":\"%016" PRIx64 "\",\"ok\":%s",
	       s->role, s->lport, s->rport, s->sent, s->received, s->sends, s->partial,
	       hash_end(&s->sent_hash), hash_end(&s->recv_hash), ok ? "true" : "false");
	if (s->send_err[0])
		json_str("send_error", s->send_err);
	if (s->recv_err[0])
		json_str("recv_error", s->recv_err);
	printf("}\n");
	fflush(stdout);
	return ok ? 0 : 1;
}

static void init_side(struct side *s, const struct opts *o, int fd, bool client)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->fd = fd;
	s->role = client ? "client" : "server";
	s->send_seed = client ? 1 : 2;
	s->recv_seed = client ? 2 : 1;
	s->to_send = client ? o->bytes : o->reply;
	s->to_recv = client ? o->reply : o->bytes;
	hash_init(&s->recv_hash);
}

static int run_client(const struct opts *o, int port)
{
	struct side s;
	int fd = connect_to(o->host, port);

	if (fd < 0) {
		fprintf(stderr, "tcpcheck: connect to %s port %d: %s\n", o->host, port,
			strerror(errno));
		return 1;
	}
	init_side(&s, o, fd, true);
	return run_side(&s);
}

static int accept_one(const struct opts *o, int lfd)
{
	struct side s;
	int fd = accept(lfd, NULL, NULL);

	close(lfd);
	if (fd < 0) {
		fprintf(stderr, "tcpcheck: accept: %s\n", strerror(errno));
		return 1;
	}
	init_side(&s, o, fd, false);
	return run_side(&s);
}

static int cmd_pair(const struct opts *o)
{
	int port, lfd = listen_on(o->host, &port), status, rc;
	pid_t child;

	if (lfd < 0)
		return 1;
	fflush(stdout);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(lfd);
		_exit(run_client(o, port));
	}
	rc = accept_one(o, lfd);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		rc = 1;
	return rc;
}

static int cmd_server(const struct opts *o)
{
	int port, lfd = listen_on(o->host, &port);
	char tmp[512];
	FILE *f;

	if (lfd < 0)
		return 1;
	if (o->port_file) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", o->port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) || rename(tmp, o->port_file)) {
			fprintf(stderr, "tcpcheck: cannot write %s\n", o->port_file);
			return 1;
		}
	}
	return accept_one(o, lfd);
}

/* ---- command line ---------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: tcpcheck [--cgroup DIR] pair|server|client [options]\n"
			"       (see the comment at the top of scripts/bench/tcpcheck.c)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .host = "127.0.0.1", .msg = 65536, .abort_after = -1, .timeout = 60 };
	const char *cmd = NULL, *cgroup = NULL;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool used = true;

		if (!strcmp(a, "--more"))
			o.more = true, used = false;
		else if (!strcmp(a, "--nonblock"))
			o.nonblock = true, used = false;
		else if (!strcmp(a, "--shut"))
			o.shut = true, used = false;
		else if (!strcmp(a, "--shut-while-reading"))
			o.shut_while_reading = true, used = false;
		else if (a[0] != '-') {
			if (cmd)
				usage();
			cmd = a;
			used = false;
		} else if (!v)
			usage();
		else if (!strcmp(a, "--cgroup"))
			cgroup = v;
		else if (!strcmp(a, "--host"))
			o.host = v;
		else if (!strcmp(a, "--port"))
			o.port = atoi(v);
		else if (!strcmp(a, "--port-file"))
			o.port_file = v;
		else if (!strcmp(a, "--bytes"))
			o.bytes = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--reply"))
			o.reply = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--msg"))
			o.msg = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--sndbuf"))
			o.sndbuf = atoi(v);
		else if (!strcmp(a, "--rcvbuf"))
			o.rcvbuf = atoi(v);
		else if (!strcmp(a, "--read-delay"))
			o.read_delay_ms = atoi(v);
		else if (!strcmp(a, "--abort-after"))
			o.abort_after = strtoll(v, NULL, 0);
		else if (!strcmp(a, "--timeout"))
			o.timeout = atof(v);
		else
			usage();
		if (used)
			i++;
	}
	if (!cmd || !o.msg)
		usage();
	if (cgroup && join_cgroup(cgroup))
		return 1;
	if (!strcmp(cmd, "pair"))
		return cmd_pair(&o);
	if (!strcmp(cmd, "server"))
		return cmd_server(&o);
	if (!strcmp(cmd, "client"))
		return o.port ? run_client(&o, o.port) : (usage(), 2);
	usage();
	return 2;
}
