#!/usr/bin/env bash
# The main job: a real chain of three functions streaming 1 GiB through FAASIN
# rings, then the very same chain over plain OS pipes for comparison. Needs
# only Rust; builds what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${BYTES:-1073741824}
cargo build --release -q -p faasin-cli
cargo build --release -q -p faasin --example peer
export PATH="$PWD/target/release:$PWD/target/release/examples:$PATH"
mkdir -p target/demo

echo "== peer write | faasin cat | peer read, $BYTES bytes through two 1 MiB FAASIN rings"
faasin run --report target/demo/report-faasin.json "peer write $BYTES 7" 'faasin cat' 'peer read'
echo
echo "== the same chain over plain pipes (--transport pipe)"
faasin run --transport pipe --report target/demo/report-pipe.json "peer write $BYTES 7" 'faasin cat' 'peer read'
echo
echo "JSON reports: target/demo/report-faasin.json, target/demo/report-pipe.json"
