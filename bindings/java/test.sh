#!/usr/bin/env bash
# Java binding: the Rust unit tests of the JNI crate, then `mvn package`,
# which builds the native library with cargo (native/build.sh), runs the
# JUnit tests under -Xcheck:jni and builds the jar; then checks that the
# jar's library has no test-only entry points, and runs the examples in
# examples/java. Run from anywhere; called from the repo root by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CARGO_TERM_COLOR=never

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
    apt-get update -q
    apt-get install -y -q maven openjdk-17-jdk-headless
fi

cargo test -q -p faasin-jni --release

(cd bindings/java && mvn -B -ntp package)
jar=$root/bindings/java/target/faasin-0.1.0.jar
[[ -f $jar ]]

echo "=== the jar's native library has no test hooks"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && jar xf "$jar" native)
symbols=$(nm -D --defined-only "$tmp"/native/*/libfaasin_jni.so)
grep -q Java_io_faasin_Native_endOpen <<<"$symbols"
if grep -q NativeTestHooks <<<"$symbols"; then
    echo "the jar's libfaasin_jni.so exports test-only entry points" >&2
    exit 1
fi

echo "=== examples/java"
bash examples/java/run.sh "$jar"
