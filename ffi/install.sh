#!/usr/bin/env bash
# Installs the C library: PREFIX/lib/libfaasin.{so,a}, PREFIX/include/faasin.h
# and PREFIX/lib/pkgconfig/faasin.pc, so that
#   cc app.c $(pkg-config --cflags --libs faasin)
# works (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a non-system PREFIX).
#
# usage: ffi/install.sh [PREFIX]     (default /usr/local; DESTDIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
case $prefix in /*) ;; *) echo "install.sh: PREFIX must be absolute: $prefix" >&2; exit 2 ;; esac
dest=${DESTDIR:-}$prefix

cargo build --release -q -p faasin-ffi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# What a static link of a Rust library needs from the system, as rustc
# reports it (--print native-static-libs) for this toolchain.
private_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

install -d "$dest/lib/pkgconfig" "$dest/include"
install -m 0755 target/release/libfaasin.so "$dest/lib/libfaasin.so"
install -m 0644 target/release/libfaasin.a "$dest/lib/libfaasin.a"
install -m 0644 include/faasin.h "$dest/include/faasin.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" -e "s|@PRIVATE_LIBS@|$private_libs|" \
    ffi/faasin.pc.in >"$dest/lib/pkgconfig/faasin.pc"
echo "installed libfaasin $version into $dest"
