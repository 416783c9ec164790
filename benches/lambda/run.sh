#!/usr/bin/env bash
# A chain of three Python Lambda handlers under `faasin serve`: (a) each
# result handed on as the next stage's event, as Lambda chains do today,
# against (b) the same stages streaming through faasin/faasout; one stage
# under AWS's emulator for reference. Prints a table.
# One command, from anywhere:  bash benches/lambda/run.sh   (env: ROUNDS)
# Builds the emulator (Go module proxy, cached), installs awslambdaric and
# maturin (pip) and this tree's Python binding. Raw output:
# target/bench-results/lambda/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

source scripts/lib/need-rie.sh
python3 -m pip install -q awslambdaric==4.2.2 maturin
cargo build --release -q -p faasin-cli
python3 -m pip install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python
export FAASIN_BIN=$PWD/target/release/faasin PYTHONPATH=$PWD/scripts/lib
export OUT=$PWD/target/bench-results/lambda
rm -rf "$OUT"
mkdir -p "$OUT"
echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 900 python3 benches/lambda/bench.py | tee "$OUT/table.md"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
