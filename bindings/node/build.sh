#!/usr/bin/env bash
# Builds the native addon with cargo and puts it where index.js loads it
# (or at OUT, given as the first argument; further arguments go to cargo).
# No @napi-rs/cli: cargo and a copy are all a fresh machine needs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/faasin.node}"
shift || true
cd "$here/../.."
cargo build --release -p faasin-node "$@"
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$(dirname "$out")"
cp -f "$target/release/libfaasin_node.so" "$out.tmp"
mv -f "$out.tmp" "$out"
