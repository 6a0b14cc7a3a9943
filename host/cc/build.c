// SPDX-License-Identifier: GPL-2.0
/*
 * cc/build.c: compile-or-find for BPF C (cc/cc.h). Written in C rather than Lua because a
 * warm start must hash the source and its headers (SHA-256, cc/sha256.c), take a flock and
 * check owners and modes of cache entries: none of which stock Lua can do, and all of which
 * must work in an embedded state with no Lua libraries beyond the core.
 *
 * Keys, after ccache's "direct mode": clang -MD only tells which headers a file includes
 * after compiling it, so an entry has two levels.
 *   key1 = H(source bytes, its name and real path, the flags (arch, include dirs), the
 *            kernel BTF hash)
 *          -> manifest m/<key1>: the clang that compiled it (path, size, mtime: its "stamp"),
 *             the first line of `clang --version`, each header with its hash, the object
 *   key2 = H(key1, clang version, every header path and hash)
 *          -> o/<key2>/<name>.bpf.o, whose size and hash the manifest also records.
 * A warm open reads the manifest, re-hashes the headers (not vmlinux.h: its directory is
 * named after the BTF hash, already in key1) and the object, and runs nothing. A clang on
 * PATH whose stamp differs from the manifest's means a new compiler: compile again; no clang
 * on PATH at all means the cached object is what there is. A changed header gives another
 * key2, a truncated or altered object another hash: both compile again and replace the
 * manifest. Everything happens under the cache lock (cc/cache.c), and entries are renamed
 * into place, so a reader never sees half an object. A source that starts with
 * an include of vmlinux.h compiles against a precompiled vmlinux.h (cc/pch.c); the object is
 * equivalent (same code, same BTF), so the PCH is in no key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "base/paths.h"
#include "cc/cache.h"
#include "cc/cc.h"
#include "cc/pch.h"
#include "cc/sha256.h"
#include "cc/spawn.h"
#include "cc/vmlinux.h"

#define MANIFEST_MAGIC "sockhost-cc-manifest 1"
#define MAX_HEADERS    512
#define NO_CLANG_HINT                                                                     \
	"run `sockhost cc %s` on a machine that has clang and open the .bpf.o it writes " \
	"(Debian: apt install clang)"

#ifndef SOCKHOST_BPF_ARCH
#error "SOCKHOST_BPF_ARCH (x86, arm64, ...) comes from cmake/SockhostBpf.cmake"
#endif

struct header {
	char *path;
	char hex[SH_SHA256_HEX];
};

struct job {
	const char *src; /* as given: clang and its diagnostics see this name */
	const char *shown; /* the name messages use (inline source: <name>.bpf.c) */
	const char *objname; /* <objname>.bpf.o */
	const char *text; /* the source's bytes */
	size_t n;
	struct sh_cache cache;
	char key1[SH_SHA256_HEX];
	char btf[SH_SHA256_HEX];
	char vmlinux[PATH_MAX];
	char inc_sdk[PATH_MAX + 2], inc_vmlinux[PATH_MAX + 2], inc_src[PATH_MAX + 2];
	char clang[PATH_MAX];
	char stamp[PATH_MAX + 64]; /* "" when no clang was found */
	struct header hdr[MAX_HEADERS];
	int nhdr;
};

static void free_headers(struct job *j)
{
	for (int i = 0; i < j->nhdr; i++)
		free(j->hdr[i].path);
	j->nhdr = 0;
}

/* the flags that decide what the object is, in clang's order; NULL-terminated. Without
 * the source's own dir: the flags a PCH of vmlinux.h is built with. */
static void flags(struct job *j, const char *argv[], int *n, bool with_src)
{
	static const char *const fixed[] = { "-g",	 "-O2",
					     "-target",	 "bpf",
					     "-mcpu=v3", "-D__TARGET_ARCH_" SOCKHOST_BPF_ARCH,
					     "-Wall",	 "-Wno-unused-function" };

	*n = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[(*n)++] = fixed[i];
	argv[(*n)++] = j->inc_vmlinux;
	argv[(*n)++] = j->inc_sdk;
	if (with_src)
		argv[(*n)++] = j->inc_src;
	argv[*n] = NULL;
}

static int read_source(const char *src, const char *shown, char **text, size_t *len, char **msg)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(src, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return sh_cc_fail(msg, errno, "compile '%s': %s", shown, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = sh_cc_fail(msg, EINVAL, "compile '%s': not a regular file", shown);
		goto out_close;
	}
	*text = malloc(st.st_size + 1);
	if (!*text) {
		err = sh_cc_fail(msg, ENOMEM, "compile '%s': out of memory", shown);
		goto out_close;
	}
	while (got < (size_t)st.st_size && (n = read(fd, *text + got, st.st_size - got))) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sh_cc_fail(msg, errno, "compile '%s': %s", shown, strerror(errno));
			free(*text);
			*text = NULL;
			goto out_close;
		}
		got += n;
	}
	(*text)[got] = '\0';
	*len = got;
out_close:
	close(fd);
	return err;
}

static void find_clang(struct job *j)
{
	const char *env = getenv("SOCKHOST_CLANG");
	struct stat st;

	j->stamp[0] = '\0';
	if (env && *env) {
		if (!realpath(env, j->clang) || access(j->clang, X_OK))
			return;
	} else if (sh_find_tool("clang", NULL, j->clang, sizeof(j->clang))) {
		return;
	}
	if (stat(j->clang, &st) == 0)
		snprintf(j->stamp, sizeof(j->stamp), "%s %lld %lld", j->clang,
			 (long long)st.st_size, (long long)st.st_mtime);
}

static void key2_of(const struct job *j, const char *version, char out[SH_SHA256_HEX])
{
	struct sh_sha256 s;

	sh_sha256_init(&s);
	sh_sha256_str(&s, j->key1);
	sh_sha256_str(&s, version);
	for (int i = 0; i < j->nhdr; i++) {
		sh_sha256_str(&s, j->hdr[i].path);
		sh_sha256_str(&s, j->hdr[i].hex);
	}
	sh_sha256_hex(&s, out);
}

static int object_path(const struct job *j, const char *key2, char *out, size_t len, char **msg)
{
	char rel[SH_SHA256_HEX + NAME_MAX + 16];

	snprintf(rel, sizeof(rel), "o/%s/%s.bpf.o", key2, j->objname);
	return sh_cache_path(&j->cache, rel, out, len, msg);
}

/* 1 (with the object's path in obj) when the manifest is there and everything it names is
 * unchanged; 0 on a miss; -errno when something in the cache cannot be trusted. */
static int lookup(struct job *j, const char *manifest, char *obj, size_t len, char **msg)
{
	char *text = NULL, *line, *save = NULL, *version = NULL, *stamp = NULL;
	char key2[SH_SHA256_HEX], *rec_key2 = NULL, *rec_sha = NULL, hex[SH_SHA256_HEX];
	long long rec_size = -1;
	struct stat st;
	int err, hit = 0;

	err = sh_cache_read(manifest, &text, NULL, msg);
	if (err)
		return err == -ENOENT ? 0 : err;
	line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, MANIFEST_MAGIC))
		goto out;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (!strncmp(line, "clang ", 6)) {
			stamp = line + 6;
		} else if (!strncmp(line, "version ", 8)) {
			version = line + 8;
		} else if (!strncmp(line, "header ", 7)) {
			struct header *h = &j->hdr[j->nhdr];

			if (j->nhdr == MAX_HEADERS || strlen(line) < 7 + SH_SHA256_HEX + 1)
				goto out;
			memcpy(h->hex, line + 7, SH_SHA256_HEX - 1);
			h->hex[SH_SHA256_HEX - 1] = '\0';
			h->path = strdup(line + 7 + SH_SHA256_HEX);
			if (!h->path)
				goto out;
			j->nhdr++;
		} else if (!strncmp(line, "object ", 7)) {
			char *sp1 = strchr(line + 7, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

			if (!sp2)
				goto out;
			*sp1 = *sp2 = '\0';
			rec_key2 = line + 7;
			rec_size = strtoll(sp1 + 1, NULL, 10);
			rec_sha = sp2 + 1;
		}
	}
	if (!version || !stamp || !rec_key2 || !rec_sha)
		goto out;
	/* a clang is installed, and it is not the one that compiled this: compile again */
	if (j->stamp[0] && strcmp(j->stamp, stamp))
		goto out;
	for (int i = 0; i < j->nhdr; i++)
		if (sh_sha256_file(j->hdr[i].path, hex) || strcmp(hex, j->hdr[i].hex))
			goto out;
	key2_of(j, version, key2);
	if (strcmp(key2, rec_key2))
		goto out;
	err = object_path(j, key2, obj, len, msg);
	if (!err)
		err = sh_cache_trusted(obj, 0, msg);
	if (err == -ENOENT)
		err = 0;
	if (err)
		goto out;
	/* a truncated or altered object is a miss: it is compiled again and replaced */
	if (stat(obj, &st) || st.st_size != rec_size || sh_sha256_file(obj, hex) ||
	    strcmp(hex, rec_sha))
		goto out;
	hit = 1;
out:
	free_headers(j);
	free(text);
	return err ? err : hit;
}

/* One make-style dependency list (clang -MD): "target: dep dep \<newline> dep ...". */
static int parse_deps(struct job *j, char *d, char **msg)
{
	char *p = strstr(d, ": "), tok[PATH_MAX]; /* a cache path may hold a ':', not ": " */
	size_t n;

	if (!p)
		return sh_cc_fail(msg, EINVAL, "compile '%s': clang wrote no dependency list",
				  j->shown);
	for (p++;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || (p[0] == '\\' && p[1] == '\n'))
			p += *p == '\\' ? 2 : 1;
		if (!*p)
			return 0;
		for (n = 0; *p && *p != ' ' && *p != '\t' && *p != '\n'; p++) {
			if (p[0] == '\\' && p[1] == '\n')
				break;
			if (p[0] == '\\' && p[1] == ' ')
				p++;
			if (n + 1 < sizeof(tok))
				tok[n++] = *p;
		}
		tok[n] = '\0';
		/* vmlinux.h is named after the BTF hash, which key1 has already */
		if (!strncmp(tok, j->vmlinux, strlen(j->vmlinux)))
			continue;
		if (j->nhdr == MAX_HEADERS)
			return sh_cc_fail(msg, E2BIG, "compile '%s': more than %d headers",
					  j->shown, MAX_HEADERS);
		j->hdr[j->nhdr].path = realpath(tok, NULL);
		if (!j->hdr[j->nhdr].path)
			return sh_cc_fail(msg, errno, "compile '%s': header '%s': %s", j->shown,
					  tok, strerror(errno));
		if (strchr(j->hdr[j->nhdr].path, '\n'))
			return sh_cc_fail(msg, EINVAL, "compile '%s': header path with a newline",
					  j->shown);
		if (sh_sha256_file(j->hdr[j->nhdr].path, j->hdr[j->nhdr].hex))
			return sh_cc_fail(msg, errno, "compile '%s': header '%s': %s", j->shown,
					  tok, strerror(errno));
		j->nhdr++;
	}
}

/* The first line of `clang --version`, remembered per clang stamp in <cache>/clang-<hash>. */
static int clang_version(struct job *j, char *out, size_t len, char **msg)
{
	char *argv[] = { j->clang, "--version", NULL }, *text = NULL;
	char hex[SH_SHA256_HEX], rel[32], memo[PATH_MAX];
	struct sh_sha256 s;
	int err, status;

	sh_sha256_init(&s);
	sh_sha256_str(&s, j->stamp);
	sh_sha256_hex(&s, hex);
	snprintf(rel, sizeof(rel), "clang-%.16s", hex);
	err = sh_cache_path(&j->cache, rel, memo, sizeof(memo), msg);
	if (err)
		return err;
	err = sh_cache_read(memo, &text, NULL, msg);
	if (!err && *text && !strchr(text, '\n')) {
		snprintf(out, len, "%s", text);
		free(text);
		return 0;
	}
	free(text);
	text = NULL;
	if (err && err != -ENOENT)
		return err;
	err = sh_spawn(argv, NULL, &text, &status);
	if (err)
		return sh_cc_fail(msg, err, "compile '%s': cannot run '%s': %s", j->shown, j->clang,
				  strerror(-err));
	if (status) {
		err = sh_cc_fail(msg, EIO, "compile '%s': '%s --version' failed (exit %d): %s",
				 j->shown, j->clang, status, text);
		goto out;
	}
	text[strcspn(text, "\n")] = '\0';
	snprintf(out, len, "%s", text);
	err = sh_cache_write(memo, out, strlen(out), msg);
out:
	free(text);
	return err;
}

static int append(char **buf, size_t *used, size_t *cap, const char *fmt, const char *a,
		  const char *b)
{
	int n = snprintf(NULL, 0, fmt, a, b);

	if (*used + n + 1 > *cap) {
		char *grown = realloc(*buf, *cap = 2 * (*used + n + 1));

		if (!grown)
			return -ENOMEM;
		*buf = grown;
	}
	snprintf(*buf + *used, n + 1, fmt, a, b);
	*used += n;
	return 0;
}

static int write_manifest(struct job *j, const char *path, const char *version, const char *key2,
			  long long size, const char *sha, char **msg)
{
	size_t used = 0, cap = 1024;
	char *buf = malloc(cap), num[32];
	int err;

	if (!buf)
		return sh_cc_fail(msg, ENOMEM, "out of memory");
	snprintf(num, sizeof(num), "%lld", size);
	err = append(&buf, &used, &cap, "%s\nclang %s\n", MANIFEST_MAGIC, j->stamp);
	if (!err)
		err = append(&buf, &used, &cap, "version %s%s\n", version, "");
	for (int i = 0; !err && i < j->nhdr; i++)
		err = append(&buf, &used, &cap, "header %s %s\n", j->hdr[i].hex, j->hdr[i].path);
	if (!err)
		err = append(&buf, &used, &cap, "object %s %s ", key2, num);
	if (!err)
		err = append(&buf, &used, &cap, "%s%s\n", sha, "");
	if (err)
		err = sh_cc_fail(msg, ENOMEM, "out of memory");
	else
		err = sh_cache_write(path, buf, used, msg);
	free(buf);
	return err;
}

static int compile(struct job *j, const char *manifest, char *obj, size_t len, char **msg)
{
	char version[256], odir[PATH_MAX], tmp_o[PATH_MAX], tmp_d[PATH_MAX + 4],
		key2[SH_SHA256_HEX];
	char sha[SH_SHA256_HEX], rel[SH_SHA256_HEX + 4], *diag = NULL, *deps = NULL;
	char pch[PATH_MAX];
	bool use_pch = false;
	const char *argv[40];
	struct stat st;
	int n, err, status;

	if (!j->stamp[0])
		return sh_cc_fail(
			msg, ENOENT,
			"compile '%s': clang not found on PATH (or SOCKHOST_CLANG); %s" NO_CLANG_HINT,
			j->shown, j->src == j->shown ? "" : "save the source as a file, ",
			j->shown);
	err = sh_cc_vmlinux_dir(&j->cache, j->btf, j->vmlinux, sizeof(j->vmlinux), msg);
	if (!err)
		err = clang_version(j, version, sizeof(version), msg);
	if (!err)
		err = sh_cache_path(&j->cache, "o", odir, sizeof(odir), msg);
	if (!err)
		err = sh_cache_mkdir(odir, msg);
	if (!err)
		err = sh_cache_tmpname(odir, tmp_o, sizeof(tmp_o), msg);
	if (err)
		return err;
	snprintf(tmp_d, sizeof(tmp_d), "%s.d", tmp_o);

	if (sh_cc_pch_fits(j->text, j->n)) {
		char ident[sizeof(j->stamp) + sizeof(version) + 2];
		const char *pflags[32];

		snprintf(ident, sizeof(ident), "%s\n%s", j->stamp, version);
		flags(j, pflags, &n, false);
		use_pch = !sh_cc_pch(j->vmlinux, j->clang, ident, pflags, pch, sizeof(pch));
	}
again:
	argv[0] = j->clang;
	flags(j, argv + 1, &n, true);
	n++;
	if (use_pch) {
		argv[n++] = "-include-pch";
		argv[n++] = pch;
	}
	argv[n++] = "-MD";
	argv[n++] = "-MF";
	argv[n++] = tmp_d;
	argv[n++] = "-c";
	argv[n++] = j->src;
	argv[n++] = "-o";
	argv[n++] = tmp_o;
	argv[n] = NULL;
	err = sh_spawn((char *const *)argv, NULL, &diag, &status);
	if (err) {
		err = sh_cc_fail(msg, err, "compile '%s': cannot run '%s': %s", j->shown, j->clang,
				 strerror(-err));
		goto out;
	}
	/* a PCH clang will not take (it says why) is only a slower compile */
	if (status && use_pch && strstr(diag, "precompiled")) {
		use_pch = false;
		free(diag);
		diag = NULL;
		goto again;
	}
	if (status) {
		size_t dl = strlen(diag);

		while (dl && diag[dl - 1] == '\n')
			diag[--dl] = '\0';
		err = sh_cc_fail(msg, EINVAL, "compile '%s' failed (clang exit %d):\n%s", j->shown,
				 status, diag);
		goto out;
	}
	err = sh_cache_read(tmp_d, &deps, NULL, msg);
	if (!err)
		err = parse_deps(j, deps, msg);
	if (err)
		goto out;
	key2_of(j, version, key2);
	snprintf(rel, sizeof(rel), "o/%s", key2);
	err = sh_cache_path(&j->cache, rel, odir, sizeof(odir), msg);
	if (!err)
		err = sh_cache_mkdir(odir, msg);
	if (!err)
		err = object_path(j, key2, obj, len, msg);
	if (!err && (stat(tmp_o, &st) || sh_sha256_file(tmp_o, sha)))
		err = sh_cc_fail(msg, errno, "compile '%s': clang wrote no object: %s", j->shown,
				 strerror(errno));
	if (!err)
		err = sh_cache_rename(tmp_o, obj, msg);
	if (!err)
		err = write_manifest(j, manifest, version, key2, (long long)st.st_size, sha, msg);
out:
	unlink(tmp_o);
	unlink(tmp_d);
	free(diag);
	free(deps);
	free_headers(j);
	return err;
}

/* Hash what decides the object (key1), then find it or compile it; the cache is locked. */
static int run(struct job *j, const char *text, size_t n, char *obj, size_t len, char **msg)
{
	char manifest[PATH_MAX], rel[128], srcdir[PATH_MAX], real[PATH_MAX];
	const char *argv[32];
	struct sh_sha256 s;
	const char *slash;
	int err, nflags;

	err = sh_cc_btf_hash(&j->cache, j->btf, msg);
	if (err)
		return err;
	snprintf(rel, sizeof(rel), "vmlinux/%s", j->btf);
	err = sh_cache_path(&j->cache, rel, j->vmlinux, sizeof(j->vmlinux), msg);
	if (err)
		return err;
	slash = strrchr(j->src, '/');
	snprintf(srcdir, sizeof(srcdir), "%.*s", slash ? (int)(slash - j->src) : 1,
		 slash ? (slash == j->src ? "/" : j->src) : ".");
	snprintf(j->inc_vmlinux, sizeof(j->inc_vmlinux), "-I%s", j->vmlinux);
	snprintf(j->inc_sdk, sizeof(j->inc_sdk), "-I%s", sh_sdk_include_dir());
	snprintf(j->inc_src, sizeof(j->inc_src), "-I%s", srcdir);

	sh_sha256_init(&s);
	sh_sha256_str(&s, "sockhost-cc 1");
	flags(j, argv, &nflags, true);
	for (int i = 0; i < nflags; i++)
		sh_sha256_str(&s, argv[i]);
	sh_sha256_str(&s, j->btf);
	sh_sha256_str(&s, j->src);
	/* where it is too: "probe.bpf.c" in another directory includes another "probe.h" */
	if (!realpath(j->src, real))
		return sh_cc_fail(msg, errno, "compile '%s': %s", j->shown, strerror(errno));
	sh_sha256_str(&s, real);
	sh_sha256_str(&s, j->objname);
	sh_sha256_update(&s, text, n);
	sh_sha256_hex(&s, j->key1);
	j->text = text;
	j->n = n;

	snprintf(rel, sizeof(rel), "m/%s", j->key1);
	err = sh_cache_path(&j->cache, "m", manifest, sizeof(manifest), msg);
	if (!err)
		err = sh_cache_mkdir(manifest, msg);
	if (!err)
		err = sh_cache_path(&j->cache, rel, manifest, sizeof(manifest), msg);
	if (err)
		return err;
	find_clang(j);
	err = lookup(j, manifest, obj, len, msg);
	if (err)
		return err < 0 ? err : 0;
	return compile(j, manifest, obj, len, msg);
}

/* "dir/probe.bpf.c" -> "probe" */
static void object_name(const char *src, char *out, size_t len)
{
	const char *base = strrchr(src, '/');
	size_t n;

	base = base ? base + 1 : src;
	n = strlen(base);
	if (n > 6 && !strcmp(base + n - 6, ".bpf.c"))
		n -= 6;
	else if (n > 2 && !strcmp(base + n - 2, ".c"))
		n -= 2;
	snprintf(out, len, "%.*s", (int)n, base);
}

static int cc_file(const char *src, const char *shown, char *obj, size_t len, char **msg)
{
	char name[NAME_MAX + 1], *text = NULL;
	struct job *j;
	size_t n = 0;
	int err;

	j = calloc(1, sizeof(*j));
	if (!j)
		return sh_cc_fail(msg, ENOMEM, "out of memory");
	object_name(src, name, sizeof(name));
	j->src = src;
	j->shown = shown;
	j->objname = name;
	err = read_source(src, shown, &text, &n, msg);
	if (err)
		goto out_free;
	err = sh_cache_open(&j->cache, msg);
	if (!err)
		err = run(j, text, n, obj, len, msg);
	sh_cache_close(&j->cache);
out_free:
	free(text);
	free(j);
	return err;
}

int sh_cc_file(const char *src, char *obj, size_t len, char **msg)
{
	return cc_file(src, src, obj, len, msg);
}

int sh_cc_source(const char *text, size_t n, const char *name, char *obj, size_t len, char **msg)
{
	char rel[SH_SHA256_HEX + NAME_MAX + 16], path[PATH_MAX], hex[SH_SHA256_HEX], *body;
	struct sh_sha256 s;
	struct sh_cache c;
	int err, hl;

	if (!*name || strlen(name) > 64 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    strlen(name))
		return sh_cc_fail(msg, EINVAL,
				  "name '%s': use 1 to 64 letters, digits, '_' and '-'", name);
	/* the text goes into the cache as src/<hash>/<name>.bpf.c, a #line first so that
	 * clang's diagnostics name <name>.bpf.c and the script's own line numbers */
	hl = snprintf(NULL, 0, "#line 1 \"%s.bpf.c\"\n", name);
	body = malloc(hl + n + 1);
	if (!body)
		return sh_cc_fail(msg, ENOMEM, "out of memory");
	snprintf(body, hl + 1, "#line 1 \"%s.bpf.c\"\n", name);
	memcpy(body + hl, text, n);
	sh_sha256_init(&s);
	sh_sha256_update(&s, body, hl + n);
	sh_sha256_hex(&s, hex);

	err = sh_cache_open(&c, msg);
	if (err)
		goto out_free;
	err = sh_cache_path(&c, "src", path, sizeof(path), msg);
	if (!err)
		err = sh_cache_mkdir(path, msg);
	snprintf(rel, sizeof(rel), "src/%s", hex);
	if (!err)
		err = sh_cache_path(&c, rel, path, sizeof(path), msg);
	if (!err)
		err = sh_cache_mkdir(path, msg);
	snprintf(rel, sizeof(rel), "src/%s/%s.bpf.c", hex, name);
	if (!err)
		err = sh_cache_path(&c, rel, path, sizeof(path), msg);
	if (!err) {
		err = sh_cache_trusted(path, 0, msg);
		if (err == -ENOENT)
			err = sh_cache_write(path, body, hl + n, msg);
	}
	/* the lock is not held across the compile: sh_cc_file takes it again */
	sh_cache_close(&c);
	snprintf(rel, sizeof(rel), "%s.bpf.c", name);
	if (!err)
		err = cc_file(path, rel, obj, len, msg);
out_free:
	free(body);
	return err;
}
