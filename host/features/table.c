// SPDX-License-Identifier: GPL-2.0
/*
 * features/table.c: entries of the features table (features/table.h). Stateless helpers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "features/table.h"

const char *sh_feat_errstr(int err)
{
	if (err < 0)
		err = -err;
	if (err == SH_ENOTSUPP)
		return "not supported by this kernel (ENOTSUPP)";
	return strerror(err);
}

/* The entry for kind in s, created (not ok, empty texts) when missing. NULL when full. */
struct feat *sh_feat_get(struct feat_set *s, const char *kind, const char *what)
{
	struct feat *f;
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].kind, kind))
			return &s->f[i];
	if (s->n == s->cap)
		return NULL;
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	f->what = what;
	return f;
}

void sh_feat_ok(struct feat *f)
{
	if (!f)
		return;
	f->ok = true;
	f->reason[0] = f->instead[0] = '\0';
}

void sh_feat_fail(struct feat *f, const char *instead, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	f->ok = false;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
	snprintf(f->instead, sizeof(f->instead), "%s", instead ? instead : "");
}

void sh_feat_copy(struct feat *dst, const struct feat *src)
{
	if (!dst || !src)
		return;
	dst->ok = src->ok;
	memcpy(dst->reason, src->reason, sizeof(dst->reason));
	memcpy(dst->instead, src->instead, sizeof(dst->instead));
}

void sh_feat_path(struct feat *f, const char *path)
{
	size_t n = strlen(path);

	if (!f)
		return;
	if (n >= sizeof(f->path)) {
		snprintf(f->note, sizeof(f->note), "path longer than %zu bytes not shown",
			 sizeof(f->path) - 1);
		return;
	}
	memcpy(f->path, path, n + 1);
}

const struct feat *sh_feat_find(const struct feat_set *s, const char *kind)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].kind, kind))
			return &s->f[i];
	return NULL;
}
