#!/bin/sh
# install.sh: install tend's release build, man pages, logging policy and systemd unit.
#
#   cargo build --release && sudo ./install.sh
#   DESTDIR=/tmp/stage PREFIX=/usr ./install.sh      # staged, as packagers do
#
# Variables (environment), with their defaults:
#   DESTDIR=            staging root prepended to every path below
#   PREFIX=/usr/local
#   BINDIR=$PREFIX/sbin tend and its programs' links (admin tools; /usr/sbin comes before /usr/bin in
#                       root's PATH and clashes with no file of daemontools or runit)
#   MANDIR=$PREFIX/share/man
#   SYSCONFDIR=/etc     the logging policy goes to $SYSCONFDIR/tend/logging.conf
#   RCDIR=$SYSCONFDIR/rc  the install dir, created empty
#   UNITDIR=$PREFIX/lib/systemd/system   tend.service
#   LOG_USER=           the policy's `user` (empty: loggers run as root)
#   SVPREFIX=           if set (Debian: tend-), svc, svok and svstat, the names daemontools
#                       also uses, are installed as ${SVPREFIX}svc ..., links and man pages
#                       alike (tend answers to tend-svc too); the package points the plain
#                       names at them with update-alternatives
#   GZIP_MAN=           if set, man pages are compressed with gzip -9n
#   TARGET=target/release  where the built executable `tend` is
#
# install.sh builds nothing. An existing logging.conf is kept (the new one is installed
# beside it as logging.conf.new), so re-running it never overwrites an admin's policy.
set -eu
cd "$(dirname "$0")"

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/sbin}
MANDIR=${MANDIR:-$PREFIX/share/man}
SYSCONFDIR=${SYSCONFDIR:-/etc}
RCDIR=${RCDIR:-$SYSCONFDIR/rc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
LOG_USER=${LOG_USER:-}
SVPREFIX=${SVPREFIX:-}
GZIP_MAN=${GZIP_MAN:-}
TARGET=${TARGET:-target/release}

die() {
	echo "install.sh: fatal: $*" >&2
	exit 111
}

# One executable, `tend`, is every program: each is a link to it named after the program
# (one per file of bins/src/prog).
[ -x "$TARGET/tend" ] || die "unable to find $TARGET/tend: run cargo build --release first"
progs=
for src in bins/src/prog/*.rs; do
	progs="$progs $(basename "$src" .rs)"
done

# The name to install program or man page $1 as: daemontools' names get $SVPREFIX.
installed_name() {
	case "$1" in
	svc | svok | svstat | svc.8 | svok.8 | svstat.8) echo "$SVPREFIX$1" ;;
	*) echo "$1" ;;
	esac
}

# Fills in @BINDIR@ and @LOG_USER@.
subst() {
	sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@LOG_USER@|$LOG_USER|g" -e "s/ = $/ =/" "$1"
}

install -d "$DESTDIR$BINDIR"
install -m 0755 "$TARGET/tend" "$DESTDIR$BINDIR/tend"
for prog in $progs; do
	ln -sf tend "$DESTDIR$BINDIR/$(installed_name "$prog")"
done

for page in man/*.[1-8]; do
	sec=${page##*.}
	name=$(installed_name "$(basename "$page")")
	install -d "$DESTDIR$MANDIR/man$sec"
	if [ -n "$GZIP_MAN" ]; then
		gzip -9n <"$page" >"$DESTDIR$MANDIR/man$sec/$name.gz"
		chmod 0644 "$DESTDIR$MANDIR/man$sec/$name.gz"
	else
		install -m 0644 "$page" "$DESTDIR$MANDIR/man$sec/$name"
	fi
done

install -d "$DESTDIR$SYSCONFDIR/tend" "$DESTDIR$RCDIR"
conf="$DESTDIR$SYSCONFDIR/tend/logging.conf"
if [ -e "$conf" ]; then
	subst packaging/logging.conf >"$conf.new"
	chmod 0644 "$conf.new"
	echo "install.sh: info: kept $conf; the new default is $conf.new" >&2
else
	subst packaging/logging.conf >"$conf"
	chmod 0644 "$conf"
fi

install -d "$DESTDIR$UNITDIR"
subst packaging/tend.service >"$DESTDIR$UNITDIR/tend.service"
chmod 0644 "$DESTDIR$UNITDIR/tend.service"
