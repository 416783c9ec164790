#!/usr/bin/env bash
# Java binding: builds libfaasin_jni (cargo) and the Rust test peer, puts the
# library into the jar's resources, runs the JUnit tests under -Xcheck:jni
# (Maven), builds the jar, and runs the examples in examples/java.
# Run from anywhere; called from the repo root by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CARGO_TERM_COLOR=never

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
    apt-get update -q
    apt-get install -y -q maven openjdk-17-jdk-headless
fi

cargo test -q -p faasin-jni --release
cargo build -q --release -p faasin-jni
cargo build -q --release -p faasin --example peer
# The runner, for the warm-function tests (WarmTest).
cargo build -q --release -p faasin-cli

case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
res=bindings/java/target/native-resources/native/linux-$arch
mkdir -p "$res"
# The release profile keeps debug info for benchmarks; the jar does not need it.
objcopy --strip-debug target/release/libfaasin_jni.so "$res/libfaasin_jni.so"

(cd bindings/java && mvn -B -ntp package)
jar=$root/bindings/java/target/faasin-0.1.0.jar
[[ -f $jar ]]

echo "=== examples/java"
bash examples/java/run.sh "$jar"
