// SPDX-License-Identifier: GPL-2.0
/*
 * http_embed.c: sockhost.serve_http inside a host program's own poll() loop, through
 * sockhost.h only: a request is answered while the host calls sockhost_step() on
 * sockhost_fd() (MHD's epoll fd sits inside the loop's), with the handler's exact body; and
 * sockhost_free(), which closes the Lua state, stops the server: the port refuses
 * connections afterwards, while the process goes on. Exits 0 when every check passed, 1 at
 * the first failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <lua.h>

#include "sockhost.h"

static void fail(const char *what)
{
	fprintf(stderr, "http_embed: FAIL: %s\n", what);
	exit(1);
}

static int connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		fail("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int main(void)
{
	static const char code[] =
		"local sockhost = require 'sockhost'\n"
		"srv = sockhost.serve_http(':0', function(req)\n"
		"   return 200, 'text/plain', 'embedded ' .. req.method .. ' ' .. req.path\n"
		"end)\n"
		"port = srv.port\n";
	static const char expect[] = "\r\n\r\nembedded GET /x";
	static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
	struct sockhost *sh = sockhost_new();
	char buf[4096];
	size_t got = 0;
	int port, fd, rc;
	time_t deadline;

	if (!sh || sockhost_dostring(sh, code, "=http_embed") < 0)
		fail(sh ? sockhost_error(sh) : "sockhost_new");
	lua_getglobal(sockhost_lua(sh), "port");
	port = (int)lua_tointeger(sockhost_lua(sh), -1);
	lua_pop(sockhost_lua(sh), 1);
	if (port <= 0)
		fail("no port");

	fd = connect_to(port);
	if (fd < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		fail("connect/send to the server");
	/* the host's loop: sockhost's fd and the client socket */
	deadline = time(NULL) + 5;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = sockhost_fd(sh), .events = POLLIN },
					 { .fd = fd, .events = POLLIN } };

		if (time(NULL) > deadline)
			fail("no answer within 5 s");
		if (poll(pfd, 2, 100) < 0 && errno != EINTR)
			fail("poll");
		if ((pfd[0].revents & POLLIN) && sockhost_step(sh, 0) < 0)
			fail(sockhost_error(sh));
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

			if (n < 0)
				fail("read");
			if (n == 0)
				break;
			got += (size_t)n;
		}
	}
	close(fd);
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.0 200 OK\r\n", 17) && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17))
		fail(buf);
	if (got < strlen(expect) || strcmp(buf + got - strlen(expect), expect))
		fail(buf);

	/* closing the state stops the server: the listener is gone, this process is not */
	fd = connect_to(port);
	if (fd < 0)
		fail("the port refused before the state was closed");
	close(fd);
	sockhost_free(sh);
	rc = connect_to(port);
	if (rc != -ECONNREFUSED) {
		snprintf(buf, sizeof(buf),
			 "after sockhost_free: connect gave %d, not -ECONNREFUSED", rc);
		fail(buf);
	}
	printf("http_embed: ok (port %d)\n", port);
	return 0;
}
