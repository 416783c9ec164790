#!/usr/bin/env bash
# Builds the Kubernetes binaries the test cluster runs (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl) from
# the Go module proxy, into a cache outside the clone; does nothing when the
# cache already holds them. Prints the binaries' directory on its last line.
#
# `go install k8s.io/kubernetes/cmd/...` is refused because that module
# replaces its staging modules with local paths, so a small wrapper module
# requires it and points every staging module at its published v0.x twin.
#
# Usage: deploy/k8s/build.sh    (env: K8S_VERSION, FAASIN_K8S_CACHE)
set -euo pipefail

version=${K8S_VERSION:-v1.34.4}
cache=${FAASIN_K8S_CACHE:-/var/cache/faasin/k8s}
bin=$cache/$version/bin
commands=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

have_all() {
    local c
    for c in "${commands[@]}"; do [[ -x $bin/$c ]] || return 1; done
}

if have_all; then
    echo "$bin"
    exit 0
fi

command -v go >/dev/null || { echo "build.sh: needs Go (1.24 or later)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

minor=${version#v1.}
minor=${minor%%.*}
staging_version=v0.${version#v1.}
work=$cache/$version/module
mkdir -p "$work"
cd "$work"

cat >go.mod <<MOD
module faasin.local/k8s-binaries

go 1.24

require k8s.io/kubernetes $version
MOD
go mod download k8s.io/kubernetes@"$version"
upstream_mod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod
mapfile -t staging < <(sed -n 's/^[[:space:]]*\(k8s\.io\/[^[:space:]]*\) => \.\/staging\/.*/\1/p' "$upstream_mod")
((${#staging[@]} > 0)) || { echo "build.sh: no staging modules found in $upstream_mod" >&2; exit 1; }
for m in "${staging[@]}"; do
    echo "replace $m => $m $staging_version" >>go.mod
done

{
    echo '//go:build tools'
    echo
    echo '// Package tools only names the commands this module builds.'
    echo 'package tools'
    echo
    echo 'import ('
    for c in "${commands[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ')'
} >tools.go
go mod tidy

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

out=$cache/$version/bin.partial
rm -rf "$out"
mkdir -p "$out"
pkgs=()
for c in "${commands[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
start=$SECONDS
go build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
rm -rf "$bin"
mv "$out" "$bin"
echo "build.sh: built ${commands[*]} $version in $((SECONDS - start)) s" >&2
echo "$bin"
