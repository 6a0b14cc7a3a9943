/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockhost/log.h: the record the sh_log_* macros of sockhost.bpf.h write into the ring
 * buffer `sockhost_log`, shared by the BPF side and the host (host/llog.c formats it). The
 * format string and the program name travel in the record, as aya-log's do, so the host
 * needs nothing but the record to print it.
 */
#ifndef SOCKHOST_LOG_H
#define SOCKHOST_LOG_H

#define SH_LOG_FMT_MAX	128 /* bytes of format string, NUL included */
#define SH_LOG_PROG_MAX 32 /* bytes of program name, NUL included */
#define SH_LOG_ARGS_MAX 8

/* aya-log's levels, most severe first: a level shows when it is <= the current level. */
enum sh_log_level {
	SH_LOG_ERROR = 1,
	SH_LOG_WARN = 2,
	SH_LOG_INFO = 3,
	SH_LOG_DEBUG = 4,
	SH_LOG_TRACE = 5,
};

/*
 *   level  enum sh_log_level.
 *   nargs  how many of args[] the format consumes (every argument is widened to 64 bits).
 *   line   source line of the call.
 *   prog   the C function the macro was used in: the program's name when called from the
 *          program itself (a helper inlined into it shows its own name). NUL-terminated.
 *   fmt    the format string, NUL-terminated.
 */
struct sh_log_record {
	__u8 level;
	__u8 nargs;
	__u16 line;
	__u32 pad;
	__u64 args[SH_LOG_ARGS_MAX];
	char prog[SH_LOG_PROG_MAX];
	char fmt[SH_LOG_FMT_MAX];
};

#endif /* SOCKHOST_LOG_H */
