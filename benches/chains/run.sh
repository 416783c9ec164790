#!/usr/bin/env bash
# Function chains through `faasin run`: the same functions over FAASIN rings,
# Redis (SET/GET, store and forward), files on tmpfs and plain pipes.
# One command, from anywhere:  bash benches/chains/run.sh
# Env: REPS (hop repetitions from 64 MiB, default 7), SMALL_REPS (under
#      64 MiB, default 15), CHAIN_REPS (10-function chain, default 11),
#      SIZES (bytes, default "1024 1048576 16777216 268435456"),
#      WARM_N (invocations per warm run, default 11; a third from 64 MiB),
#      WARM_ROUNDS (warm runs per transport and payload, default 2),
#      NO_PLOT=1 to skip the plot.
# Raw reports, tables and summary: target/bench-results/chains/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never

source scripts/lib/need-redis.sh
if [[ -z ${NO_PLOT:-} ]] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    echo "--- installing matplotlib"
    python3 -m pip install -q matplotlib
fi

cargo build --release -q -p faasin-cli -p faasin-chains-bench
# The host-state probe (benches/src/host_state.rs), run around every run.
cargo build --release -q -p faasin-benches --bin host_state
export PATH=$PWD/target/release:$PATH
export OUT=target/bench-results/chains
rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "redis: $(redis-server --version)"
    echo "/dev/shm: $(df -h --output=fstype,size /dev/shm | tail -1)"
    echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

timeout 900 python3 benches/chains/bench.py
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
if [[ -z ${NO_PLOT:-} ]]; then
    python3 benches/chains/plot.py "$OUT/summary.json" docs/img/chain_time.png
fi
