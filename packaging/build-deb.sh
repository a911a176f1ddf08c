#!/bin/sh
# packaging/build-deb.sh: build the Debian package target/debian/tend_VERSION_ARCH.deb
# with a release build, install.sh and plain dpkg-deb (no debhelper, no cargo-deb).
#
#   packaging/build-deb.sh            # builds with cargo first
#   NO_BUILD=1 packaging/build-deb.sh # uses target/release as it is
#
# The package: programs in /usr/sbin (daemontools owns /usr/bin/svc, svok, svstat; in
# root's PATH /usr/sbin comes first, and tend's tools drive daemontools' supervisors
# too, so the two packages install side by side without Conflicts); man pages in
# /usr/share/man, with svc, svok and svstat as svc.8tend.gz ... (man 8tend svc);
# /etc/tend/logging.conf as a conffile, loggers running as the system user _tend-log;
# an empty /etc/rc; /lib/systemd/system/tend.service.
set -eu
cd "$(dirname "$0")/.."

if [ -z "${NO_BUILD:-}" ]; then
	cargo build --release
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
[ -n "$version" ] || {
	echo "build-deb.sh: fatal: unable to find the version in Cargo.toml" >&2
	exit 100
}
stage="target/debian/tend_${version}_$arch"
deb="$stage.deb"
rm -rf "$stage" "$deb"
mkdir -p "$stage"

DESTDIR="$stage" PREFIX=/usr BINDIR=/usr/sbin SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
	LOG_USER=_tend-log MANSUFFIX=tend GZIP_MAN=1 ./install.sh

doc="$stage/usr/share/doc/tend"
install -d "$doc"
gzip -9n <README.md >"$doc/README.md.gz"
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: tend"
	echo
	echo "Files: *"
	echo "License: MIT"
} >"$doc/copyright"
chmod 0644 "$doc/README.md.gz" "$doc/copyright"

install -d "$stage/DEBIAN"
for script in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/tend/logging.conf >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: tend
Version: $version
Architecture: $arch
Maintainer: tend maintainers <maintainers@tend.invalid>
Installed-Size: $size
Depends: passwd
Section: admin
Priority: optional
Description: process supervision in the daemontools / runit / s6 family
 tend keeps daemons running and their output logged: a scanner (tend-scan) runs
 a supervisor (tend-supervise) for every service dir of /var/service, and a
 logger (tend-log) for each service writes timestamped, rotated files under
 /var/log. svactivate copies service dirs from /etc/rc into /var/service in one
 atomic step and waits for their supervisors; svc, svok, svstat and svwait
 control and query them, also daemontools' and runit's.
EOF
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
