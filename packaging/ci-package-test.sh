#!/bin/sh
# packaging/ci-package-test.sh: build the Debian package, install it on this machine
# with dpkg, activate a service from /etc/rc under a tend-scan this script starts, check
# that its log lands in /var/log/NAME owned by _tend-log, deactivate it, and remove
# everything again (dpkg -P, the service, its logdir, the user if this script made it).
#
# Needs root and a Debian system; run by .ci/run after the tests. Every wait is bounded.
set -eu
cd "$(dirname "$0")/.."

say() { echo "ci-package-test: $*" >&2; }
die() {
	say "fatal: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (it installs the package with dpkg)"
if dpkg-query -W -f '${Status}' tend 2>/dev/null | grep -q installed; then
	die "a tend package is installed already; not touching it"
fi

name="tend-ci-$$"
rc="/etc/rc/$name"
logdir="/var/log/$name"
[ ! -e "$rc" ] && [ ! -e "$logdir" ] || die "$rc or $logdir exists already"
user_existed=no
getent passwd _tend-log >/dev/null && user_existed=yes
work=$(mktemp -d /tmp/tend-ci-package.XXXXXX)
sv="$work/sv"
scan_pid=

cleanup() {
	status=$?
	set +e
	if [ -n "$scan_pid" ]; then
		kill -TERM "$scan_pid" 2>/dev/null
		i=0
		while kill -0 "$scan_pid" 2>/dev/null && [ $i -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$scan_pid" 2>/dev/null
		wait "$scan_pid" 2>/dev/null
	fi
	rm -rf "$rc" "$logdir"
	dpkg -P tend >/dev/null 2>&1 || say "warning: dpkg -P tend failed"
	[ "$user_existed" = yes ] || userdel _tend-log 2>/dev/null
	[ $status -eq 0 ] || { say "tend-scan's stderr:"; cat "$work/scan.err" >&2 2>/dev/null; }
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT INT TERM

# Waits up to 20 seconds for a shell condition.
wait_for() {
	what=$1
	shift
	i=0
	until "$@"; do
		[ $i -lt 200 ] || die "timed out waiting for $what"
		sleep 0.1
		i=$((i + 1))
	done
}

start=$(date +%s)
deb=$(packaging/build-deb.sh)
say "built $deb in $(($(date +%s) - start)) s"
dpkg -i "$deb" >/dev/null

# What the package installed.
for prog in tend-scan tend-supervise tend-log svc svok svstat svwait svactivate svdeactivate; do
	[ -x "/usr/sbin/$prog" ] || die "/usr/sbin/$prog is missing"
done
for page in man7/tend.7 man8/svactivate.8 man8/svdeactivate.8 man8/tend-scan.8 man8/svc.8tend; do
	[ -f "/usr/share/man/$page.gz" ] || die "/usr/share/man/$page.gz is missing"
done
[ -d /etc/rc ] || die "/etc/rc is missing"
[ -f /lib/systemd/system/tend.service ] || die "tend.service is missing"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no /lib/systemd/system/tend.service || die "systemd-analyze rejects tend.service"
fi
dpkg-query -W -f '${Conffiles}\n' tend | grep -q '^ /etc/tend/logging.conf ' ||
	die "/etc/tend/logging.conf is not a conffile"
grep -q '^user = _tend-log$' /etc/tend/logging.conf || die "logging.conf does not name _tend-log"
getent passwd _tend-log >/dev/null || die "the _tend-log user was not created"
# daemontools' programs, if installed, are untouched.
if dpkg-query -W -f '${Status}' daemontools 2>/dev/null | grep -q installed; then
	dpkg -V daemontools || die "installing tend changed daemontools' files"
fi

# A service installed as a package would: it says hello, then sleeps.
mkdir -p "$rc"
printf '#!/bin/sh\nexec 2>&1\necho "hello from %s"\nexec sleep 1000\n' "$name" >"$rc/run"
chmod 755 "$rc/run"

mkdir -p "$sv"
SVDIR="$sv" /usr/sbin/tend-scan "$sv" >"$work/scan.out" 2>"$work/scan.err" &
scan_pid=$!

SVDIR="$sv" /usr/sbin/svactivate -t 20s "$name" || die "svactivate failed"
SVDIR="$sv" /usr/sbin/svok "$name" || die "svok: no supervisor on $name after svactivate"
grep -q "^exec /usr/sbin/tend-log -u _tend-log -s 1M -n 10 $logdir\$" "$sv/$name/log/run" ||
	die "unexpected $sv/$name/log/run: $(cat "$sv/$name/log/run")"
wait_for "the log line in $logdir/current" grep -q "Z hello from $name\$" "$logdir/current"
[ "$(stat -c %U "$logdir/current")" = _tend-log ] || die "$logdir/current is not owned by _tend-log"

SVDIR="$sv" /usr/sbin/svdeactivate -t 20s "$name" || die "svdeactivate failed"
[ ! -e "$sv/$name" ] && [ ! -e "$sv/.$name.removing" ] || die "$name is still in $sv"
grep -q "hello from $name" "$logdir/current" || die "the logdir did not survive svdeactivate"

say "ok: the package installs, activates $name, logs to $logdir, deactivates ($(($(date +%s) - start)) s)"
