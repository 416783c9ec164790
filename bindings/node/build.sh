#!/usr/bin/env bash
# Builds the native addon with cargo and puts it where index.js loads it.
# No @napi-rs/cli: cargo and a copy are all a fresh machine needs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
cargo build --release -p faasin-node
target="${CARGO_TARGET_DIR:-target}"
cp -f "$target/release/libfaasin_node.so" "$here/faasin.node.tmp"
mv -f "$here/faasin.node.tmp" "$here/faasin.node"
