#!/usr/bin/env bash
# CI: build every fuzz target in one `cargo fuzz build`, run each for a fixed number of
# inputs from an empty corpus, and fail on any crash, hang or leak. Prints one line per
# target and a last line "N passed, M failed". Needs a C++ compiler (libfuzzer-sys builds
# libFuzzer); installs cargo-fuzz when missing. FUZZ_RUNS overrides the inputs per target,
# FUZZ_MAX_SECS the time limit per target.
set -euo pipefail
cd "$(dirname "$0")"

runs=${FUZZ_RUNS:-20000}
# A target that needs more than this for its runs fails as too slow: it bounds the step's
# time (20000 runs take 0.2 to 6 seconds per target on a 2-core machine).
max_secs=${FUZZ_MAX_SECS:-60}
# One input running this long is a hang, saved under artifacts/ like a crash.
input_secs=10

export RUSTC_BOOTSTRAP=1 # cargo-fuzz's nightly flags, on a stable toolchain
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz

host=$(rustc -vV | sed -n 's/^host: //p')
cargo fuzz build --target "$host"
bin=target/$host/release
targets=$(cargo fuzz list)
if [ -z "$targets" ]; then
	echo "fuzz: no targets listed" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The file-based targets (read_status, settings) keep a temp dir per process: in $work.
export TMPDIR=$work
passed=0 failed=0
for t in $targets; do
	mkdir -p "$work/$t" "artifacts/$t"
	log=$work/$t.log
	rc=0
	"$bin/$t" -runs="$runs" -max_total_time="$max_secs" -timeout="$input_secs" \
		-artifact_prefix="artifacts/$t/" "$work/$t" >"$log" 2>&1 || rc=$?
	done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
	done_secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
	seed=$(sed -n 's/^INFO: Seed: \([0-9]*\).*/\1/p' "$log")
	if [ "$rc" -eq 0 ] && [ "${done_runs:-0}" -ge "$runs" ]; then
		echo "fuzz $t: ok, $done_runs runs in $done_secs s (seed $seed)"
		passed=$((passed + 1))
		continue
	fi
	cp "$log" "artifacts/$t/ci.log"
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $t: FAILED, too slow: ${done_runs:-0} of $runs runs in $max_secs s (seed $seed)"
	else
		saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "fuzz $t: FAILED, exit $rc, input in fuzz/${saved:-artifacts/$t/} (seed $seed)"
		# Why: the panic message, the sanitizer's verdict, the input.
		{
			grep -m 1 -A 1 'panicked at' "$log" || true
			grep -m 1 'ERROR:' "$log" || true
			sed -n '/^SUMMARY/,$p' "$log"
		} | head -n 30 | sed "s/^/    $t: /"
	fi
	echo "    $t: all of libFuzzer's output: fuzz/artifacts/$t/ci.log"
	failed=$((failed + 1))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
