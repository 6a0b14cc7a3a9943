// SPDX-License-Identifier: GPL-2.0
/*
 * framesend: puts hand-built Ethernet frames on an interface exactly as given, from a raw
 * AF_PACKET socket, for the socket filter specs that compare the sockex tools with tshark on
 * a veth pair (spec/tools/sockex_wire_spec.lua, spec/helpers/wire.lua). This machine has no
 * 8021q, gre or ipip module, so VLAN-tagged, QinQ, GRE, gretap and IPIP frames cannot come
 * from the stack: the spec builds them (spec/helpers/packets.lua) and this sends them. Built
 * by CMake into build/spec/framesend.
 *
 *   framesend IFACE FILE     FILE: one frame per line, as hex digits ('#' lines and blank
 *                            lines are skipped)
 *
 * The socket is bound with protocol 0, so it receives nothing itself; a frame leaves with
 * skb->protocol taken from its own Ethernet header (af_packet's packet_parse_headers), and a
 * VLAN tag in the frame stays in the frame (it is not moved into skb->vlan_tci on the way
 * out). Prints "sent N" on stdout; exit status 0 when every frame was sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX 65536

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One line of hex digits into frame; its length, or -1 (and a message) when malformed. */
static long parse_line(const char *line, unsigned char *frame, long lineno)
{
	long n = 0;
	int hi = -1;

	for (const char *p = line; *p && *p != '\n'; p++) {
		int v = hexval((unsigned char)*p);

		if (v < 0) {
			fprintf(stderr, "framesend: line %ld: not a hex digit: '%c'\n", lineno, *p);
			return -1;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == FRAME_MAX) {
			fprintf(stderr, "framesend: line %ld: frame longer than %d bytes\n", lineno,
				FRAME_MAX);
			return -1;
		}
		frame[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0) {
		fprintf(stderr, "framesend: line %ld: odd number of hex digits\n", lineno);
		return -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	static unsigned char frame[FRAME_MAX];
	static char line[2 * FRAME_MAX + 2];
	struct sockaddr_ll sll;
	unsigned int ifindex;
	long lineno = 0, sent = 0;
	int fd, err = 0;
	FILE *in;

	if (argc != 3) {
		fprintf(stderr, "usage: framesend IFACE FILE\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "framesend: interface '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	in = fopen(argv[2], "r");
	if (!in) {
		fprintf(stderr, "framesend: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "framesend: raw socket: %s\n", strerror(errno));
		goto err_close_in;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "framesend: bind to '%s': %s\n", argv[1], strerror(errno));
		goto err_close_fd;
	}
	while (fgets(line, sizeof(line), in)) {
		long n;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		n = parse_line(line, frame, lineno);
		if (n < 0) {
			err = 1;
			break;
		}
		if (send(fd, frame, (size_t)n, 0) != n) {
			fprintf(stderr, "framesend: line %ld: send of %ld bytes on '%s': %s\n",
				lineno, n, argv[1], strerror(errno));
			err = 1;
			break;
		}
		sent++;
	}
	printf("sent %ld\n", sent);
	close(fd);
	fclose(in);
	return err;

err_close_fd:
	close(fd);
err_close_in:
	fclose(in);
	return 1;
}
