#!/usr/bin/env bash
# Builds libfaasin_jni.so for this host with cargo and puts it, without its
# debug info, at CLASSES/native/<os>-<arch>/libfaasin_jni.so: the jar layout
# that Loader.java looks for. Maven runs it (pom.xml) for the jar's classes
# and, with `--features test-hooks`, for the test classes, which come first
# on the test classpath. Further arguments go to cargo.
set -euo pipefail
classes=$1
shift
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

cargo build --release -p faasin-jni --manifest-path "$root/Cargo.toml" "$@"

# The names Loader.platform() derives from os.name and os.arch.
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
os=$(uname -s | tr '[:upper:]' '[:lower:]')
dest="$classes/native/$os-$arch"
mkdir -p "$dest"
target="${CARGO_TARGET_DIR:-$root/target}"
# The release profile keeps debug info for profiling; the jar does not need it.
objcopy --strip-debug "$target/release/libfaasin_jni.so" "$dest/libfaasin_jni.so.tmp"
mv -f "$dest/libfaasin_jni.so.tmp" "$dest/libfaasin_jni.so"
