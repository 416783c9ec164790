#!/usr/bin/env bash
# One command for the side-by-side transport comparison (BENCHMARKS.md):
# installs redis-server and matplotlib if missing, builds the `compare` binary
# with the peer libraries, starts a throwaway redis-server on 127.0.0.1 on a
# free port (no persistence), runs the comparison, stops redis, and draws
# docs/img/throughput.png. Run from anywhere; settings via the COMPARE_*
# variables documented in benches/src/bin/compare/main.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/need-redis.sh
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    echo "installing matplotlib" >&2
    python3 -m pip install -q matplotlib
fi

cargo build --release -p faasin-benches --features peers --bin compare

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$redis_dir" --daemonize no --loglevel warning >"$redis_dir/log" 2>&1 &
redis_pid=$!
cleanup() {
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -rf "$redis_dir"
}
trap cleanup EXIT
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
done
kill -0 "$redis_pid" 2>/dev/null || { cat "$redis_dir/log" >&2; exit 1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "redis: $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$port"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
REDIS_PORT=$port timeout 900 target/release/compare
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 benches/plot.py target/bench-results/compare.json docs/img/throughput.png
