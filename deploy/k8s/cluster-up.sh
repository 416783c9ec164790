#!/usr/bin/env bash
# Brings up a two-node Kubernetes cluster on this machine for tests: etcd and
# the control plane on the host, and two nodes (fk8s-a, fk8s-b), each a network
# namespace on the bridge fk8s0 with its own containerd, kubelet and
# kube-proxy, so traffic between the nodes crosses a real (virtual) network.
# Nothing listens on the host's own interfaces: etcd is on 127.0.0.1 and the
# apiserver on the bridge's address.
#
# Everything it makes lives under $FAASIN_K8S_STATE (default /run/fk8s); the
# sourceable $STATE/env names the kubeconfig, the nodes, their IPs, network
# namespaces and containerd sockets. deploy/k8s/cluster-down.sh undoes it all,
# also after a bring-up that failed halfway.
#
# Usage: deploy/k8s/cluster-up.sh    (env: FAASIN_K8S_STATE, K8S_VERSION, FAASIN_K8S_CACHE)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
need_root
started=$SECONDS

if [[ -e $STATE ]] || ip link show "$BRIDGE" >/dev/null 2>&1 || [[ -e /run/netns/${NODES[0]} ]]; then
    die "a cluster is already up (or was left half-built): $STATE, bridge $BRIDGE or netns ${NODES[0]} exists; run deploy/k8s/cluster-down.sh first"
fi

install_missing() {
    local wanted=(etcd-server containerd runc containernetworking-plugins conntrack iptables
        iproute2 util-linux openssl curl jq socat busybox-static gcc libc6-dev)
    local missing=() p
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
install_missing
BIN=$("$here/build.sh" | tail -n 1)

mkdir -p "$STATE"/{logs,pids}
pki=$STATE/pki

on_exit() {
    local rc=$?
    ((rc == 0)) && return
    local log
    for log in "$STATE"/logs/*.log; do
        [[ -s $log ]] || continue
        echo "--- last lines of $log" >&2
        tail -n 15 "$log" >&2
    done
    say "bring-up failed; logs are in $STATE/logs; run deploy/k8s/cluster-down.sh to clean up"
}
trap on_exit EXIT

# What tear-down restores: the kernel settings as they are now, the host
# paths that do not exist yet, and the containerd shim sockets there are now
# (the shims of every containerd on the host share one directory).
record_host() {
    local s
    for s in "${SYSCTLS[@]}"; do
        if sysctl -n "$s" >/dev/null 2>&1; then echo "$s=$(sysctl -n "$s")"; fi
    done >"$STATE/sysctls"
    for s in "${HOST_PATHS[@]}"; do
        [[ -e $s ]] || echo "$s"
    done >"$STATE/absent-paths"
    mountpoint -q /run/netns || echo /run/netns >>"$STATE/absent-paths"
    ls /run/containerd/s 2>/dev/null >"$STATE/shim-sockets" || true
}

# start NAME NODE|- COMMAND...: runs COMMAND in the background in the daemon
# cgroup (and in NODE's network namespace), PID in pids/NAME, output in
# logs/NAME.log.
start() {
    local name=$1 node=$2
    shift 2
    local wrap=()
    [[ $node == - ]] || wrap=(nsenter --net="/run/netns/$node" --)
    (
        for m in $(cgroup_mounts); do echo "$BASHPID" >"$m/$DAEMON_CGROUP/cgroup.procs"; done
        exec "${wrap[@]}" "$@"
    ) </dev/null >"$STATE/logs/$name.log" 2>&1 &
    echo $! >"$STATE/pids/$name"
}

# Called by wait_for between polls: a daemon that exited fails the bring-up now
# rather than at the timeout.
wait_hook() {
    local pidfile
    for pidfile in "$STATE"/pids/*; do
        kill -0 "$(cat "$pidfile")" 2>/dev/null ||
            die "${pidfile##*/} exited; see $STATE/logs/${pidfile##*/}.log"
    done
}

make_cgroup() {
    local name=$1 m
    for m in $(cgroup_mounts); do
        mkdir -p "$m/$name"
        if [[ -f $m/cpuset.cpus ]]; then
            cat "$m/cpuset.cpus" >"$m/$name/cpuset.cpus"
            cat "$m/cpuset.mems" >"$m/$name/cpuset.mems"
        fi
    done
}

network_up() {
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    iptables -w -N "$FORWARD_CHAIN"
    iptables -w -A "$FORWARD_CHAIN" -i "$BRIDGE" -j ACCEPT
    iptables -w -A "$FORWARD_CHAIN" -o "$BRIDGE" -j ACCEPT
    iptables -w -I FORWARD 1 -j "$FORWARD_CHAIN"
    sysctl -qw net.ipv4.ip_forward=1

    local node other
    for node in "${NODES[@]}"; do
        ip netns add "$node"
        ip link add "$node-veth" type veth peer name "$node-eth"
        ip link set "$node-eth" netns "$node"
        ip link set "$node-veth" master "$BRIDGE" up
        in_node "$node" ip link set lo up
        in_node "$node" ip link set "$node-eth" name eth0
        in_node "$node" ip addr add "${NODE_IP[$node]}/24" dev eth0
        in_node "$node" ip link set eth0 up
        in_node "$node" ip route add default via "$BRIDGE_IP"
        in_node "$node" sysctl -qw net.ipv4.ip_forward=1
        # kube-proxy's rules see traffic between pods on one node's bridge
        # only through br_netfilter.
        if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
            in_node "$node" sysctl -qw net.bridge.bridge-nf-call-iptables=1
        else
            say "no br_netfilter: a Service may not answer a pod on its own backend's node"
        fi
        ip route add "${POD_SUBNET[$node]}" via "${NODE_IP[$node]}"
    done
    # Each node reaches the other's pods directly over the bridge, as nodes on
    # one network segment would.
    for node in "${NODES[@]}"; do
        for other in "${NODES[@]}"; do
            [[ $node == "$other" ]] ||
                in_node "$node" ip route add "${POD_SUBNET[$other]}" via "${NODE_IP[$other]}"
        done
    done
}

control_plane_up() {
    start etcd - etcd --name fk8s --data-dir "$STATE/etcd" \
        --listen-client-urls "$ETCD_CLIENT" --advertise-client-urls "$ETCD_CLIENT" \
        --listen-peer-urls "$ETCD_PEER" --initial-advertise-peer-urls "$ETCD_PEER" \
        --initial-cluster "fk8s=$ETCD_PEER"
    wait_for 60 etcd curl -fs "$ETCD_CLIENT/health"

    start kube-apiserver - "$BIN/kube-apiserver" \
        --etcd-servers="$ETCD_CLIENT" \
        --bind-address="$BRIDGE_IP" --advertise-address="$BRIDGE_IP" --secure-port=6443 \
        --service-cluster-ip-range="$SERVICE_RANGE" \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
        --client-ca-file="$pki/ca.crt" \
        --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$pki/sa.pub" \
        --service-account-signing-key-file="$pki/sa.key" \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
        --allow-privileged=true --profiling=false --cert-dir="$STATE/kube-apiserver"
    # The controller-manager exits if it starts before the apiserver serves
    # its authentication config, so wait for a real 200 from /readyz.
    wait_for 120 "kube-apiserver /readyz" curl -fs --cacert "$pki/ca.crt" \
        --cert "$pki/admin.crt" --key "$pki/admin.key" "$APISERVER/readyz"

    local component kubeconfig
    for component in controller-manager scheduler; do
        kubeconfig=$pki/$component.kubeconfig
        local args=(--kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig"
            --authorization-kubeconfig="$kubeconfig" --bind-address=127.0.0.1
            --leader-elect=false --profiling=false --cert-dir="$STATE/kube-$component")
        if [[ $component == controller-manager ]]; then
            args+=(--root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key"
                --use-service-account-credentials=true --allocate-node-cidrs=false
                --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key")
        fi
        start "kube-$component" - "$BIN/kube-$component" "${args[@]}"
    done
}

containerd_up() {
    local node=$1
    local dir=$STATE/$node
    mkdir -p "$dir/cni"
    cat >"$dir/cni/10-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$node",
  "plugins": [{
    "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_SUBNET[$node]}"}]],
             "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$dir/cni-ipam"}
  }]
}
EOF
    # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and without it
    # runc fails to create every pod sandbox. Pod network namespaces go under
    # the state dir, not /run/netns.
    cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd-root"
state = "$dir/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
EOF
    start "containerd-$node" "$node" containerd --config "$dir/containerd.toml"
}

kubelet_up() {
    local node=$1
    local dir=$STATE/$node
    # Own cgroup root and pod log dir per kubelet, or the two kubelets manage
    # (and delete) each other's pods' cgroups and logs. Image GC and disk
    # eviction are off: images exist only by import, and the disk may be
    # fuller than the default thresholds allow.
    cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$node
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$dir/containerd.sock
podLogsDir: $dir/pod-logs
address: ${NODE_IP[$node]}
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 256Mi
  nodefs.inodesFree: 1%
  imagefs.available: 256Mi
  imagefs.inodesFree: 1%
rotateCertificates: false
clusterDomain: cluster.local
EOF
    start "kubelet-$node" "$node" "$BIN/kubelet" --config="$dir/kubelet.yaml" \
        --kubeconfig="$pki/kubelet-$node.kubeconfig" --root-dir="$dir/kubelet" \
        --hostname-override="$node" --node-ip="${NODE_IP[$node]}"

    # The conntrack limits are global, so kube-proxy is told to leave them.
    cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $node
clusterCIDR: $CLUSTER_CIDR
clientConnection: {kubeconfig: $pki/kube-proxy.kubeconfig}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
    start "kube-proxy-$node" "$node" "$BIN/kube-proxy" --config="$dir/kube-proxy.yaml"
}

write_env() {
    local node key
    {
        echo "KUBECONFIG=$pki/admin.kubeconfig"
        echo "FK8S_STATE=$STATE"
        echo "FK8S_BIN=$BIN"
        echo "FK8S_APISERVER=$APISERVER"
        echo "FK8S_NODES=$(
            IFS=,
            echo "${NODES[*]}"
        )"
        for node in "${NODES[@]}"; do
            key=$(node_key "$node")
            echo "FK8S_NODE_$key=$node"
            echo "FK8S_NODE_${key}_IP=${NODE_IP[$node]}"
            echo "FK8S_NODE_${key}_POD_SUBNET=${POD_SUBNET[$node]}"
            echo "FK8S_NODE_${key}_NETNS=/run/netns/$node"
            echo "FK8S_NODE_${key}_CONTAINERD=$STATE/$node/containerd.sock"
        done
    } >"$STATE/env"
}

pause_image() {
    local root=$STATE/pause-rootfs
    mkdir -p "$root"
    gcc -static -O2 -o "$root/pause" "$here/pause.c"
    FAASIN_K8S_STATE=$STATE "$here/image.sh" "$PAUSE_IMAGE" "$root" /pause
}

record_host
make_cgroup "$DAEMON_CGROUP"
for node in "${NODES[@]}"; do make_cgroup "$node"; done
say "certificates"
"$here/certs.sh"
say "network: bridge $BRIDGE, namespaces ${NODES[*]}"
network_up
say "control plane"
control_plane_up
for node in "${NODES[@]}"; do containerd_up "$node"; done
for node in "${NODES[@]}"; do
    wait_for 60 "containerd of $node" ctr --address "$STATE/$node/containerd.sock" version
done
write_env
pause_image
say "nodes ${NODES[*]}"
for node in "${NODES[@]}"; do kubelet_up "$node"; done
for node in "${NODES[@]}"; do wait_for 120 "node $node to register" kube get node "$node"; done
for node in "${NODES[@]}"; do
    wait_for 120 "node $node to be Ready" kube wait --for=condition=Ready "node/$node" --timeout=1s
done
wait_for 120 "the default ServiceAccount" kube get serviceaccount default -n default
say "cluster up in $((SECONDS - started)) s; env: $STATE/env"
