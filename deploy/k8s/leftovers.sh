#!/usr/bin/env bash
# Takes a picture of everything a test cluster could leave on this machine
# (processes, mounts, network namespaces, links, routes, iptables rules,
# cgroups, kernel settings, host paths) and compares it with one taken before
# the cluster existed: `record FILE` writes the picture, `check FILE` fails and
# shows the difference when the machine no longer matches it.
#
# Usage: deploy/k8s/leftovers.sh record|check FILE    (env: FAASIN_K8S_STATE)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

picture() {
    local s p
    echo "# processes"
    ps -eo args= | grep -E "$STATE|kube-(apiserver|controller|scheduler|proxy)|kubelet|etcd --name fk8s" |
        grep -v -e grep -e leftovers.sh | sort || true
    echo "# mounts"
    findmnt -rn -o TARGET | grep -E "^$STATE|fk8s|kubelet|^/run/netns/cni-" | sort || true
    echo "# network namespaces"
    ip netns list | grep -E 'fk8s|^cni-' | sort || true
    echo "# links"
    ip -o link show | awk -F': ' '{ print $2 }' | grep -E "fk8s|^cni0" | sort || true
    echo "# routes"
    ip route show | grep -E '10\.21[345]\.' | sort || true
    echo "# iptables"
    { iptables-save -t filter && iptables-save -t nat; } | grep -E 'FK8S|KUBE|CNI' | sort || true
    echo "# cgroups"
    for p in $(cgroup_mounts); do ls -d "$p"/fk8s-* 2>/dev/null || true; done
    echo "# sysctls"
    for s in "${SYSCTLS[@]}"; do
        if sysctl -n "$s" >/dev/null 2>&1; then echo "$s=$(sysctl -n "$s")"; fi
    done
    echo "# containerd shim sockets"
    ls /run/containerd/s 2>/dev/null || true
    echo "# paths"
    for p in "${HOST_PATHS[@]}" "$STATE"; do [[ -e $p ]] && echo "$p"; done
    mountpoint -q /run/netns && echo "/run/netns is a mount point"
    return 0
}

(($# == 2)) || die "usage: leftovers.sh record|check FILE"
case $1 in
record) picture >"$2" ;;
check)
    if ! diff -u --label before --label now "$2" <(picture) >&2; then
        die "leftovers: the machine differs from before the cluster (- before, + now)"
    fi
    say "leftovers: nothing left"
    ;;
*) die "usage: leftovers.sh record|check FILE" ;;
esac
