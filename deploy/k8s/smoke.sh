#!/usr/bin/env bash
# Checks that a cluster from deploy/k8s/cluster-up.sh does what FAASIN's tests
# need, and leaves it as it found it: a pod pinned to each node reaches a unix
# socket served on its node through a hostPath directory, a pod on one node
# reaches a pod on the other, `kubectl logs` works, and a ClusterIP Service
# answers from a pod and from inside the node namespace fk8s-a. Exits non-zero
# when any check fails.
#
# Usage: deploy/k8s/smoke.sh    (env: FAASIN_K8S_STATE)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
need_root
[[ -f $STATE/env ]] || die "smoke.sh: no cluster at $STATE (run cluster-up.sh)"
source "$STATE/env"
BIN=$FK8S_BIN
ns=fk8s-smoke
image=fk8s.local/smoke:1
work=$(mktemp -d)
servers=()

cleanup() {
    local pid
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    kube delete namespace "$ns" --ignore-not-found --timeout=90s >/dev/null || true
    rm -rf "$work" "$STATE/smoke"
}
trap cleanup EXIT

# The image: busybox for the shell; socat (with its libraries) as the TCP
# server and the TCP and unix socket client.
root=$work/rootfs
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/busybox"
for applet in sh echo; do ln -s busybox "$root/bin/$applet"; done
for file in /usr/bin/socat $(ldd /usr/bin/socat | grep -o '/[^ ]*'); do
    cp -L --parents "$file" "$root"
done
"$here/image.sh" "$image" "$root"

# A unix socket served on each node, in a directory the node's pod mounts.
for node in ${FK8S_NODES//,/ }; do
    mkdir -p "$STATE/smoke/$node"
    nsenter --net="/run/netns/$node" -- socat "UNIX-LISTEN:$STATE/smoke/$node/node.sock,fork,mode=666" \
        "SYSTEM:echo hello from $node" &
    servers+=($!)
done

kube create namespace "$ns" >/dev/null
for node in ${FK8S_NODES//,/ }; do
    kube apply -n "$ns" -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $node, labels: {app: $node}}
spec:
  nodeSelector: {kubernetes.io/hostname: $node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $image
    imagePullPolicy: Never
    command: [sh, -c, 'echo "serving $node" && exec socat TCP-LISTEN:8080,fork,reuseaddr "SYSTEM:echo page of $node"']
    volumeMounts: [{name: node-dir, mountPath: /node}]
  volumes:
  - name: node-dir
    hostPath: {path: $STATE/smoke/$node, type: Directory}
EOF
done
kube apply -n "$ns" -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: front-of-b}
spec:
  selector: {app: $FK8S_NODE_B}
  ports: [{port: 80, targetPort: 8080}]
EOF
kube wait -n "$ns" --for=condition=Ready pod --all --timeout=120s >/dev/null

failures=0
# check WHAT EXPECTED COMMAND...: passes when COMMAND's output is EXPECTED.
check() {
    local what=$1 expected=$2 got
    shift 2
    got=$("$@" 2>&1) || true
    if [[ $got == "$expected" ]]; then
        echo "ok    $what"
    else
        echo "FAIL  $what: expected '$expected', got '$got'"
        failures=$((failures + 1))
    fi
}
# Like check, but retries for up to 30 s (kube-proxy programs a new Service
# a moment after the apiserver has it).
check_soon() {
    local deadline=$((SECONDS + 30))
    until [[ $("${@:3}" 2>/dev/null) == "$2" ]] || ((SECONDS >= deadline)); do sleep 1; done
    check "$@"
}

for node in ${FK8S_NODES//,/ }; do
    check "pod $node runs on node $node" "$node" kube get pod -n "$ns" "$node" -o 'jsonpath={.spec.nodeName}'
    check "pod on $node reaches its node's unix socket through hostPath" "hello from $node" \
        kube exec -n "$ns" "$node" -- socat -T 5 - UNIX-CONNECT:/node/node.sock
    check "kubectl logs of the pod on $node" "serving $node" kube logs -n "$ns" "$node"
done
ip_b=$(kube get pod -n "$ns" "$FK8S_NODE_B" -o 'jsonpath={.status.podIP}')
in_subnet=no
[[ $ip_b == "${FK8S_NODE_B_POD_SUBNET%0/24}"* ]] && in_subnet=yes
check "pod on $FK8S_NODE_B has an address in $FK8S_NODE_B_POD_SUBNET" yes echo "$in_subnet"
check "pod on $FK8S_NODE_A reaches the pod on $FK8S_NODE_B" "page of $FK8S_NODE_B" \
    kube exec -n "$ns" "$FK8S_NODE_A" -- socat -T 5 - "TCP:$ip_b:8080"
service_ip=$(kube get service -n "$ns" front-of-b -o 'jsonpath={.spec.clusterIP}')
check_soon "ClusterIP Service answers inside namespace $FK8S_NODE_A" "page of $FK8S_NODE_B" \
    in_node "$FK8S_NODE_A" socat -T 5 - "TCP:$service_ip:80"
check_soon "ClusterIP Service answers the pod on $FK8S_NODE_A" "page of $FK8S_NODE_B" \
    kube exec -n "$ns" "$FK8S_NODE_A" -- socat -T 5 - "TCP:$service_ip:80"

((failures == 0)) || die "smoke: $failures check(s) failed"
say "smoke: all checks passed"
