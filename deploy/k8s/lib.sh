# shellcheck shell=bash disable=SC2034 # the names are used by the scripts that source this
# Shared by the deploy/k8s scripts: the cluster's fixed names and addresses,
# and small helpers. Sourced, never run.

STATE=${FAASIN_K8S_STATE:-/run/fk8s}

# The two nodes: each is a network namespace, a kubelet's node name and a
# cgroup root, all under the same name.
NODES=(fk8s-a fk8s-b)
declare -A NODE_IP=([fk8s-a]=10.213.0.2 [fk8s-b]=10.213.0.3)
declare -A POD_SUBNET=([fk8s-a]=10.214.1.0/24 [fk8s-b]=10.214.2.0/24)
BRIDGE=fk8s0
BRIDGE_IP=10.213.0.1
APISERVER=https://$BRIDGE_IP:6443
SERVICE_RANGE=10.215.0.0/24
FIRST_SERVICE_IP=10.215.0.1
CLUSTER_CIDR=10.214.0.0/16
ETCD_CLIENT=http://127.0.0.1:12379
ETCD_PEER=http://127.0.0.1:12380
PAUSE_IMAGE=fk8s.local/pause:1
# Host iptables chain that lets node-to-node traffic cross the bridge even
# when another tool (Docker) sets the FORWARD policy to DROP.
FORWARD_CHAIN=FK8S-FORWARD
# Every daemon the scripts start, and every containerd shim, lives in this
# cgroup, so that tear-down finds each of them by PID even after a failed
# bring-up.
DAEMON_CGROUP=fk8s-daemons

# Global kernel settings that kubelet (and kube-proxy) may change; their
# values at bring-up are restored at tear-down.
SYSCTLS=(
    kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
    net.bridge.bridge-nf-call-iptables net.netfilter.nf_conntrack_max
)

# Host paths that Kubernetes components create outside the state dir no matter
# how they are configured; those absent at bring-up are removed at tear-down.
HOST_PATHS=(/var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /etc/cni /opt/cni)

# The env file's key for a node: fk8s-a -> A.
node_key() {
    local key=${1#fk8s-}
    echo "${key^^}"
}

say() { echo "fk8s: $*" >&2; }
die() {
    say "$*"
    exit 1
}

need_root() { ((EUID == 0)) || die "must run as root (namespaces, cgroups, iptables)"; }

# Runs a command in a node's network namespace only: `ip netns exec` would
# also remount /sys, which hides the cgroup mounts kubelet needs.
in_node() {
    local node=$1
    shift
    nsenter --net="/run/netns/$node" -- "$@"
}

# Mount points of every cgroup hierarchy (v1 controllers and the unified one).
cgroup_mounts() {
    awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts
}

kube() { "$BIN/kubectl" --kubeconfig "$STATE/pki/admin.kubeconfig" "$@"; }

# Polls `$@` once a second until it succeeds or `seconds` pass; between polls
# it calls the caller's `wait_hook`, if defined, to fail early.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what"
        if declare -F wait_hook >/dev/null; then wait_hook; fi
        sleep 1
    done
}
