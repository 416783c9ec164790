#!/bin/bash
# The copy loop A/B: the `compare` bench built at two commits, run in turns
# (faasin-copy rows only, 3 repetitions per run), so both builds meet the
# same host states. Builds go to /tmp/faasin-copy-ab/{old,new}.
# Usage: docs/bench/copy-loop-ab.sh [OLD_COMMIT] [NEW_COMMIT] [PAIRS]
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:-f14e97e}
new=${2:-14dd99b}
pairs=${3:-6}
dir=/tmp/faasin-copy-ab
mkdir -p "$dir"
for v in old new; do
    rev=${!v}
    if [ ! -x "$dir/$v/compare" ] || [ "$(cat "$dir/$v/rev" 2>/dev/null)" != "$rev" ]; then
        rm -rf "$dir/src-$v"
        git worktree add -f --detach "$dir/src-$v" "$rev" >/dev/null 2>&1
        (cd "$dir/src-$v" && CARGO_TARGET_DIR="$dir/target" cargo build -q --release -p faasin-benches --bin compare)
        mkdir -p "$dir/$v"
        cp "$dir/target/release/compare" "$dir/$v/compare"
        echo "$rev" >"$dir/$v/rev"
        git worktree remove --force "$dir/src-$v"
    fi
done
cargo build -q --release -p faasin-benches --bin host_state
echo "old = $old, new = $new; median GiB/s of 3 (min-max) for 4 KiB, 64 KiB and 1 MiB writes"
for i in $(seq "$pairs"); do
    for v in old new; do
        row=$(COMPARE_REPS=3 COMPARE_ROWS=faasin-copy "$dir/$v/compare" 2>/dev/null |
            grep '^| faasin-copy' | head -3 |
            awk -F'|' '{gsub(/ /, "", $3); gsub(/ /, "", $4); printf "%6s (%s) ", $3, $4}')
        echo "pair $i $v | $row| probe after: $(target/release/host_state 2>&1 | tail -1)"
    done
done
