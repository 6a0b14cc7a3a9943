// SPDX-License-Identifier: GPL-2.0
/*
 * base/libbpf_log.c: libbpf's print callback (base/libbpf_log.h). libbpf has one callback per
 * process and passes it no context, so the last warning is kept per thread: two Lua states on
 * two threads never read each other's, and within one thread calls are sequential.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "base/libbpf_log.h"

static __thread char last_log[1024];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return 0;
	if (level != LIBBPF_DEBUG) {
		size_t len = strlen(line);

		while (len && line[len - 1] == '\n')
			line[--len] = '\0';
		snprintf(last_log, sizeof(last_log), "%s",
			 strncmp(line, "libbpf: ", 8) ? line : line + 8);
	}
	if (level == LIBBPF_DEBUG || !getenv("SOCKHOST_LIBBPF_DEBUG"))
		return 0;
	return fprintf(stderr, "libbpf: %s", line);
}

void sh_libbpf_log_init(void)
{
	libbpf_set_print(libbpf_print);
}

const char *sh_libbpf_last_log(void)
{
	return last_log;
}

void sh_libbpf_log_reset(void)
{
	last_log[0] = '\0';
}
