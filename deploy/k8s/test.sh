#!/usr/bin/env bash
# The test cluster's own test: brings a cluster up, runs the smoke checks on
# it, tears it down twice (the second must be a harmless no-op), and checks
# that the machine is as it was before. Tears down also when a step fails.
#
# Usage: deploy/k8s/test.sh    (env: FAASIN_K8S_STATE, K8S_VERSION, FAASIN_K8S_CACHE)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
need_root
[[ ! -e $STATE ]] || die "a cluster's state is already at $STATE; run cluster-down.sh first"

before=$(mktemp)
trap 'rm -f "$before"' EXIT
"$here/leftovers.sh" record "$before"

if ! { "$here/cluster-up.sh" && "$here/smoke.sh"; }; then
    "$here/cluster-down.sh" || true
    die "test: the cluster failed to come up or failed its smoke checks"
fi
"$here/cluster-down.sh"
"$here/cluster-down.sh"
"$here/leftovers.sh" check "$before"
