/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/libbpf_log.h: libbpf's print callback. libbpf's output never reaches stderr (host/
 * never prints; SOCKHOST_LIBBPF_DEBUG=1 shows it); its last warning is kept, per thread, so an
 * open or load error can quote what libbpf said. Verifier logs do not come through here:
 * obj/load.c hands libbpf a log buffer of its own.
 */
#ifndef SOCKHOST_BASE_LIBBPF_LOG_H
#define SOCKHOST_BASE_LIBBPF_LOG_H

/* Route libbpf's output here (idempotent). */
void sh_libbpf_log_init(void);
/* Forget the last warning before a libbpf call whose failure should quote it. */
void sh_libbpf_log_reset(void);
/* The last warning since the reset, without libbpf's "libbpf: " prefix; "" when none. */
const char *sh_libbpf_last_log(void);

#endif
