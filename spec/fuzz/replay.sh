#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# spec/fuzz/replay.sh <fuzzer> <dir>...: run every file under the dirs through the fuzzer
# once (libFuzzer runs the files it is given as arguments once each, no fuzzing) and fail on
# a crash, showing the fuzzer's report. README files and dot files are not inputs.
set -eu
fuzzer=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for d in "$@"; do
	if [ -d "$d" ]; then
		find "$d" -type f ! -name 'README*' ! -name '.*' | sort >>"$work/list"
	fi
done
touch "$work/list"
n=$(wc -l <"$work/list")
echo "replay: $n inputs through $(basename "$fuzzer")"
[ "$n" -gt 0 ] || exit 0
# one fuzzer process per 200 files keeps the command lines short
status=0
xargs -n 200 -d '\n' "$fuzzer" -rss_limit_mb=2048 -timeout=60 <"$work/list" >"$work/log" 2>&1 ||
	status=$?
grep -v '^Running: \|^Executed .* in [0-9]* ms$\|^\*\*\* NOTE: fuzzing was not' "$work/log" || true
if [ "$status" -ne 0 ]; then
	echo "replay: FAILED (exit $status): an input above crashed $(basename "$fuzzer")"
	exit 1
fi
echo "replay: all $n inputs ran without a crash"
