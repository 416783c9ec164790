#!/usr/bin/env bash
# Builds the two local Docker images the container tests of Lambda functions
# run (nothing can be pulled here): faasin-lambda-python (the host's Python
# 3.11 with awslambdaric and the faasin package from the venv given) and
# faasin-lambda-java (the host's JDK 17 with the runtime interface client,
# the faasin jar and the handlers compiled into CLASSES). Each also has
# /bin/faasin, the host of the runtime, and exactly the shared libraries
# `ldd` says the binaries need; the handlers are in /var/task.
#
#   examples/lambda/images/build.sh VENV JAVA_LIB JAVA_CLASSES
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=$1 java_lib=$2 java_classes=$3
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
jdk=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")

# Copies the libraries the ELF files given need, at the paths the loader
# looks for them (the loader too), symlinks resolved.
libs_for() {
    local root=$1
    shift
    for lib in $(ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

# A fresh root with /bin/faasin and a /tmp for its handoff socket.
new_root() {
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/var/task"
    chmod 1777 "$root/tmp"
    objcopy --strip-debug target/release/faasin "$root/bin/faasin"
    libs_for "$root" target/release/faasin
    echo "$root"
}

import() {
    local root=$1 image=$2
    tar -C "$root" -c . | docker import -m "faasin: $image" - "$image:latest" >/dev/null
    echo "built $image ($(du -sh "$root" | cut -f1))"
    rm -rf "$root"
}

cargo build --release -q -p faasin-cli

root=$(new_root)
mkdir -p "$root/usr/bin" "$root/usr/lib/python3/dist-packages"
cp -L /usr/bin/python3.11 "$root/usr/bin/python3"
cp -a /usr/lib/python3.11 "$root/usr/lib/"
rm -rf "$root/usr/lib/python3.11/test" "$root/usr/lib/python3.11/idlelib" "$root/usr/lib/python3.11/tkinter"
for p in awslambdaric faasin simplejson runtime_client* snapshot_restore_py.py; do
    cp -a "$site"/$p "$root/usr/lib/python3/dist-packages/"
done
cp examples/lambda/python/*.py "$root/var/task/"
libs_for "$root" /usr/bin/python3.11 $(find "$root/usr/lib" -name '*.so*')
import "$root" faasin-lambda-python

root=$(new_root)
mkdir -p "$root/opt" "$root/var/task/lib"
cp -a "$jdk" "$root/opt/java"
rm -rf "$root/opt/java/"{jmods,docs,include,man}
# Debian's JDK links to /etc and elsewhere: those become copies, and links
# to what is not installed (its sources) go.
find "$root/opt/java" -type l | while read -r link; do
    real=$(readlink -f "$link" || true)
    rm "$link"
    if [[ -e $real ]]; then cp -rL "$real" "$link"; fi
done
cp "$java_lib"/*.jar "$root/var/task/lib/"
cp -r "$java_classes"/. "$root/var/task/"
# The jars' own native libraries (the client's, faasin's) need theirs too.
jni=$(mktemp -d)
# (unzip fails on a jar without native code: nothing to add.)
for jar in "$java_lib"/*.jar; do unzip -q -o "$jar" '*.so' -d "$jni/$(basename "$jar")" 2>/dev/null || true; done
libs_for "$root" "$root/opt/java/bin/java" $(find "$root/opt/java/lib" "$jni" -name '*.so')
rm -rf "$jni"
import "$root" faasin-lambda-java
