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

source scripts/lib/need-docker.sh
echo "--- docker $(docker version --format '{{.Server.Version}}')"
bash cli/images/build.sh
# One at a time: they look for leftover containers by name.
cargo test --release -p faasin-cli --test docker --test serve_docker -- --ignored --test-threads=1
