#!/usr/bin/env bash
# One hop between two nodes: node a and node b are two network namespaces
# joined by a veth pair (as in cli/tests/across.rs), Redis runs on b. Prints
# a table of medians (hop.rs says what each column moves). Needs root;
# installs redis-server if missing; leaves nothing behind.
#
# Usage: benches/across/run.sh    (env: REPS, default 7; SIZES in MiB)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/need-redis.sh
reps=${REPS:-7}
sizes=${SIZES:-1 16 256}
cargo build --release -q -p faasin-across-bench

tag=fhop$$
a=$tag-a b=$tag-b
redis_pid=""
cleanup() {
    if [[ -n $redis_pid ]]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    for ns in "$a" "$b"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    return 0
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add "${tag}a" type veth peer name "${tag}b"
ip link set "${tag}a" netns "$a"
ip link set "${tag}b" netns "$b"
ip -n "$a" addr add 10.214.0.1/30 dev "${tag}a"
ip -n "$b" addr add 10.214.0.2/30 dev "${tag}b"
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
done
ip -n "$a" link set "${tag}a" up
ip -n "$b" link set "${tag}b" up

nsenter --net="/run/netns/$b" redis-server --bind 10.214.0.2 --port 6390 \
    --save "" --appendonly no --protected-mode no >/dev/null &
redis_pid=$!
for _ in $(seq 50); do
    nsenter --net="/run/netns/$b" redis-cli -h 10.214.0.2 -p 6390 ping >/dev/null 2>&1 && break
    sleep 0.1
done

echo "One hop, medians of $reps ($(nproc) CPUs, veth between two network namespaces):"
# shellcheck disable=SC2086
nsenter --net="/run/netns/$a" target/release/hop "/run/netns/$b" 10.214.0.2 10.214.0.2:6390 "$reps" $sizes
