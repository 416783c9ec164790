#!/usr/bin/env bash
# Core crate: format, lints, docs, unit/integration/multi-process tests, loom.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p faasin --no-deps --all-features -q
cargo test -p faasin --all-features --release
