#!/usr/bin/env bash
# Build static release binaries into dist/tinyftpd-<arch> (the default build)
# and dist/tinyftpd-tls-<arch> (`--features tls`, FTPS).
#
#   scripts/build-release.sh [ARCH...]     ARCH: x86_64 aarch64 armv7 (default: all)
#
# All targets are musl and linked with rust-lld (see .cargo/config.toml); no C
# cross toolchain is needed. Fails if a binary is not static and stripped, if
# the x86_64 default binary is over the size budget (SIZE_BUDGET, default
# 1 MiB) or if a TLS binary is over TLS_SIZE_BUDGET (default 2.5 MiB).
# TLS=0 builds the default binaries only.
#
# The TLS build compiles ring's C and assembly with clang --target=<triple>
# (installed when missing and run as root): clang cross-compiles to every
# target without a sysroot, which ring supports for musl (it adds
# -nostdlibinc), and llvm-ar archives objects of any architecture.
#
# If rustup cannot install rust-std for armv7-unknown-linux-musleabihf (some
# dist mirrors lack it), armv7 is built with `cargo +nightly -Zbuild-std`
# against Debian's musl armhf (scripts/musl-armhf-sysroot.sh), unless
# ARMV7_BUILD_STD=0.
set -euo pipefail

cd "$(dirname "$0")/.."

SIZE_BUDGET=${SIZE_BUDGET:-1048576}
TLS_SIZE_BUDGET=${TLS_SIZE_BUDGET:-2621440}
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

# build ARCH TRIPLE [CARGO_ARGS...]: leaves the binary at target/.../release/tinyftpd,
# prints its path
build() {
    local arch=$1 triple=$2
    shift 2
    if add_target "$triple"; then
        cargo build --release --locked --target "$triple" "$@" >&2
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
            -Zbuild-std=std,panic_unwind --target-dir target/build-std "$@" >&2
        echo "target/build-std/$triple/release/tinyftpd"
    else
        return 1
    fi
}

# build_tls ARCH TRIPLE: build with --features tls, ring's C compiled by clang
# (CC_/AR_<triple> are read by the cc crate for that target only)
build_tls() (
    local t=${2//[-.]/_}
    export "CC_$t=clang" "AR_$t=llvm-ar"
    build "$1" "$2" --features tls
)

need_pkgs=()
command -v file >/dev/null || need_pkgs+=(file)
if [[ ${TLS:-1} != 0 ]]; then
    command -v clang >/dev/null || need_pkgs+=(clang)
    command -v llvm-ar >/dev/null || need_pkgs+=(llvm)
fi
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y "${need_pkgs[@]}" >&2
    else
        echo "build-release: missing tools; run: apt-get install -y ${need_pkgs[*]}" >&2
        exit 1
    fi
fi

# check ARCH FILE BUDGET: static, stripped, and (BUDGET > 0) not over BUDGET bytes
check() {
    local arch=$1 out=$2 budget=$3 desc size
    desc=$(file -b "$out")
    size=$(stat -c %s "$out")
    echo "$out: $desc"
    echo "$out: $size bytes"
    if ! grep -qE 'statically linked|static-pie linked' <<<"$desc"; then
        report+=("FAIL $arch: $out is not statically linked")
        failed=1
    elif grep -q 'not stripped' <<<"$desc"; then
        report+=("FAIL $arch: $out is not stripped")
        failed=1
    elif ((budget > 0 && size > budget)); then
        report+=("FAIL $arch: $out: $size bytes is over the budget of $budget")
        failed=1
    else
        report+=("ok   $arch: $out: $size bytes")
    fi
}

arches=("$@")
((${#arches[@]})) || arches=(x86_64 aarch64 armv7)

mkdir -p dist
failed=0
report=()
for arch in "${arches[@]}"; do
    triple=$(triple_of "$arch")
    echo "== $arch ($triple)" >&2
    if bin=$(build "$arch" "$triple"); then
        cp "$bin" "dist/tinyftpd-$arch"
        budget=0
        [[ $arch == x86_64 ]] && budget=$SIZE_BUDGET
        check "$arch" "dist/tinyftpd-$arch" "$budget"
    else
        report+=("FAIL $arch: build failed")
        failed=1
    fi
    [[ ${TLS:-1} == 0 ]] && continue
    echo "== $arch ($triple), --features tls" >&2
    rm -f "dist/tinyftpd-tls-$arch" # no stale binary for the smoke to test if this fails
    if bin=$(build_tls "$arch" "$triple"); then
        cp "$bin" "dist/tinyftpd-tls-$arch"
        check "$arch" "dist/tinyftpd-tls-$arch" "$TLS_SIZE_BUDGET"
    else
        report+=("FAIL $arch: TLS build failed")
        failed=1
    fi
done

printf '%s\n' "${report[@]}"
exit "$failed"
