#!/usr/bin/env bash
# The whole test suite: what `.ci/run` runs and what README.md tells a newcomer
# to run. Installs what it needs; each component's own script does its part.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

components=(core/test.sh)
for c in ffi/test.sh bindings/python/test.sh bindings/node/test.sh bindings/java/test.sh cli/test.sh examples/pipelines/test.sh; do
    [[ -f $c ]] && components+=("$c")
done

start=$SECONDS
for c in "${components[@]}"; do
    echo "=== $c"
    t=$SECONDS
    bash "$c"
    echo "=== $c passed in $((SECONDS - t)) s"
done
echo "=== all ${#components[@]} components passed in $((SECONDS - start)) s"
