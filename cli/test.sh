#!/usr/bin/env bash
# The runner (runner/, the engine; cli/, the `faasin` binary): installs
# redis-server if missing (the store transports' tests run a real one),
# lints, unit and integration tests with processes, then the Docker tests:
# installs docker.io if there is no dockerd, starts dockerd if no daemon
# answers (and stops it again at the end), builds the local image
# (cli/images/build.sh) and runs the container tests. Fails if Docker cannot
# be had: the container tests are part of the suite, not optional.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# --transport redis (cli/tests/store.rs) needs a real redis-server.
source scripts/lib/need-redis.sh
# Chains across nodes (cli/tests/across.rs) put two nodes in two network
# namespaces (iproute2, nsenter) and invoke them with curl.
if ! command -v ip >/dev/null || ! command -v curl >/dev/null; then
    echo "--- installing iproute2 and curl"
    DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 iproute2 curl >/dev/null
fi

cargo fmt --all --check
cargo clippy -p faasin-runner -p faasin-platform -p faasin-cli --all-targets -- -D warnings
cargo build --release -q -p faasin --example peer
cargo test --release -p faasin-runner -p faasin-platform -p faasin-cli -p faasin-chains-bench

log=${TMPDIR:-/tmp}/faasin-dockerd.log
started=""
stop_dockerd() {
    if [[ -n $started ]]; then
        kill "$started" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$started" 2>/dev/null || break; sleep 0.2; done
    fi
}
trap stop_dockerd EXIT

if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null; then
        echo "--- installing docker.io"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
        apt-get install -y -q -o DPkg::Lock::Timeout=300 docker.io >/dev/null
    fi
    echo "--- starting dockerd (log: $log)"
    # Chains run with --network none: no bridge or iptables rules needed.
    dockerd --iptables=false --ip6tables=false --bridge=none >"$log" 2>&1 &
    started=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$started" 2>/dev/null || break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "cli/test.sh: dockerd did not start; last lines of $log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
fi
echo "--- docker $(docker version --format '{{.Server.Version}}')"
bash cli/images/build.sh
# One at a time: they look for leftover containers by name.
cargo test --release -p faasin-cli --test docker --test serve_docker -- --ignored --test-threads=1
