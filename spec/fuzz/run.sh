#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# spec/fuzz/run.sh <fuzzer> <seconds> <keep dir> <seed dir>...: fuzz for <seconds> from a
# fresh corpus dir plus the seed dirs (read only), in libFuzzer's fork mode so that a crash
# does not end the run, then sort each crash input: a crash inside libbpf's own parser (its
# report names bpf_object__open) or libbpf's fd leak when libelf refuses the file (the
# object's memfd left open) is known and only reported; anything else fails the test. Crash
# inputs are copied into <keep dir> for spec/fixtures/fuzz/. Prints one stats line.
set -eu
fuzzer=$1
secs=$2
keep=$3
shift 3
name=$(basename "$fuzzer")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/crashes" "$keep"
seeds=""
for d in "$@"; do
	[ -d "$d" ] && seeds="$seeds $d"
done
# shellcheck disable=SC2086 # the seed dirs are words
"$fuzzer" -fork=1 -ignore_crashes=1 -max_total_time="$secs" -rss_limit_mb=2048 \
	-artifact_prefix="$work/crashes/" "$work/corpus" $seeds >"$work/log" 2>&1 || true
stats=$(grep -E '^#[0-9]+: cov:' "$work/log" | tail -n 1)
if [ -z "$stats" ] || ! grep -q '^INFO: fuzzed for' "$work/log"; then
	tail -n 40 "$work/log"
	echo "fuzz-run: $name did not run to its time limit"
	exit 1
fi
known=0
own=0
for c in "$work"/crashes/*; do
	[ -f "$c" ] || continue
	cp "$c" "$keep/"
	"$fuzzer" "$c" >"$work/report" 2>&1 || true
	if grep -q 'in bpf_object__open' "$work/report" ||
		grep -q 'open_fuzz: fd .*/memfd:open_fuzz.bpf.o.* left open' "$work/report"; then
		known=$((known + 1))
	else
		own=$((own + 1))
		echo "fuzz-run: crash in sockhost: $keep/$(basename "$c")"
		grep -E 'ERROR|runtime error|open_fuzz:|btf_codec_fuzz:|^    #[0-9] ' "$work/report" |
			head -n 12
	fi
done
execs=$(echo "$stats" | sed 's/^#\([0-9]*\):.*/\1/')
echo "fuzz-run: $name: $execs executions in $secs s ($((execs / secs)) exec/s)," \
	"$own crashes in sockhost, $known known libbpf crashes (inputs in $keep)"
echo "fuzz-run: libFuzzer's last stats: $stats"
[ "$own" -eq 0 ]
