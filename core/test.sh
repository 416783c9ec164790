#!/usr/bin/env bash
# Core crate: format, lints, docs, unit/integration/multi-process tests, loom.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
# The whole workspace with default features, then core with all of its own
# (tokio). The benches' `peers` feature (iceoryx2, shmem-ipc: minutes of
# compiling) is built by benches/compare.sh only.
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p faasin --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p faasin --no-deps --all-features -q
cargo test -p faasin --all-features --release
# Loom model of the wait loop over the index and wake-up protocol (the
# shipped code of wait.rs and ring.rs, with condition variables for the
# socket and the pipe), bounded to three preemptions (loom's usual bound; unbounded
# exploration does not finish in CI).
LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p faasin --lib --release loom
# The benchmarks build and run one iteration each (not a measurement).
cargo bench -p faasin-benches --bench transports -- --test
cargo bench -p faasin-benches --bench message_path -- --test
cargo run --release -q -p faasin-benches --bin rtt_pair -- 2 200 >/dev/null
cargo run --release -q -p faasin-benches --bin ring_setup -- 1 2 >/dev/null
# The benches' own helpers (the host-state probe and its classification).
cargo test --release -q -p faasin-benches --lib
cargo run --release -q -p faasin-benches --bin host_state >/dev/null
# Miri on what Miri can run: the ring protocol's and the wait loop's unit
# tests, including two threads streaming through a heap ring (memfd, mmap
# and SCM_RIGHTS are beyond Miri, so the rest is covered natively above).
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add miri rust-src --toolchain nightly
fi
CARGO_TARGET_DIR=target/miri cargo +nightly miri test -p faasin --lib -- ring:: wait::
