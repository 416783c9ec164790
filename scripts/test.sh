#!/usr/bin/env bash
# The test suite: what `.ci/run` runs (no argument: every component) and what
# README.md tells a newcomer to run. Installs what it needs; each component's
# own script does its part.
#
# Usage: scripts/test.sh [component...]
#   a component by name (core, cli, ...) or by path (bindings/python,
#   cli/test.sh); components run in the order given.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# name:script, in the order of a full run (the bindings' scripts build what
# the pipelines use).
all=(
    core:core/test.sh
    ffi:ffi/test.sh
    python:bindings/python/test.sh
    node:bindings/node/test.sh
    java:bindings/java/test.sh
    cli:cli/test.sh
    lambda:examples/lambda/test.sh
    lambda-conformance:examples/lambda/conformance/test.sh
    pipelines:examples/pipelines/test.sh
    k8s:deploy/k8s/test.sh
    fuzz:fuzz/test.sh
)

script_of() {
    local arg=${1%/} entry
    arg=${arg#./}
    for entry in "${all[@]}"; do
        local name=${entry%%:*} script=${entry#*:}
        if [[ $arg == "$name" || $arg == "$script" || $arg == "$(dirname "$script")" ]]; then
            echo "$script"
            return
        fi
    done
    return 1
}

components=()
if (($# == 0)); then
    for entry in "${all[@]}"; do components+=("${entry#*:}"); done
else
    for arg in "$@"; do
        if ! script=$(script_of "$arg"); then
            echo "test.sh: unknown component \"$arg\"; the components are:" >&2
            for entry in "${all[@]}"; do printf '  %-10s %s\n' "${entry%%:*}" "${entry#*:}" >&2; done
            exit 2
        fi
        components+=("$script")
    done
fi

start=$SECONDS
for c in "${components[@]}"; do
    echo "=== $c"
    t=$SECONDS
    bash "$c"
    echo "=== $c passed in $((SECONDS - t)) s"
done
echo "=== all ${#components[@]} components passed in $((SECONDS - start)) s"
