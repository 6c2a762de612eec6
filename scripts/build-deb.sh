#!/usr/bin/env bash
# Build Debian packages from the static release binaries:
#
#   scripts/build-deb.sh [ARCH...]     ARCH: amd64 arm64 armhf (default: all three)
#
# writes dist/tinyftpd_<version>_<arch>.deb from dist/tinyftpd-<x86_64|aarch64|armv7>,
# running scripts/build-release.sh first for a binary that is missing. Plain dpkg-deb, no
# debhelper or cargo-deb: nothing to install beyond dpkg, one script for all three arches
# (the binaries are static, so nothing is cross-compiled here), and reproducible: every
# timestamp is SOURCE_DATE_EPOCH (default: the last commit's time), owners are root, gzip
# stores no name or time.
#
# Contents: /usr/sbin/tinyftpd, its man page (contrib/tinyftpd.8), the systemd units from
# contrib/ with the binary at /usr/sbin, /etc/default/tinyftpd (a conffile), the maintainer
# scripts, copyright and lintian overrides from contrib/deb/, and a changelog. The service is
# not enabled on install. lintian (not run here: slow) reports nothing beyond what README's
# Install section explains.
set -euo pipefail

cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[[ -n $version ]] || { echo "build-deb: no version in Cargo.toml" >&2; exit 1; }
maintainer=${DEB_MAINTAINER:-tinyftpd maintainers <tinyftpd@example.org>}
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

release_arch_of() {
    case $1 in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        armhf) echo armv7 ;;
        *) echo "build-deb: unknown arch '$1' (amd64, arm64, armhf)" >&2; return 1 ;;
    esac
}

units=(tinyftpd.service tinyftpd.socket tinyftpd-inetd.socket tinyftpd-inetd@.service)

# stage ARCH BINARY ROOT: lays the package tree out under ROOT.
stage() {
    local arch=$1 bin=$2 root=$3 doc=$3/usr/share/doc/tinyftpd
    install -d -m 755 "$root/DEBIAN" "$root/usr/sbin" "$root/usr/share/man/man8" \
        "$root/usr/lib/systemd/system" "$root/etc/default" "$doc"
    install -m 755 "$bin" "$root/usr/sbin/tinyftpd"
    gzip -9n <contrib/tinyftpd.8 >"$root/usr/share/man/man8/tinyftpd.8.gz"
    local unit
    for unit in "${units[@]}"; do
        # The units in contrib/ name /usr/local/bin, where a hand-installed binary goes.
        grep -q '/usr/local/bin/tinyftpd' "contrib/$unit" ||
            [[ $unit == *.socket ]] ||
            { echo "build-deb: contrib/$unit does not start /usr/local/bin/tinyftpd" >&2; return 1; }
        sed 's|/usr/local/bin/tinyftpd|/usr/sbin/tinyftpd|g' "contrib/$unit" \
            >"$root/usr/lib/systemd/system/$unit"
        chmod 644 "$root/usr/lib/systemd/system/$unit"
    done
    install -m 644 contrib/deb/default "$root/etc/default/tinyftpd"
    install -m 644 contrib/deb/copyright "$doc/copyright"
    install -D -m 644 contrib/deb/lintian-overrides "$root/usr/share/lintian/overrides/tinyftpd"
    {
        echo "tinyftpd ($version) unstable; urgency=medium"
        echo
        echo "  * Built by scripts/build-deb.sh from the tinyftpd sources;"
        echo "    the project's history has the changes."
        echo
        echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    } | gzip -9n >"$doc/changelog.gz"
    chmod 644 "$doc/changelog.gz" "$root/usr/share/man/man8/tinyftpd.8.gz"
    install -m 755 contrib/deb/postinst contrib/deb/prerm contrib/deb/postrm "$root/DEBIAN/"
    echo /etc/default/tinyftpd >"$root/DEBIAN/conffiles"
    (cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) \
        >"$root/DEBIAN/md5sums"
    local size
    size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    cat >"$root/DEBIAN/control" <<CONTROL
Package: tinyftpd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: adduser
Section: net
Priority: optional
Description: small, fast, secure FTP server that serves one directory
 tinyftpd serves one directory over FTP (RFC 959 with EPSV/EPRT, SIZE, MDTM,
 REST, MLSD/MLST and UTF8), anonymous and read-only unless told otherwise.
 It is one static binary with a path jail, chroot and privilege drop,
 systemd socket activation and an inetd mode.
 .
 The service is installed but not enabled: set the options in
 /etc/default/tinyftpd, then run "systemctl enable --now tinyftpd".
CONTROL
    chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

arches=("$@")
((${#arches[@]})) || arches=(amd64 arm64 armhf)

missing=()
for arch in "${arches[@]}"; do
    rel=$(release_arch_of "$arch")
    [[ -f dist/tinyftpd-$rel ]] || missing+=("$rel")
done
if ((${#missing[@]})); then
    echo "build-deb: building ${missing[*]} first (scripts/build-release.sh)" >&2
    # the packages hold the default build only: skip the TLS ones
    TLS=0 scripts/build-release.sh "${missing[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Modes come from install/chmod above; the umask keeps mkdir -p and friends at 755.
umask 022
for arch in "${arches[@]}"; do
    rel=$(release_arch_of "$arch")
    root=$work/$arch
    stage "$arch" "dist/tinyftpd-$rel" "$root"
    out=dist/tinyftpd_${version}_${arch}.deb
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
    echo "$out: $(stat -c %s "$out") bytes"
done
