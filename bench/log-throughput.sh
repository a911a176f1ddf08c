#!/usr/bin/env bash
# Throughput of tend-log against multilog, svlogd and s6-log (and the `cat | cat >file`
# floor): LINES lines of 100 bytes each, through each logger with timestamps and rotation,
# TRIALS times; prints a markdown table of medians with a byte-exact integrity check.
#
# Usage: bench/log-throughput.sh            (from anywhere; builds tend-log --release)
# Environment: CARGO_LOCK (the lock file around the build; /tmp/tend-cargo.lock), LINES (2000000), TRIALS (3), BENCH_DIR (where input and logdirs go;
# default a fresh dir under /dev/shm if it exists, else under /tmp), KEEP=1 keeps it,
# TEND_LOG_BEFORE (another tend-log binary, e.g. an older commit's, measured in the same
# run as a row of its own), PATTERNS=1 (each logger selects lines with the same three
# patterns: svlogd's `-*`, `+* x*`, `-*1 x*`, and for s6-log the equivalent regexes
# `.*`, `^[^ ]* x`, `^[^1]*1 x`; every line goes through all three; the check compares
# with the lines `grep -v '^[^1]*1 x'` keeps).
# multilog matches the stamp too, so its patterns skip it first: `+* * x*`, `-* *1 x*`.
set -euo pipefail

LINES=${LINES:-2000000}
TRIALS=${TRIALS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BENCH_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
WORK=$(mktemp -d "$BASE/tend-bench.XXXXXX")
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

for tool in multilog svlogd s6-log /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench: missing $tool" >&2; exit 111; }
done

# Never two cargo builds at once on the shared machine.
(cd "$ROOT" && flock "${CARGO_LOCK:-/tmp/tend-cargo.lock}" cargo build --release -q -p tend --bin tend)
# The one executable runs as tend-log by that name.
ln -sf tend "$ROOT/target/release/tend-log"
TEND_LOG=$ROOT/target/release/tend-log

# The input: "000000042 xxxx...x\n", 100 bytes a line, generated once.
INPUT=$WORK/input
awk -v n="$LINES" 'BEGIN {
	pad = sprintf("%89s", ""); gsub(/ /, "x", pad)
	for (i = 0; i < n; i++) printf "%09d %s\n", i, pad
}' >"$INPUT"
BYTES=$(stat -c %s "$INPUT")

# name::command (LOGDIR stands for the logdir). Each runs as `cat input | command`.
LOGGERS=(
	"cat \\| cat >file (floor)::cat >LOGDIR/current"
	"tend-log -s 16M (ISO stamps)::$TEND_LOG -s 16M -n 1000 LOGDIR"
	"multilog t s16777215::multilog t s16777215 n1000 LOGDIR"
	"svlogd -ttt (s16777215)::svlogd -ttt LOGDIR"
	"s6-log T s16777215::s6-log n1000 s16777215 T LOGDIR"
)
if [ -n "${TEND_LOG_BEFORE:-}" ]; then
	LOGGERS+=("tend-log before -s 16M (ISO stamps)::$TEND_LOG_BEFORE -s 16M -n 1000 LOGDIR")
fi
EXPECTED=$INPUT
SVLOGD_RULES=""
if [ "${PATTERNS:-0}" = 1 ]; then
	EXPECTED=$WORK/expected
	grep -v '^[^1]*1 x' "$INPUT" >"$EXPECTED"
	SVLOGD_RULES='-*\n+* x*\n-*1 x*\n'
	LOGGERS=(
		"tend-log -s 16M, 3 patterns::$TEND_LOG -s 16M -n 1000 -r '-*' -r '+* x*' -r '-*1 x*' LOGDIR"
		"multilog t s16777215, 3 patterns::multilog t s16777215 n1000 '-*' '+* * x*' '-* *1 x*' LOGDIR"
		"svlogd -ttt, 3 patterns::svlogd -ttt LOGDIR"
		"s6-log T s16777215, 3 regexes::s6-log n1000 s16777215 '-.*' '+^[^ ]* x' '-^[^1]*1 x' T LOGDIR"
	)
fi

# Concatenates archives (oldest first) and current, cuts each line's stamp off (its
# width found on the first line) and compares with the input.
check() {
	local dir=$1 first width
	first=$(head -n 1 "$EXPECTED")
	width=$(head -n 1 "$dir/current" 2>/dev/null | awk -v l="$first" '{ print index($0, l) - 1 }')
	if [ -n "$(ls "$dir" | grep '^@' | head -n 1)" ]; then
		width=$(head -n 1 "$dir/$(ls "$dir" | grep '^@' | sort | head -n 1)" | awk -v l="$first" '{ print index($0, l) - 1 }')
	fi
	[ "${width:--1}" -ge 0 ] || { echo "no first line"; return; }
	if (cd "$dir" && cat $(ls | grep '^@' | sort) current) | cut -b "$((width + 1))-" | cmp -s - "$EXPECTED"; then
		echo "ok (stamp $width B)"
	else
		echo "MISMATCH"
	fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "Input: $LINES lines, $BYTES bytes; $TRIALS trials each; logdirs in $BASE; $(nproc) cores."
echo
echo "| logger | MB/s | lines/s | CPU s (user+sys) | elapsed s | integrity |"
echo "|---|---:|---:|---:|---:|---|"
for entry in "${LOGGERS[@]}"; do
	name=${entry%%::*}
	cmd=${entry#*::}
	elapsed=() cpu=() verdict=""
	for trial in $(seq "$TRIALS"); do
		dir=$WORK/logdir
		rm -rf "$dir" && mkdir "$dir"
		[ "${name#svlogd}" != "$name" ] && printf "s16777215\\nn1000\\n$SVLOGD_RULES" >"$dir/config"
		run=${cmd//LOGDIR/$dir}
		start=$(date +%s.%N)
		# Only the logger is timed for CPU; elapsed covers the whole pipeline.
		cat "$INPUT" | /usr/bin/time -f "%U %S" -o "$WORK/time" sh -c "exec $run"
		end=$(date +%s.%N)
		elapsed+=("$(echo "$end - $start" | bc -l)")
		cpu+=("$(awk '{ print $1 + $2 }' "$WORK/time")")
		if [ "$trial" = 1 ]; then
			if [ "${name#cat}" != "$name" ]; then
				cmp -s "$dir/current" "$INPUT" && verdict="ok (no stamps)" || verdict="MISMATCH"
			else
				verdict=$(check "$dir")
			fi
		fi
		rm -rf "$dir"
	done
	e=$(printf '%s\n' "${elapsed[@]}" | median)
	c=$(printf '%s\n' "${cpu[@]}" | median)
	awk -v n="$name" -v b="$BYTES" -v l="$LINES" -v e="$e" -v c="$c" -v v="$verdict" \
		'BEGIN { printf "| %s | %.0f | %.0f | %.2f | %.2f | %s |\n", n, b / e / 1e6, l / e, c, e, v }'
done
