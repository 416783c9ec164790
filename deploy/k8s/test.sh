#!/usr/bin/env bash
# FAASIN on a real two-node Kubernetes: brings the test cluster up
# (cluster-up.sh) and checks it (smoke.sh), builds and imports the images,
# deploys the node service (faasin.yaml) and the test's function pods, runs
# test_cluster.py from inside node fk8s-a's network namespace, and tears the
# cluster down (also when a step fails), checking that the machine is as it
# was before.
#
# Usage: deploy/k8s/test.sh    (env: FAASIN_K8S_STATE; KEEP_CLUSTER=1 leaves it up)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
need_root

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
(cd "$repo" && cargo build --release -q -p faasin-cli)
# A separate call: with --example given, cargo builds only the example.
(cd "$repo" && cargo build --release -q -p faasin --example peer)

[[ ! -e $STATE ]] || die "a cluster's state is already at $STATE; run cluster-down.sh first"
before=$(mktemp)
"$here/leftovers.sh" record "$before"
# The handoff directories are hostPath: on this host's file system.
handoff_dirs_were_there=
[[ ! -e /run/faasin ]] || handoff_dirs_were_there=yes
finish() {
    local rc=$?
    "$here/cluster-down.sh" || rc=1
    [[ -n $handoff_dirs_were_there ]] || rm -rf /run/faasin
    "$here/leftovers.sh" check "$before" || rc=1
    rm -f "$before"
    exit "$rc"
}
if [[ ${KEEP_CLUSTER:-} != 1 ]]; then
    trap finish EXIT
else
    rm -f "$before"
fi
"$here/cluster-up.sh"
"$here/smoke.sh"
set -a
source "$STATE/env"
set +a
k() { "$FK8S_BIN/kubectl" "$@"; }

started=$SECONDS
"$here/images.sh"
k apply -f "$here/faasin.yaml" >/dev/null
k -n faasin create secret generic faasin-join --from-literal=secret="$(openssl rand -hex 24)" >/dev/null
k -n faasin create configmap faasin-functions --from-file=functions.toml="$here/test/functions.toml" >/dev/null
"$here/function-pods.sh" cat faasin/peer:dev "/bin/peer warm cat" 2 | k apply -f - >/dev/null
"$here/function-pods.sh" cat-b faasin/peer:dev "/bin/peer warm cat" 1 \
    "kubernetes.io/hostname=$FK8S_NODE_B" | k apply -f - >/dev/null
for ds in faasin-node fn-cat fn-cat-b; do
    if ! k -n faasin rollout status "ds/$ds" --timeout=180s >/dev/null; then
        k -n faasin get pods -o wide >&2
        k -n faasin logs "ds/$ds" --all-containers --tail=50 >&2 || true
        die "daemonset $ds did not become ready"
    fi
done
say "FAASIN deployed in $((SECONDS - started)) s"

service=$(k -n faasin get service faasin -o jsonpath='{.spec.clusterIP}')
if ! NODE_A=$FK8S_NODE_A NODE_B=$FK8S_NODE_B IP_A=$FK8S_NODE_A_IP SERVICE=$service \
    KUBECTL="$FK8S_BIN/kubectl --kubeconfig $KUBECONFIG" \
    nsenter --net="$FK8S_NODE_A_NETNS" -- python3 "$here/test_cluster.py"; then
    k -n faasin get pods -o wide >&2
    for node in "$FK8S_NODE_A" "$FK8S_NODE_B"; do
        pod=$(k -n faasin get pods -l app=faasin-node --field-selector "spec.nodeName=$node" -o name | head -n1)
        [[ -z $pod ]] || k -n faasin logs "$pod" --tail=40 >&2 || true
    done
    die "the cluster test failed"
fi
