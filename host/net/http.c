// SPDX-License-Identifier: GPL-2.0
/*
 * net/http.c: sockhost.serve_http(addr, handler[, opts]), a small HTTP endpoint (for
 * sockhost.metrics) served by libmicrohttpd inside the state's own loop: no thread ever
 * touches the Lua state. MHD runs without threads of its own (MHD_USE_EPOLL, external
 * mode): its epoll fd is one loop source and a timerfd armed from MHD_get_timeout is
 * another; either calls MHD_run, and MHD calls the handler synchronously, under lua_pcall.
 *
 * The listening socket is made here (not by MHD) so that a bad address, a port in use, a
 * privileged port or an address that is not this machine's fails with its own message;
 * MHD takes it over (MHD_OPTION_LISTEN_SOCKET) and closes it when stopped.
 *
 * What keeps slow or many clients from stalling event delivery: nothing here blocks (MHD
 * reads and writes non-blocking sockets only when the loop says they are ready); a request
 * line and headers larger than max_request_bytes are refused by MHD with 431
 * (MHD_OPTION_CONNECTION_MEMORY_LIMIT); a connection idle or slow for `timeout` seconds is
 * closed (MHD_OPTION_CONNECTION_TIMEOUT, driven by the timerfd); at max_connections MHD stops
 * accepting (MHD_OPTION_CONNECTION_LIMIT) and the rest wait in the kernel's backlog. Only GET
 * and HEAD reach the handler; Lua errors there become 500 and are counted, never raised
 * through MHD.
 *
 * Lifetime: an open server is referenced from the registry (a dropped handle keeps serving,
 * as a timer keeps firing); srv:close() or the state's close stops it. A close from inside
 * the handler (inside MHD_run) is deferred until MHD_run returns. User value 1 is the
 * handler, 2 the last handler error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base/error.h"
#include "loop/loop.h"
#include "lua/class.h"
#include "lua/opts.h"
#include "net/http.h"

#define SH_HTTP_MT "sockhost.http_server"
#define FN	   "sockhost.serve_http"

struct sh_http {
	struct sh_handle h; /* h.live: the server while MHD runs */
	struct MHD_Daemon *d;
	struct sh_source mhd; /* MHD's epoll fd */
	struct sh_source tick; /* timerfd for MHD_get_timeout */
	lua_State *L; /* set while MHD_run runs */
	bool in_run, stop_pending;
	int self_ref;
	lua_Integer requests, errors;
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned int port;
};

static const struct sh_class http_class;

/* ---- address ------------------------------------------------------------------------------ */

/* "127.0.0.1:9100", "[::1]:9100" or ":9100" (loopback): fills ss; raises on a bad one. */
static socklen_t parse_addr(lua_State *L, const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *port, *hs;
	size_t hlen;
	bool v6 = false;
	char *end;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto malformed;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		port = close + 2;
		v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			goto malformed;
		hs = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen >= sizeof(host))
		goto malformed;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port))
		goto malformed;
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || p > 65535)
		return luaL_error(L,
				  FN ": port %s out of range in '%s' (0-65535; 0 picks a free one)",
				  port, s);
	if (v6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		if (!hlen || inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto malformed;
		return sizeof(*in6);
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)p);
	if (!hlen) /* ":9100": loopback; any other address must be given on purpose */
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		goto malformed;
	return sizeof(*in4);
malformed:
	return luaL_error(
		L, FN ": malformed address '%s' (expected IPv4:PORT, [IPv6]:PORT or :PORT)", s);
}

/* The first port a process without CAP_NET_BIND_SERVICE may bind (1024 unless changed). */
static unsigned int unprivileged_port_start(void)
{
	unsigned int v = 1024;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

static const char *bind_hint(int err, const struct sockaddr_storage *ss, char *buf, size_t len)
{
	unsigned int port = ntohs(ss->ss_family == AF_INET6 ?
					  ((const struct sockaddr_in6 *)ss)->sin6_port :
					  ((const struct sockaddr_in *)ss)->sin_port);

	switch (err) {
	case EADDRINUSE:
		return "EADDRINUSE: another socket listens on it";
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL: not an address of this machine";
	case EACCES:
		/* root without the capability (a unit's CapabilityBoundingSet) gets it too */
		snprintf(buf, len,
			 "EACCES: port %u is privileged (below %u, net.ipv4.ip_unprivileged_"
			 "port_start) and this process lacks CAP_NET_BIND_SERVICE",
			 port, unprivileged_port_start());
		return buf;
	default:
		return "";
	}
}

/* The listening socket, or raises naming the address and the errno. */
static int listen_on(lua_State *L, const char *text, struct sockaddr_storage *ss, socklen_t len)
{
	char hint[128];
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sh_raise_errno(L, errno, NULL, FN ": socket for '%s'", text);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, len) < 0 || listen(fd, 64) < 0) {
		err = errno;
		close(fd);
		return luaL_error(L, FN ": cannot listen on '%s': %s (%s)", text, strerror(err),
				  bind_hint(err, ss, hint, sizeof(hint)));
	}
	return fd;
}

/* ---- requests ----------------------------------------------------------------------------- */

struct request {
	struct sh_http *srv;
	const char *method, *path, *accept;
	struct MHD_Response *resp;
	unsigned int status;
};

/* Under lua_pcall: call the handler, check what it returned, build the response. */
static int call_handler(lua_State *L)
{
	struct request *rq = lua_touserdata(L, 1);
	const char *ctype, *body;
	lua_Integer status;
	size_t blen;

	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, rq->srv->self_ref);
	lua_getiuservalue(L, 1, 1);
	lua_remove(L, 1);
	lua_createtable(L, 0, 3);
	lua_pushstring(L, rq->method);
	lua_setfield(L, -2, "method");
	lua_pushstring(L, rq->path);
	lua_setfield(L, -2, "path");
	if (rq->accept) {
		lua_pushstring(L, rq->accept);
		lua_setfield(L, -2, "accept");
	}
	lua_call(L, 1, 3); /* status, content type, body at 1..3 */
	if (!lua_isinteger(L, 1))
		return luaL_error(L, FN ": handler returned a %s status, expected an integer",
				  luaL_typename(L, 1));
	status = lua_tointeger(L, 1);
	if (status < 100 || status > 599)
		return luaL_error(L, FN ": handler returned status %I (100-599)", status);
	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, FN ": handler returned a %s content type, expected a string",
				  luaL_typename(L, 2));
	if (lua_type(L, 3) != LUA_TSTRING)
		return luaL_error(L, FN ": handler returned a %s body, expected a string",
				  luaL_typename(L, 3));
	ctype = lua_tostring(L, 2);
	body = lua_tolstring(L, 3, &blen);
	/* no Lua call after this: nothing can raise and leak the response */
	rq->resp = MHD_create_response_from_buffer(blen, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!rq->resp)
		return luaL_error(L, FN ": out of memory for a %zu byte body", blen);
	if (MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(rq->resp);
		rq->resp = NULL;
		return luaL_error(L, FN ": handler returned a content type MHD refused");
	}
	rq->status = (unsigned int)status;
	return 0;
}

static struct MHD_Response *text_response(const char *text)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	static int seen; /* the address marks a request whose headers came */
	struct request rq = { .srv = cls, .method = method, .path = url };
	lua_State *L = rq.srv->L;
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	enum MHD_Result ret;
	int top;

	/* A GET is answered on MHD's second call, once the whole request is read, so that the
	 * connection can stay open for the next one (a scraper's keep-alive); a body sent with
	 * it is dropped, bounded by the connection timeout. Anything else is refused at once. */
	if (get && !*con_cls) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (get && *upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	rq.srv->requests++;
	if (!get) {
		rq.resp = text_response("method not allowed\n");
		if (!rq.resp)
			return MHD_NO;
		MHD_add_response_header(rq.resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, rq.resp);
		MHD_destroy_response(rq.resp);
		return ret;
	}
	rq.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	top = lua_gettop(L);
	if (!lua_checkstack(L, 8))
		return MHD_NO;
	lua_pushcfunction(L, call_handler);
	lua_pushlightuserdata(L, &rq);
	if (sh_pcall(L, 1, 0) != LUA_OK) {
		/* counted and kept as srv.last_error; the loop goes on */
		rq.srv->errors++;
		lua_rawgeti(L, LUA_REGISTRYINDEX, rq.srv->self_ref);
		lua_insert(L, -2);
		lua_setiuservalue(L, -2, 2);
		rq.resp = text_response("internal server error\n");
		rq.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	lua_settop(L, top);
	if (!rq.resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, rq.status, rq.resp);
	MHD_destroy_response(rq.resp);
	return ret;
}

/* ---- loop sources ------------------------------------------------------------------------- */

static void http_stop(lua_State *L, struct sh_http *srv)
{
	srv->h.live = NULL;
	if (!srv->d)
		return;
	sh_loop_del(L, &srv->mhd);
	sh_loop_del(L, &srv->tick);
	if (srv->tick.fd >= 0)
		close(srv->tick.fd);
	srv->tick.fd = -1;
	MHD_stop_daemon(srv->d); /* closes its epoll fd, the listener and every connection */
	srv->d = NULL;
	if (srv->self_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, srv->self_ref);
	srv->self_ref = LUA_NOREF;
}

/* Arm the timerfd for MHD's next deadline (connection timeouts, data already pending). */
static void arm_tick(struct sh_http *srv, bool now)
{
	struct itimerspec its = { 0 };
	MHD_UNSIGNED_LONG_LONG ms = 0;

	if (now || MHD_get_timeout(srv->d, &ms) == MHD_YES) {
		its.it_value.tv_sec = (time_t)(ms / 1000);
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1; /* 0 would disarm: run again at once */
	}
	timerfd_settime(srv->tick.fd, 0, &its, NULL);
}

static unsigned int connections(struct sh_http *srv)
{
	const union MHD_DaemonInfo *di;

	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

static int http_run(lua_State *L, struct sh_http *srv)
{
	unsigned int before;

	if (!srv->d || srv->in_run)
		return 0;
	before = connections(srv);
	srv->L = L;
	srv->in_run = true;
	MHD_run(srv->d);
	srv->in_run = false;
	srv->L = NULL;
	if (srv->stop_pending) { /* the handler closed its own server */
		http_stop(L, srv);
		return 0;
	}
	/* MHD puts its listener back into its epoll set only at the start of a run, so when a
	 * connection went away (perhaps freeing a slot under the limit) run again at once: a
	 * client waiting in the backlog must not wait for some other activity. */
	arm_tick(srv, connections(srv) < before);
	return 0;
}

static int on_mhd(lua_State *L, struct sh_source *src, uint32_t events)
{
	return http_run(L, src->ctx);
}

static int on_tick(lua_State *L, struct sh_source *src, uint32_t events)
{
	struct sh_http *srv = src->ctx;
	uint64_t n;

	if (read(src->fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return http_run(L, srv);
}

/* ---- sockhost.serve_http ------------------------------------------------------------------ */

static unsigned int opt_uint(lua_State *L, const char *key, lua_Integer dflt, lua_Integer lo,
			     lua_Integer hi)
{
	lua_Integer v = dflt;
	char what[64];

	if (lua_getfield(L, 3, key) != LUA_TNIL) {
		snprintf(what, sizeof(what), FN ": %s", key);
		v = sh_check_range(L, -1, lo, hi, what);
	}
	lua_pop(L, 1);
	return (unsigned int)v;
}

static int l_serve_http(lua_State *L)
{
	static const char *const names[] = { "max_connections", "timeout", "max_request_bytes",
					     NULL };
	const char *text = luaL_checkstring(L, 1);
	unsigned int max_conns = 32, timeout = 10, mem = 32 * 1024;
	struct sockaddr_storage ss;
	struct sh_http *srv;
	socklen_t len;
	int fd;

	if (!lua_isfunction(L, 2) && !luaL_getmetafield(L, 2, "__call"))
		return luaL_error(L, FN ": handler must be callable, got %s", luaL_typename(L, 2));
	lua_settop(L, 3);
	if (sh_opts_check(L, 3, FN, names)) {
		max_conns = opt_uint(L, "max_connections", max_conns, 1, 4096);
		timeout = opt_uint(L, "timeout", timeout, 1, 3600);
		mem = opt_uint(L, "max_request_bytes", mem, 1024, 1 << 20);
	}
	len = parse_addr(L, text, &ss);
	srv = sh_handle_new(L, &http_class, sizeof(*srv), 2);
	srv->mhd.fd = srv->tick.fd = -1;
	srv->self_ref = LUA_NOREF;
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	srv->tick.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->tick.fd < 0)
		return sh_raise_errno(L, errno, NULL, FN ": timerfd_create");
	fd = listen_on(L, text, &ss, len);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						     ((struct sockaddr_in *)&ss)->sin_port);
	inet_ntop(ss.ss_family,
		  ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
					     (void *)&((struct sockaddr_in *)&ss)->sin_addr,
		  srv->addr, sizeof(srv->addr));
	srv->d = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
				  NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, max_conns,
				  MHD_OPTION_CONNECTION_TIMEOUT, timeout,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)mem, MHD_OPTION_END);
	if (!srv->d) {
		close(fd);
		close(srv->tick.fd);
		srv->tick.fd = -1;
		return luaL_error(L, FN ": libmicrohttpd could not start on '%s'", text);
	}
	srv->h.live = srv;
	srv->mhd.fd = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
	srv->mhd.ctx = srv->tick.ctx = srv;
	srv->mhd.dispatch = on_mhd;
	srv->tick.dispatch = on_tick;
	lua_pushvalue(L, -1);
	srv->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	sh_loop_add(L, &srv->mhd);
	sh_loop_add(L, &srv->tick);
	arm_tick(srv, false);
	return 1;
}

/* ---- the handle --------------------------------------------------------------------------- */

static void http_close(lua_State *L, int idx, struct sh_handle *h)
{
	struct sh_http *srv = (struct sh_http *)h;

	if (srv->in_run)
		srv->stop_pending = true; /* inside MHD_run: stopped when it returns */
	else
		http_stop(L, srv);
}

static void http_describe(lua_State *L, struct sh_handle *h)
{
	struct sh_http *srv = (struct sh_http *)h;

	lua_pushfstring(L, strchr(srv->addr, ':') ? "[%s]:%d" : "%s:%d", srv->addr, (int)srv->port);
}

static int http_index(lua_State *L)
{
	struct sh_http *srv = luaL_checkudata(L, 1, SH_HTTP_MT);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "requests"))
		lua_pushinteger(L, srv->requests);
	else if (!strcmp(k, "errors"))
		lua_pushinteger(L, srv->errors);
	else if (!strcmp(k, "port"))
		lua_pushinteger(L, srv->port);
	else if (!strcmp(k, "address"))
		lua_pushstring(L, srv->addr);
	else if (!strcmp(k, "last_error"))
		lua_getiuservalue(L, 1, 2);
	else if (!strcmp(k, "connections")) {
		lua_pushinteger(L, srv->d ? connections(srv) : 0);
	} else
		sh_class_method(L, 1, k);
	return 1;
}

static const luaL_Reg http_meta[] = {
	{ "__index", http_index },
	{ NULL, NULL },
};

static const luaL_Reg http_methods[] = {
	{ NULL, NULL },
};

static const struct sh_class http_class = {
	.name = SH_HTTP_MT,
	.close = http_close,
	.describe = http_describe,
	.methods = http_methods,
	.meta = http_meta,
};

int sh_http_open(lua_State *L)
{
	sh_class_register(L, &http_class);
	lua_pushcfunction(L, l_serve_http);
	lua_setfield(L, -2, "serve_http");
	return 0;
}
