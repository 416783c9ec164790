#!/usr/bin/env bash
# Fuzz targets: fmt and clippy, then a smoke run of each (libFuzzer through
# cargo-fuzz), FUZZ_SECONDS (default 45) per target, starting from the
# committed corpus. A crash, a hang (one input over 10 s) or running out of
# memory fails it, leaving the input in fuzz/artifacts/TARGET/. The
# committed corpus is only read; what the run finds goes to a scratch dir.
#
# cargo-fuzz needs a nightly compiler: the nightly toolchain if installed,
# else the stable one with RUSTC_BOOTSTRAP=1 (FUZZ_TOOLCHAIN=stable forces
# that).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-45}
cargo_fuzz_version=0.13.2

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi
if [[ $toolchain != nightly ]]; then
    export RUSTC_BOOTSTRAP=1
    # Its own build dir, so the two toolchains do not rebuild each other's.
    export CARGO_TARGET_DIR=target/$toolchain
fi
echo "fuzz: toolchain $toolchain ($(rustup run "$toolchain" rustc --version))"
if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $cargo_fuzz_version" ]]; then
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
fuzz() { cargo "+$toolchain" fuzz "$@"; }

cargo fmt --check
cargo clippy --all-targets -- -D warnings
fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
for t in $(fuzz list); do
    mkdir -p "$scratch/$t" "corpus/$t"
    log=$scratch/$t.log
    if fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz $t: $(grep -m1 -E '^#[0-9]+[[:space:]]+DONE' "$log")"
        passed=$((passed + 1))
    else
        tail -n 60 "$log"
        echo "fuzz: $passed passed, 1 failed (target $t)"
        exit 1
    fi
done
echo "fuzz: $passed passed, 0 failed"
