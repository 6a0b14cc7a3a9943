#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The embedding test against an installed sockhost: `cmake --install` into a temporary
# prefix, build spec/embed/embed_test.c with nothing but `pkg-config --cflags --libs
# sockhost` from that prefix, and run it against the installed shared library.
# usage: installed.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
prefix=$(mktemp -d /tmp/sockhost-embed-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name sockhost.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "installed.sh: no sockhost.pc was installed" >&2; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=sockhost_prefix="$prefix" \
	--cflags --libs sockhost)
cflags=${EMBED_CFLAGS:-}
echo "installed.sh: cc $cflags embed_test.c $flags"
cc $cflags -o "$prefix/embed_test" "$src/spec/embed/embed_test.c" $flags -lpthread
lib=$(find "$prefix" -name 'libsockhost.so' | head -n 1)
libdir=$(dirname "$lib")
# it must run the installed library, not the build tree's
LD_LIBRARY_PATH="$libdir" ldd "$prefix/embed_test" | grep -q "$libdir/libsockhost.so" ||
	{ echo "installed.sh: embed_test does not load $libdir/libsockhost.so" >&2; exit 1; }
LD_LIBRARY_PATH="$libdir" "$prefix/embed_test" "$src/spec/embed/embed.lua" \
	"$build/spec/fixtures/bad_verifier.bpf.o"
