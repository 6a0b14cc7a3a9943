// SPDX-License-Identifier: GPL-2.0
/*
 * btf/names.c: BTF types by name and names of BTF types. sh_btf_find_type turns what a script
 * writes ("struct event", "event", "enum op", "u32", "__u64", "uint8_t") into a type id;
 * sh_btf_type_name gives the name messages use ("struct event", "u32", "char[16]"). Neither
 * keeps state; both only read the struct btf they are given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "btf/names.h"

/* ---- the peel ---------------------------------------------------------------------------- */

const struct btf_type *sh_btf_peel(const struct btf *btf, __u32 *id, unsigned int what)
{
	const struct btf_type *t = btf__type_by_id(btf, *id);

	for (int i = 0; t; i++) {
		bool skip = ((what & SH_PEEL_MODS) && btf_is_mod(t)) ||
			    ((what & SH_PEEL_TYPEDEFS) && btf_is_typedef(t)) ||
			    ((what & SH_PEEL_VARS) && btf_is_var(t));

		if (!skip)
			return t;
		if (i == SH_PEEL_MAX)
			return NULL;
		*id = t->type;
		t = btf__type_by_id(btf, *id);
	}
	return NULL;
}

/* ---- names ------------------------------------------------------------------------------- */

struct namebuf {
	char *buf;
	size_t len, used;
};

static void put(struct namebuf *nb, const char *s)
{
	int n;

	if (nb->used >= nb->len)
		return;
	n = snprintf(nb->buf + nb->used, nb->len - nb->used, "%s", s);
	nb->used = n < 0 ? nb->len : nb->used + (size_t)n;
}

static const char *anon(const char *name)
{
	return name && *name ? name : "(anon)";
}

/* "u32"-style name for the fixed-width typedef families (__u32, u32, uint32_t, s8, int8_t,
 * __s64 ...), else NULL. */
static const char *fixed_width_alias(const char *name, char *out, size_t len)
{
	const char *suffix = "_t";
	unsigned long bits;
	char sign, *end;

	if (!strncmp(name, "uint", 4)) {
		sign = 'u';
		name += 4;
	} else if (!strncmp(name, "int", 3)) {
		sign = 's';
		name += 3;
	} else {
		if (!strncmp(name, "__", 2))
			name += 2;
		if (name[0] != 'u' && name[0] != 's')
			return NULL;
		sign = *name++;
		suffix = "";
	}
	if (*name < '1' || *name > '9')
		return NULL;
	bits = strtoul(name, &end, 10);
	if (strcmp(end, suffix) || (bits != 8 && bits != 16 && bits != 32 && bits != 64))
		return NULL;
	snprintf(out, len, "%c%lu", sign, bits);
	return out;
}

static void put_name(struct namebuf *nb, const struct btf *btf, __u32 id, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const char *name;
	char tmp[32];

	t = sh_btf_peel(btf, &id, SH_PEEL_MODS);
	if (!t || depth > 32) {
		snprintf(tmp, sizeof(tmp), "<type %u>", id);
		put(nb, tmp);
		return;
	}
	name = btf__name_by_offset(btf, t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_UNKN:
		put(nb, "void");
		return;
	case BTF_KIND_INT:
		if (btf_int_encoding(t) & BTF_INT_BOOL) {
			put(nb, "bool");
		} else if (name && !strcmp(name, "char")) {
			put(nb, "char");
		} else {
			snprintf(tmp, sizeof(tmp), "%c%u",
				 btf_int_encoding(t) & BTF_INT_SIGNED ? 's' : 'u', btf_int_bits(t));
			put(nb, tmp);
		}
		return;
	case BTF_KIND_TYPEDEF:
		put(nb, name && fixed_width_alias(name, tmp, sizeof(tmp)) ? tmp : anon(name));
		return;
	case BTF_KIND_PTR:
		put_name(nb, btf, t->type, depth + 1);
		put(nb, " *");
		return;
	case BTF_KIND_ARRAY: {
		/* C order: u32 grid[2][3] is an array of 2 arrays of 3. */
		__u32 dims[32], ndims = 0, i;

		while (t && btf_is_array(t) && ndims < 32) {
			dims[ndims++] = btf_array(t)->nelems;
			id = btf_array(t)->type;
			t = sh_btf_peel(btf, &id, SH_PEEL_MODS);
		}
		put_name(nb, btf, id, depth + 1);
		for (i = 0; i < ndims; i++) {
			snprintf(tmp, sizeof(tmp), "[%u]", dims[i]);
			put(nb, tmp);
		}
		return;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_FWD:
		if (btf_is_union(t) || (btf_is_fwd(t) && btf_kflag(t)))
			put(nb, "union ");
		else if (btf_is_any_enum(t))
			put(nb, "enum ");
		else
			put(nb, "struct ");
		put(nb, anon(name));
		return;
	case BTF_KIND_FUNC_PROTO:
		put(nb, "func_proto");
		return;
	case BTF_KIND_FUNC:
		put(nb, "func ");
		break;
	case BTF_KIND_VAR:
		put(nb, "var ");
		break;
	case BTF_KIND_DATASEC:
		put(nb, "datasec ");
		break;
	default: /* float, decl_tag */
		break;
	}
	put(nb, anon(name));
}

const char *sh_btf_type_name(const struct btf *btf, __u32 type_id, char *buf, size_t len)
{
	struct namebuf nb = { buf, len, 0 };

	if (!len)
		return buf;
	buf[0] = '\0';
	put_name(&nb, btf, type_id, 0);
	return buf;
}

/* ---- lookup ------------------------------------------------------------------------------ */

static int find_kind(const struct btf *btf, const char *name, int kind)
{
	int id = btf__find_by_name_kind(btf, name, kind);

	return id > 0 ? id : -ENOENT;
}

/* Any plain INT of size bytes and the given signedness ("u32" in a BTF that only has
 * "unsigned int"); bool when is_bool. */
static int find_int(const struct btf *btf, __u32 size, bool is_signed, bool is_bool)
{
	__u32 id, cnt = btf__type_cnt(btf);

	for (id = 1; id < cnt; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		__u8 enc;

		if (!t || !btf_is_int(t) || t->size != size || btf_int_offset(t) ||
		    btf_int_bits(t) != size * 8)
			continue;
		enc = btf_int_encoding(t);
		if (is_bool ? (enc & BTF_INT_BOOL) != 0 :
			      !(enc & BTF_INT_BOOL) && !!(enc & BTF_INT_SIGNED) == is_signed)
			return (int)id;
	}
	return -ENOENT;
}

int sh_btf_find_type(const struct btf *btf, const char *name)
{
	static const int plain[] = { BTF_KIND_TYPEDEF, BTF_KIND_STRUCT, BTF_KIND_UNION,
				     BTF_KIND_ENUM,    BTF_KIND_ENUM64, BTF_KIND_INT,
				     BTF_KIND_FLOAT };
	char buf[128], alias[8];
	size_t len, i;
	int id;

	if (!btf || !name)
		return -EINVAL;
	while (*name == ' ' || *name == '\t')
		name++;
	len = strlen(name);
	while (len && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	if (!len)
		return -EINVAL;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, name, len);
	buf[len] = '\0';

	if (!strncmp(buf, "struct ", 7))
		return find_kind(btf, buf + 7 + strspn(buf + 7, " "), BTF_KIND_STRUCT);
	if (!strncmp(buf, "union ", 6))
		return find_kind(btf, buf + 6 + strspn(buf + 6, " "), BTF_KIND_UNION);
	if (!strncmp(buf, "enum ", 5)) {
		name = buf + 5 + strspn(buf + 5, " ");
		id = find_kind(btf, name, BTF_KIND_ENUM);
		return id > 0 ? id : find_kind(btf, name, BTF_KIND_ENUM64);
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		id = find_kind(btf, buf, plain[i]);
		if (id > 0)
			return id;
	}
	if (fixed_width_alias(buf, alias, sizeof(alias))) {
		unsigned int bits = (unsigned int)strtoul(alias + 1, NULL, 10);

		return find_int(btf, bits / 8, alias[0] == 's', false);
	}
	if (!strcmp(buf, "bool") || !strcmp(buf, "_Bool"))
		return find_int(btf, 1, false, true);
	return -ENOENT;
}
