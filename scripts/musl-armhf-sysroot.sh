#!/usr/bin/env bash
# Prepare link inputs for armv7-unknown-linux-musleabihf when rustup has no
# rust-std for that target (its self-contained crt objects, libc.a and
# libunwind.a are then missing). Used by build-release.sh together with
# `cargo +nightly -Zbuild-std`.
#
#   scripts/musl-armhf-sysroot.sh OUTDIR [TOOLCHAIN]
#
# OUTDIR receives crt1.o crti.o crtn.o libc.a (Debian's musl-dev:armhf),
# empty crtbegin.o/crtend.o (musl needs nothing from them), and libunwind.a
# compiled with clang from the LLVM libunwind sources in TOOLCHAIN's rust-src.
# Only the compiler is clang; linking is still done by rust-lld.
set -euo pipefail

out=${1:?usage: $0 OUTDIR [TOOLCHAIN]}
toolchain=${2:-nightly}
triple=armv7-unknown-linux-musleabihf

if [[ -f $out/.complete ]]; then
    exit 0
fi

die() { echo "musl-armhf-sysroot: $*" >&2; exit 1; }

need_pkgs=()
command -v clang >/dev/null || need_pkgs+=(clang)
command -v llvm-ar >/dev/null || need_pkgs+=(llvm)
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing tools; run: apt-get install -y ${need_pkgs[*]}"
    apt-get install -y "${need_pkgs[@]}" >&2
fi

if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    [[ $(id -u) -eq 0 ]] || die "run as root: dpkg --add-architecture armhf && apt-get update"
    dpkg --add-architecture armhf
    apt-get update >&2 || echo "musl-armhf-sysroot: apt-get update reported errors; trying on" >&2
fi

sysroot=$(rustc "+$toolchain" --print sysroot)
unwind_src=$sysroot/lib/rustlib/src/rust/src/llvm-project/libunwind
if [[ ! -d $unwind_src ]]; then
    rustup component add rust-src --toolchain "$toolchain" >&2
fi
[[ -d $unwind_src ]] || die "no libunwind sources in $toolchain's rust-src"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get -o APT::Sandbox::User=root download musl-dev:armhf >&2)
dpkg-deb -x "$tmp"/musl-dev_*_armhf.deb "$tmp/root"
musl_lib=$tmp/root/usr/lib/arm-linux-musleabihf
musl_inc=$tmp/root/usr/include/arm-linux-musleabihf

mkdir -p "$out"
cp "$musl_lib"/{crt1.o,crti.o,crtn.o,rcrt1.o,Scrt1.o,libc.a} "$out"/

cflags=(--target="$triple" -nostdinc -isystem "$musl_inc"
    -isystem "$(clang -print-resource-dir)/include" -I"$unwind_src/include"
    -O2 -fPIC -funwind-tables -fvisibility=hidden -fstrict-aliasing
    -D_LIBUNWIND_IS_NATIVE_ONLY -D_LIBUNWIND_DISABLE_VISIBILITY_ANNOTATIONS -DNDEBUG)

: >"$tmp/empty.c"
clang --target="$triple" -c "$tmp/empty.c" -o "$out/crtbegin.o"
cp "$out/crtbegin.o" "$out/crtend.o"

objs=()
for f in UnwindLevel1.c UnwindLevel1-gcc-ext.c Unwind-sjlj.c; do
    clang "${cflags[@]}" -std=c99 -c "$unwind_src/src/$f" -o "$tmp/${f%.*}.o"
    objs+=("$tmp/${f%.*}.o")
done
for f in Unwind-EHABI.cpp libunwind.cpp; do
    clang++ "${cflags[@]}" -std=c++17 -nostdinc++ -fno-exceptions -fno-rtti \
        -c "$unwind_src/src/$f" -o "$tmp/${f%.*}.o"
    objs+=("$tmp/${f%.*}.o")
done
for f in UnwindRegistersRestore.S UnwindRegistersSave.S; do
    clang "${cflags[@]}" -c "$unwind_src/src/$f" -o "$tmp/${f%.*}.o"
    objs+=("$tmp/${f%.*}.o")
done
rm -f "$out/libunwind.a"
llvm-ar rcs "$out/libunwind.a" "${objs[@]}"
touch "$out/.complete"
