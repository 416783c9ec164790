#!/usr/bin/env bash
# `faasin serve` under HTTP load: a warm 3-function chain over FAASIN rings
# against the same functions passing payloads or going through Redis, the
# same chain in `faasin run --warm`, Ray tasks, and a 60-second soak.
# One command, from anywhere:  bash benches/platform/run.sh
# Env: ROUNDS (default 3), SOAK_SECONDS (default 60).
# Installs wrk and redis-server (apt), ray and numpy (pip), and this tree's
# Python binding (for the Python chain). Raw output, table.md and
# summary.json: target/bench-results/platform/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

source scripts/lib/need-redis.sh
if ! command -v wrk >/dev/null; then
    echo "--- installing wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 wrk >/dev/null
fi
need=()
for mod in ray numpy maturin; do
    python3 -c "import $mod" 2>/dev/null || need+=("$mod")
done
if ((${#need[@]})); then
    echo "--- installing ${need[*]}" >&2
    python3 -m pip install -q "${need[@]}"
fi

cargo build --release -q -p faasin-cli
python3 -m pip install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python
export PATH=$PWD/target/release:$PATH
export OUT=target/bench-results/platform
rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "kernel: $(uname -r)"
    echo "wrk: $(wrk --version 2>&1 | head -1)"
    echo "redis: $(redis-server --version)"
    echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

timeout 900 python3 benches/platform/bench.py
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
