#!/usr/bin/env bash
# Builds the local Docker image that container chains use. Nothing can be
# pulled here, so the image is assembled from the host: the `faasin` binary
# (for `faasin cat`) and core's `peer` example, plus exactly the shared
# libraries `ldd` says they need, packed into a tarball and `docker import`ed.
# No shell or package manager is inside: commands must be argv arrays.
#
#   cli/images/build.sh            # builds faasin-tools:latest
#   IMAGE=myname cli/images/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
image=${IMAGE:-faasin-tools:latest}

cargo build --release -q -p faasin-cli -p faasin --example peer
bins=(target/release/faasin target/release/examples/peer)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp"
chmod 1777 "$root/tmp"
for b in "${bins[@]}"; do
    # Debug info is of no use inside the image and makes it 10x larger.
    objcopy --strip-debug "$b" "$root/bin/$(basename "$b")"
done
# Every library the binaries load, at the path the loader will look for it
# (the dynamic loader itself included); symlinks resolved to real files.
for lib in $(ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
tar -C "$root" -c . | docker import -m "faasin tools: faasin, peer" - "$image" >/dev/null
echo "built $image: $(cd "$root" && find . -type f | sort | tr '\n' ' ')"
