# Sourced by the scripts that run a real redis-server (the runner's store
# tests, the chain and transport benchmarks): installs Debian's package if
# there is none on PATH.
if ! command -v redis-server >/dev/null; then
    echo "--- installing redis-server" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 redis-server >/dev/null
fi
