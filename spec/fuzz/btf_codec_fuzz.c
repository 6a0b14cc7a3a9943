// SPDX-License-Identifier: GPL-2.0
/*
 * spec/fuzz/btf_codec_fuzz.c: libFuzzer harness for BTF the object chooses. The input is a
 * raw BTF blob (what an object's .BTF section holds): btf__new parses it, sh_btf_validate
 * must refuse whatever the codec cannot walk safely, and for BTF it accepts every type id goes
 * through the codec: plan (sh_codec_get), decode bytes taken from the input (sh_codec_push),
 * encode the Lua value back (sh_codec_encode) and sum two slots (sh_codec_sum). A Lua error
 * is an acceptable outcome; a crash, a sanitizer report or a broken round trip is not.
 *
 * The round trip that must hold: decoding normalises (strings stop at their NUL, bools become
 * true/false, padding is dropped), so encode(decode(x)) need not be x, but it is a fixed
 * point: encode(decode(y)) == y for y = encode(decode(x)).
 *
 * One Lua state for the whole run, made on the first input; everything else is per input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include "btf/codec.h"
#include "btf/validate.h"

/* Values larger than this are planned but not decoded (a valid BTF may declare huge arrays). */
#define VALUE_MAX (64 * 1024)

struct round {
	const struct sh_codec *c;
	size_t size;
	unsigned char *in, *once, *twice;
};

static lua_State *L;

/* Lua side of one type: decode in, encode it (once), decode and encode that again (twice). */
static int round_trip(lua_State *L)
{
	struct round *r = lua_touserdata(L, 1);

	sh_codec_push(L, r->c, r->in);
	sh_codec_encode(L, -1, r->c, r->once, "fuzz value");
	sh_codec_push(L, r->c, r->once);
	sh_codec_encode(L, -1, r->c, r->twice, "fuzz value again");
	return 0;
}

static void fill(unsigned char *buf, size_t n, const uint8_t *data, size_t size, __u32 seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = data[(i + seed) % size];
}

static void one_type(struct sh_codec_cache *cache, __u32 id, const uint8_t *data, size_t size)
{
	struct round r = { 0 };
	char err[256];

	r.c = sh_codec_get(cache, id, err, sizeof(err));
	if (!r.c)
		return;
	r.size = sh_codec_size(r.c);
	if (!r.size || r.size > VALUE_MAX)
		return;
	r.in = malloc(r.size);
	r.once = malloc(r.size);
	r.twice = malloc(r.size);
	if (!r.in || !r.once || !r.twice)
		goto out_free;
	fill(r.in, r.size, data, size, id);
	lua_pushcfunction(L, round_trip);
	lua_pushlightuserdata(L, &r);
	if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
		if (memcmp(r.once, r.twice, r.size)) {
			fprintf(stderr, "btf_codec_fuzz: type [%u]: encode(decode(y)) != y\n", id);
			abort();
		}
	} else {
		lua_pop(L, 1); /* a Lua error is fine: the value could not be encoded */
	}
	/* per-CPU sum of the input and the encoded slot: must stay inside both buffers */
	sh_codec_sum(r.c, r.in, r.once);
out_free:
	free(r.in);
	free(r.once);
	free(r.twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sh_codec_cache *cache;
	char err[256];
	struct btf *btf;

	if (!L) {
		L = luaL_newstate();
		if (!L)
			abort();
		luaL_openlibs(L);
		libbpf_set_print(NULL); /* the fuzzer makes libbpf warn on most inputs */
	}
	if (!size)
		return 0;
	btf = btf__new(data, size);
	if (!btf)
		return 0;
	if (sh_btf_validate(btf, err, sizeof(err)))
		goto out_btf;
	cache = sh_codec_cache_new(btf);
	if (!cache)
		goto out_btf;
	for (__u32 id = 1; id < btf__type_cnt(btf); id++)
		one_type(cache, id, data, size);
	sh_codec_cache_free(cache);
out_btf:
	btf__free(btf);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
