#!/usr/bin/env bash
# Builds FAASIN's two images for the cluster from this host's binaries and
# imports them into every node (no registry): faasin/node:dev (the node
# service: faasin, its entrypoint, kubectl, a busybox shell) and
# faasin/peer:dev (the test function: core's `peer` example, which copies
# its faasin to its faasout and returns the bytes' SHA-256).
#
# Usage: deploy/k8s/images.sh    (after cargo build --release -p faasin-cli
#        and cargo build --release -p faasin --example peer)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}/release
kubectl=${KUBECTL:-$("$here/build.sh" | tail -n1)/kubectl}
busybox=$(command -v busybox) || { echo "images.sh: needs busybox (busybox-static)" >&2; exit 1; }
for f in "$target/faasin" "$target/examples/peer"; do
    [[ -x $f ]] || { echo "images.sh: $f is missing: build it first" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies a binary and the shared libraries it loads into a root.
with_libs() {
    local bin=$1 root=$2 to=$3 lib
    install -D -m 755 "$bin" "$root$to"
    for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
        [[ -e $root$lib ]] || install -D -m 755 "$lib" "$root$lib"
    done
}

# A root with a busybox shell, /tmp and the binaries given as SRC:DEST.
rootfs() {
    local root=$1 pair
    shift
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/run/faasin"
    chmod 1777 "$root/tmp"
    install -m 755 "$busybox" "$root/bin/busybox"
    for applet in sh sleep cat mkdir test [; do ln -sf busybox "$root/bin/$applet"; done
    echo "nobody:x:65534:65534:nobody:/:/bin/sh" >"$root/etc/passwd"
    for pair in "$@"; do with_libs "${pair%%:*}" "$root" "${pair#*:}"; done
}

rootfs "$work/node" "$target/faasin:/bin/faasin" "$kubectl:/bin/kubectl" \
    "$here/node-entrypoint.sh:/bin/faasin-node"
"$here/image.sh" faasin/node:dev "$work/node" /bin/faasin-node
rootfs "$work/peer" "$target/examples/peer:/bin/peer"
"$here/image.sh" faasin/peer:dev "$work/peer" /bin/sh
