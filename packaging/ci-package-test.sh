#!/bin/sh
# packaging/ci-package-test.sh: build the Debian package from debian/ with
# `dpkg-buildpackage -us -uc -b`, lint it (any lintian error or warning fails), install it
# on this machine with dpkg, activate a service from /etc/rc under a tend-scan this script
# starts, check that its log lands in /var/log/NAME owned by _tend-log, that an ordinary
# user's svstat works, and that svc, svok and svstat are daemontools' or tend's as they
# should be; then remove everything again (dpkg -P, the service, its logdir, the user if
# this script made it, the build's files: ../tend_VERSION_ARCH.deb, .changes, .buildinfo).
#
# With daemontools installed (as on CI), it also removes daemontools under the installed
# tend and puts it back from its .deb (apt-get download), so both orders are tested:
# tend after daemontools, and daemontools after tend.
#
# Needs root and a Debian system with debhelper, lintian, dpkg-dev; run by .ci/run after
# the tests. Every wait is bounded.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

say() { echo "ci-package-test: $*" >&2; }
die() {
	say "fatal: $*"
	exit 1
}
installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

[ "$(id -u)" = 0 ] || die "needs root (it installs the package with dpkg)"
! installed tend || die "a tend package is installed already; not touching it"
for prog in svc svok svstat; do
	! update-alternatives --query "$prog" >/dev/null 2>&1 ||
		die "update-alternatives has a $prog group already; not touching it"
done

name="tend-ci-$$"
rc="/etc/rc/$name"
logdir="/var/log/$name"
[ ! -e "$rc" ] && [ ! -e "$logdir" ] || die "$rc or $logdir exists already"
user_existed=no
getent passwd _tend-log >/dev/null && user_existed=yes
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
# dpkg-buildpackage writes into the parent of the source tree.
out="$(dirname "$top")/tend_${version}_$arch"
deb="$out.deb"
work=$(mktemp -d /tmp/tend-ci-package.XXXXXX)
# An ordinary user must reach the service dir, for svstat.
chmod 755 "$work"
sv="$work/sv"
scan_pid=
daemontools_deb=
daemontools_removed=no

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
	if installed tend; then
		dpkg -P tend >/dev/null 2>&1 || say "warning: dpkg -P tend failed"
	fi
	if [ "$daemontools_removed" = yes ]; then
		dpkg -i "$daemontools_deb" >/dev/null 2>&1 || say "warning: unable to reinstall daemontools"
	fi
	[ "$user_existed" = yes ] || userdel _tend-log 2>/dev/null
	rm -f "$out.deb" "$out.changes" "$out.buildinfo"
	(cd "$top" && debian/rules clean >/dev/null 2>&1) || say "warning: debian/rules clean failed"
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

# Runs a command as nobody, with an ordinary user's PATH (Debian's ENV_PATH).
as_user() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin SVDIR="$sv" "$@"
}

# svc, svok and svstat: tend's alternatives are registered either way; the plain names are
# daemontools' untouched files where it is installed, links to tend (and man pages to
# tend-svc.8.gz ...) where not. svstat, as an ordinary user finds it in PATH, works: tend's
# svstat, or where daemontools' (whose svstat only root gets an answer from) holds the name,
# tend-svstat.
check_sv_names() {
	for prog in svc svok svstat; do
		update-alternatives --query "$prog" | grep -qx "Value: /usr/bin/tend-$prog" ||
			die "the $prog alternative is not tend-$prog: $(update-alternatives --query "$prog")"
		page="/usr/share/man/man8/$prog.8.gz"
		if installed daemontools; then
			[ -f "/usr/bin/$prog" ] && [ ! -L "/usr/bin/$prog" ] && [ ! -L "$page" ] ||
				die "/usr/bin/$prog or $page is no longer daemontools' file"
		else
			[ "$(readlink -f "/usr/bin/$prog")" = /usr/bin/tend ] ||
				die "/usr/bin/$prog does not lead to tend"
			[ "$(readlink -f "$page")" = "/usr/share/man/man8/tend-$prog.8.gz" ] ||
				die "$page does not lead to tend-$prog.8.gz"
		fi
	done
	if installed daemontools; then
		dpkg -V daemontools || die "tend changed daemontools' files"
		svstat=tend-svstat
	else
		svstat=svstat
	fi
	found=$(as_user sh -c "command -v $svstat") || die "an ordinary user has no $svstat in PATH"
	[ "$(readlink -f "$found")" = /usr/bin/tend ] || die "$found, an ordinary user's $svstat, is not tend"
	line=$(as_user "$svstat" "$name") || die "$svstat $name as an ordinary user failed: $line"
	case "$line" in
	"$name: up (pid "*) ;;
	*) die "unexpected line from $svstat $name as an ordinary user: $line" ;;
	esac
	say "ok: svc, svok, svstat with daemontools $(installed daemontools && echo installed || echo absent); $svstat in an ordinary user's PATH says: $line"
}

start=$(date +%s)
dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || {
	cat "$work/build.log" >&2
	die "dpkg-buildpackage failed"
}
say "built $deb in $(($(date +%s) - start)) s"
size=$(dpkg-deb -f "$deb" Installed-Size)
say "Installed-Size: $size KiB"
[ "$size" -le 2048 ] || die "Installed-Size $size KiB is over 2048 KiB"
# As root, lintian says it would rather not be; it checks the same.
lintian --fail-on error,warning "$out.changes" || die "lintian found errors or warnings"
say "lintian: no error, no warning"
dpkg -i "$deb" >/dev/null 2>"$work/dpkg.err" || {
	cat "$work/dpkg.err" >&2
	die "dpkg -i $deb failed"
}

# What the package installed.
for prog in tend tend-scan tend-supervise tend-log tend-svc tend-svok tend-svstat svwait svactivate svdeactivate; do
	[ -x "/usr/bin/$prog" ] || die "/usr/bin/$prog is missing"
done
for page in man7/tend.7 man8/tend.8 man8/svactivate.8 man8/svdeactivate.8 man8/tend-scan.8 man8/tend-svc.8; do
	[ -f "/usr/share/man/$page.gz" ] || die "/usr/share/man/$page.gz is missing"
done
[ -d /etc/rc ] || die "/etc/rc is missing"
[ -f /lib/systemd/system/tend.service ] || die "tend.service is missing"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no /lib/systemd/system/tend.service || die "systemd-analyze rejects tend.service"
fi
dpkg-query -W -f '${Conffiles}\n' tend | grep -q '^ /etc/tend/logging.conf ' ||
	die "/etc/tend/logging.conf is not a conffile"
grep -q '^logger = /usr/bin/tend-log$' /etc/tend/logging.conf || die "logging.conf does not name /usr/bin/tend-log"
grep -q '^user = _tend-log$' /etc/tend/logging.conf || die "logging.conf does not name _tend-log"
getent passwd _tend-log >/dev/null || die "the _tend-log user was not created"

# A service installed as a package would: it says hello, then sleeps.
mkdir -p "$rc"
printf '#!/bin/sh\nexec 2>&1\necho "hello from %s"\nexec sleep 1000\n' "$name" >"$rc/run"
chmod 755 "$rc/run"

mkdir -p "$sv"
SVDIR="$sv" /usr/bin/tend-scan "$sv" >"$work/scan.out" 2>"$work/scan.err" &
scan_pid=$!

SVDIR="$sv" /usr/bin/svactivate -t 20s "$name" || die "svactivate failed"
SVDIR="$sv" /usr/bin/tend-svok "$name" || die "svok: no supervisor on $name after svactivate"
grep -q "^exec /usr/bin/tend-log -u _tend-log -s 1M -n 10 $logdir\$" "$sv/$name/log/run" ||
	die "unexpected $sv/$name/log/run: $(cat "$sv/$name/log/run")"
wait_for "the log line in $logdir/current" grep -q "Z hello from $name\$" "$logdir/current"
[ "$(stat -c %U "$logdir/current")" = _tend-log ] || die "$logdir/current is not owned by _tend-log"

check_sv_names
# The other order: daemontools goes (its names come back to tend, by the package's
# trigger) and comes back (its files take the names again).
if installed daemontools; then
	mkdir "$work/apt"
	chown _apt "$work/apt" 2>/dev/null || true
	(cd "$work/apt" && apt-get download -qq daemontools) >/dev/null 2>&1 ||
		die "unable to download daemontools' .deb (apt-get download daemontools)"
	daemontools_deb=$(echo "$work"/apt/daemontools_*.deb)
	[ -f "$daemontools_deb" ] || die "apt-get download left no daemontools .deb"
	dpkg -r daemontools >/dev/null 2>&1 || die "dpkg -r daemontools failed"
	daemontools_removed=yes
	check_sv_names
	dpkg -i "$daemontools_deb" >/dev/null 2>&1 || die "unable to reinstall daemontools"
	daemontools_removed=no
	check_sv_names
else
	say "daemontools is not installed: only tend's own names are checked"
fi

SVDIR="$sv" /usr/bin/svdeactivate -t 20s "$name" || die "svdeactivate failed"
[ ! -e "$sv/$name" ] && [ ! -e "$sv/.$name.removing" ] || die "$name is still in $sv"
grep -q "hello from $name" "$logdir/current" || die "the logdir did not survive svdeactivate"

# Removal gives the names back: no alternatives left, daemontools' files as they were.
rm -rf "$rc"
dpkg -P tend >/dev/null 2>&1 || die "dpkg -P tend failed"
for prog in svc svok svstat; do
	! update-alternatives --query "$prog" >/dev/null 2>&1 || die "the $prog alternatives outlive tend"
	if installed daemontools; then
		[ -f "/usr/bin/$prog" ] && [ ! -L "/usr/bin/$prog" ] || die "/usr/bin/$prog is gone with tend"
	else
		[ ! -e "/usr/bin/$prog" ] && [ ! -L "/usr/bin/$prog" ] || die "/usr/bin/$prog outlives tend"
	fi
done
if installed daemontools; then
	dpkg -V daemontools || die "removing tend changed daemontools' files"
fi
[ ! -e /etc/rc ] || [ -n "$(ls -A /etc/rc)" ] || die "/etc/rc outlives tend, empty"

say "ok: the package builds lint-free, installs, activates $name, logs to $logdir, deactivates, leaves daemontools' files alone, purges ($(($(date +%s) - start)) s)"
