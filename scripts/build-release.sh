#!/usr/bin/env bash
# Build static release binaries into dist/tinyftpd-<arch>.
#
#   scripts/build-release.sh [ARCH...]     ARCH: x86_64 aarch64 armv7 (default: all)
#
# All targets are musl and linked with rust-lld (see .cargo/config.toml); no C
# cross toolchain is needed. Fails if a binary is not statically linked or if
# the x86_64 binary is over the size budget (SIZE_BUDGET, default 1 MiB).
#
# If rustup cannot install rust-std for armv7-unknown-linux-musleabihf (some
# dist mirrors lack it), armv7 is built with `cargo +nightly -Zbuild-std`
# against Debian's musl armhf (scripts/musl-armhf-sysroot.sh), unless
# ARMV7_BUILD_STD=0.
set -euo pipefail

cd "$(dirname "$0")/.."

SIZE_BUDGET=${SIZE_BUDGET:-1048576}
NIGHTLY=${NIGHTLY:-nightly}

triple_of() {
    case $1 in
        x86_64) echo x86_64-unknown-linux-musl ;;
        aarch64) echo aarch64-unknown-linux-musl ;;
        armv7) echo armv7-unknown-linux-musleabihf ;;
        *) echo "unknown arch '$1' (x86_64, aarch64, armv7)" >&2; return 1 ;;
    esac
}

add_target() {
    rustup target list --installed | grep -qx "$1" && return 0
    local log
    if ! log=$(rustup target add "$1" 2>&1); then
        grep -m1 '^error' <<<"$log" >&2
        return 1
    fi
}

# build ARCH TRIPLE: leaves the binary at target/.../release/tinyftpd, prints its path
build() {
    local arch=$1 triple=$2
    if add_target "$triple"; then
        cargo build --release --locked --target "$triple" >&2
        echo "target/$triple/release/tinyftpd"
    elif [[ $arch == armv7 && ${ARMV7_BUILD_STD:-1} != 0 ]]; then
        echo "build-release: no rust-std for $triple from rustup;" \
            "building std from source with $NIGHTLY (-Zbuild-std)" >&2
        local sc=target/musl-armhf-sysroot
        scripts/musl-armhf-sysroot.sh "$sc" "$NIGHTLY" >&2
        local var
        var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
        env "$var=-L native=$PWD/$sc" \
            cargo "+$NIGHTLY" build --release --locked --target "$triple" \
            -Zbuild-std=std,panic_unwind --target-dir target/build-std >&2
        echo "target/build-std/$triple/release/tinyftpd"
    else
        return 1
    fi
}

if ! command -v file >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y file >&2
    else
        echo "build-release: 'file' is missing; run: apt-get install -y file" >&2
        exit 1
    fi
fi

arches=("$@")
((${#arches[@]})) || arches=(x86_64 aarch64 armv7)

mkdir -p dist
failed=0
report=()
for arch in "${arches[@]}"; do
    triple=$(triple_of "$arch")
    echo "== $arch ($triple)" >&2
    if ! bin=$(build "$arch" "$triple"); then
        report+=("FAIL $arch: build failed")
        failed=1
        continue
    fi
    out=dist/tinyftpd-$arch
    cp "$bin" "$out"
    desc=$(file -b "$out")
    size=$(stat -c %s "$out")
    echo "$out: $desc"
    echo "$out: $size bytes"
    if ! grep -qE 'statically linked|static-pie linked' <<<"$desc"; then
        report+=("FAIL $arch: not statically linked")
        failed=1
    elif [[ $arch == x86_64 && $size -gt $SIZE_BUDGET ]]; then
        report+=("FAIL $arch: $size bytes is over the budget of $SIZE_BUDGET")
        failed=1
    else
        report+=("ok   $arch: $size bytes")
    fi
done

printf '%s\n' "${report[@]}"
exit "$failed"
