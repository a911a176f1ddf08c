#!/usr/bin/env bash
# Bring-up and shutdown of N services with loggers: tend-scan against daemontools' svscan.
#
# usage: bench/scan-bringup.sh [N]        (default 1000; svscan handles at most 1000)
#
# Each service's run script touches a marker and execs sleep; each logger is `cat`.
# Two rounds per scanner:
#   cold: the scan dir is full when the scanner starts;
#   hot:  the scanner runs on an empty dir and the services are renamed in from dot-dirs.
# A round ends when every run script has touched its marker. Then the scanner is stopped:
# tend-scan by SIGTERM (it stops everything and exits); svscan has no shutdown, so it is
# killed and every service is taken down with daemontools' `svc -dx`.
# Uses target/release if built, else target/debug (TEND_BIN=dir overrides). Not a test.
set -euo pipefail

N=${1:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TEND_BIN:-$root/target/release}
[ -x "$bin/tend-scan" ] || bin=$root/target/debug
[ -x "$bin/tend-scan" ] && [ -x "$bin/tend-supervise" ] || {
	echo "scan-bringup: fatal: build tend first (cargo build --release)" >&2
	exit 100
}
svscan=/usr/bin/svscan
dsvc=/usr/bin/svc
have_svscan=1
[ -x "$svscan" ] && [ -x "$dsvc" ] || have_svscan=0

work=$(mktemp -d /tmp/scan-bench.XXXXXX)
scanner_pid=
scanner_kind=

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f", $2 - $1 }'; }

# make_services DIR MARKERS PREFIX: N service dirs with loggers in DIR, named PREFIX1...
make_services() {
	local dir=$1 markers=$2 prefix=$3 i d
	mkdir -p "$dir" "$markers"
	for i in $(seq "$N"); do
		d=$dir/$prefix$i
		mkdir -p "$d/log"
		printf '#!/bin/sh\n: >%s/s%d\nexec sleep 100000\n' "$markers" "$i" >"$d/run"
		printf '#!/bin/sh\nexec cat >/dev/null\n' >"$d/log/run"
		chmod 755 "$d/run" "$d/log/run"
	done
}

# wait_markers DIR LIMIT_SECONDS: until DIR holds N files.
wait_markers() {
	local end=$(($(date +%s) + $2))
	while [ "$(find "$1" -type f | wc -l)" -lt "$N" ]; do
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "scan-bringup: only $(find "$1" -type f | wc -l) of $N services started within $2 s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# cpu PID: user+system clock ticks used so far.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

start_scanner() { # KIND DIR
	scanner_kind=$1
	case $1 in
	tend) "$bin/tend-scan" -t 5s "$2" >/dev/null 2>"$work/$1.err" & ;;
	svscan) (cd "$2" && exec "$svscan" .) >/dev/null 2>"$work/$1.err" & ;;
	esac
	scanner_pid=$!
}

# stop_scanner DIR: stops the scanner and everything under it; sets down_time.
stop_scanner() {
	local dir=$1 t0 sups
	t0=$(now)
	case $scanner_kind in
	tend)
		kill -TERM "$scanner_pid"
		wait "$scanner_pid" || true
		;;
	svscan)
		sups=$(cat "/proc/$scanner_pid/task/$scanner_pid/children" 2>/dev/null || true)
		kill -TERM "$scanner_pid"
		wait "$scanner_pid" 2>/dev/null || true
		(cd "$dir" && "$dsvc" -dx ./* ./*/log) 2>/dev/null || true
		for p in $sups; do
			while kill -0 "$p" 2>/dev/null; do sleep 0.02; done
		done
		;;
	esac
	scanner_pid=
	down_time=$(elapsed "$t0" "$(now)")
}

cleanup() {
	if [ -n "$scanner_pid" ]; then
		stop_scanner "$work/current" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

round() { # KIND MODE
	local kind=$1 mode=$2 dir=$work/$1-$2 markers=$work/$1-$2.markers t0 t1 ticks
	if [ "$mode" = cold ]; then
		make_services "$dir" "$markers" s
	else
		make_services "$dir" "$markers" .s
	fi
	ln -sfn "$dir" "$work/current"
	t0=$(now)
	start_scanner "$kind" "$dir"
	if [ "$mode" = hot ]; then
		sleep 1 # let the scanner settle on the (visibly) empty dir
		t0=$(now)
		perl -e 'rename("$ARGV[0]/.s$_", "$ARGV[0]/s$_") or die "$!\n" for 1 .. $ARGV[1]' "$dir" "$N"
	fi
	wait_markers "$markers" 120
	t1=$(now)
	ticks=$(cpu "$scanner_pid")
	printf '%-7s %-4s  up: %7ss  scanner cpu: %5s ticks  ' "$kind" "$mode" "$(elapsed "$t0" "$t1")" "$ticks"
	stop_scanner "$dir"
	printf 'down: %ss\n' "$down_time"
	rm -rf "$dir" "$markers"
}

echo "$N services with loggers; tend from $bin"
round tend cold
round tend hot
if [ "$have_svscan" = 1 ]; then
	round svscan cold
	round svscan hot
else
	echo "svscan: not installed (apt-get install daemontools), skipped"
fi
