# Sourced by the scripts whose tests run containers (cli/test.sh,
# examples/lambda/test.sh): installs docker.io if there is no dockerd, starts
# dockerd if no daemon answers and stops it again when the script exits.
# Fails if Docker cannot be had: container tests are not optional.
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
        echo "dockerd did not start; last lines of $log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
fi
