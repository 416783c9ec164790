#!/usr/bin/env bash
# Tears down what deploy/k8s/cluster-up.sh made, also when it failed halfway:
# stops every process it started (the daemons by their recorded PIDs, then
# whatever is left in the cluster's cgroups or node namespaces: containerd
# shims, containers), unmounts what kubelet and containerd mounted, removes the
# namespaces, bridge, routes and iptables chain, restores the kernel settings
# recorded at bring-up, removes the cgroups, host paths and dead shims' sockets
# the cluster created, and deletes the state dir. Safe to run twice.
#
# Usage: deploy/k8s/cluster-down.sh    (env: FAASIN_K8S_STATE)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
need_root

# A recorded PID is acted on only while it still names a process in the
# cluster's daemon cgroup, never a stranger that reused the number.
ours() { grep -qs ":/$DAEMON_CGROUP\$" "/proc/$1/cgroup"; }

# stop NAME...: SIGTERM to each daemon, SIGKILL to those still there after 10 s.
stop() {
    local name pid pids=()
    for name in "$@"; do
        [[ -f $STATE/pids/$name ]] || continue
        pid=$(cat "$STATE/pids/$name")
        ours "$pid" && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$STATE/pids/$name"
    done
    local deadline=$((SECONDS + 10))
    for pid in "${pids[@]}"; do
        while ours "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        ours "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

# Deletes every container of a node's containerd through containerd itself,
# so each shim exits cleanly and unmounts its container's root filesystem.
remove_containers() {
    local socket=$STATE/$1/containerd.sock ids
    [[ -S $socket ]] || return 0
    local c=(timeout 30 ctr -n k8s.io --address "$socket")
    mapfile -t ids < <("${c[@]}" containers ls -q 2>/dev/null)
    ((${#ids[@]} > 0)) || return 0
    "${c[@]}" tasks rm -f "${ids[@]}" >/dev/null 2>&1
    "${c[@]}" containers rm "${ids[@]}" >/dev/null 2>&1
    # The CNI result cache sits in /var/lib/cni whatever the config says.
    local id
    for id in "${ids[@]}"; do rm -f /var/lib/cni/results/*-"$id"-*; done
    return 0
}

# Cgroup directories the cluster made, in every hierarchy.
cluster_cgroups() {
    local m name
    for m in $(cgroup_mounts); do
        for name in "$DAEMON_CGROUP" "${NODES[@]}"; do
            [[ -d $m/$name ]] && echo "$m/$name"
        done
    done
}

# PIDs left in the cluster's cgroups or in its node network namespaces.
leftover_pids() {
    local dir node inode p
    for dir in $(cluster_cgroups); do
        find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
    for node in "${NODES[@]}"; do
        [[ -e /run/netns/$node ]] || continue
        inode=$(stat -L -c %i "/run/netns/$node")
        for p in /proc/[0-9]*; do
            [[ $(stat -L -c %i "$p/ns/net" 2>/dev/null) == "$inode" ]] && echo "${p#/proc/}"
        done
    done
}

kill_leftovers() {
    local pids
    for _ in $(seq 20); do
        # Never this script itself, should it run inside a node namespace.
        mapfile -t pids < <(leftover_pids | sort -un | grep -vx "$$")
        ((${#pids[@]} > 0)) || return 0
        kill -KILL "${pids[@]}" 2>/dev/null
        sleep 0.5
    done
    say "processes still left after SIGKILL: $(leftover_pids | sort -un | tr '\n' ' ')"
}

# unmount_under DIR: every mount at or below DIR, deepest first.
unmount_under() {
    local dir=$1 round targets t
    for round in 1 2 3 4 5; do
        targets=$(findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r)
        [[ -n $targets ]] || return 0
        for t in $targets; do
            umount "$t" 2>/dev/null || ((round < 4)) || umount -l "$t" 2>/dev/null
        done
    done
    say "mounts still left under $dir: $targets"
}

network_down() {
    local node
    for node in "${NODES[@]}"; do
        [[ -e /run/netns/$node ]] && ip netns delete "$node"
        ip link del "$node-veth" 2>/dev/null
        ip route del "${POD_SUBNET[$node]}" 2>/dev/null
    done
    ip link del "$BRIDGE" 2>/dev/null
    while iptables -w -D FORWARD -j "$FORWARD_CHAIN" 2>/dev/null; do :; done
    iptables -w -F "$FORWARD_CHAIN" 2>/dev/null
    iptables -w -X "$FORWARD_CHAIN" 2>/dev/null
    return 0
}

restore_sysctls() {
    [[ -f $STATE/sysctls ]] || return 0
    local line name value
    while IFS= read -r line; do
        name=${line%%=*}
        value=${line#*=}
        [[ $(sysctl -n "$name" 2>/dev/null) == "$value" ]] || sysctl -qw "$name=$value"
    done <"$STATE/sysctls"
}

remove_cgroups() {
    local dir round
    for round in 1 2 3 4 5; do
        for dir in $(cluster_cgroups); do
            find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        [[ -z $(cluster_cgroups) ]] && return 0
        sleep 0.5
    done
    say "cgroups still left: $(cluster_cgroups | tr '\n' ' ')"
}

# A shim that had to be killed leaves its socket in the directory every
# containerd on the host shares: remove the sockets that appeared since
# bring-up and that nobody listens on (another containerd's live shims do).
remove_shim_sockets() {
    [[ -f $STATE/shim-sockets && -d /run/containerd/s ]] || return 0
    local listening s
    listening=$(ss -xlH 2>/dev/null | awk '{ print $5 }')
    for s in /run/containerd/s/*; do
        [[ -S $s ]] || continue
        grep -qxF "${s##*/}" "$STATE/shim-sockets" && continue
        grep -qxF "$s" <<<"$listening" && continue
        rm -f "$s"
    done
}

remove_host_paths() {
    local path
    [[ -f $STATE/absent-paths ]] || return 0
    while IFS= read -r path; do
        if [[ $path == /run/netns ]]; then
            # Shared with anyone else's namespaces: only when none is left.
            [[ -d $path && -z $(ls -A "$path") ]] || continue
            while mountpoint -q "$path"; do umount "$path" || break; done
            rmdir "$path"
        else
            unmount_under "$path"
            rm -rf --one-file-system "$path"
        fi
    done <"$STATE/absent-paths"
}

node_daemons=()
for node in "${NODES[@]}"; do node_daemons+=("kube-proxy-$node" "kubelet-$node"); done
stop "${node_daemons[@]}"
for node in "${NODES[@]}"; do remove_containers "$node"; done
stop "${NODES[@]/#/containerd-}"
stop kube-scheduler kube-controller-manager kube-apiserver
stop etcd
kill_leftovers
remove_shim_sockets
[[ -d $STATE ]] && unmount_under "$STATE"
network_down
restore_sysctls
remove_cgroups
remove_host_paths
if [[ -d $STATE ]]; then
    if [[ -n $(findmnt -rn -o TARGET | awk -v d="$STATE" 'index($0, d "/") == 1') ]]; then
        die "mounts are still left under $STATE; not deleting it"
    fi
    rm -rf --one-file-system "$STATE"
fi
say "cluster down"
