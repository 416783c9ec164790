#!/usr/bin/env bash
# Turns a root-filesystem directory into a one-layer image (a docker-archive
# tar: manifest.json, config, layer; no Docker needed) and imports it into
# every node's containerd, for pods with `imagePullPolicy: Never`. Arguments
# after DIR become the image's entrypoint.
#
# Usage: deploy/k8s/image.sh NAME:TAG DIR [ENTRYPOINT...]    (env: FAASIN_K8S_STATE)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

(($# >= 2)) || die "usage: image.sh NAME:TAG DIR [ENTRYPOINT...]"
name=$1
root=$2
shift 2
[[ $name == *:* && $name != *" "* ]] || die "image.sh: '$name' is not NAME:TAG"
[[ -d $root ]] || die "image.sh: '$root' is not a directory"
[[ -f $STATE/env ]] || die "image.sh: no cluster at $STATE (run cluster-up.sh)"
source "$STATE/env"
need_root

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Fixed owner and times, so the same tree always makes the same layer.
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 \
    -C "$root" -cf "$work/layer.tar" .
layer_digest=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir "$work/$layer_digest"
mv "$work/layer.tar" "$work/$layer_digest/layer.tar"

entrypoint=$(jq -cn '$ARGS.positional' --args "$@")
jq -cn --arg diff "sha256:$layer_digest" --argjson entrypoint "$entrypoint" '{
    architecture: "amd64", os: "linux",
    config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
             Entrypoint: (if $entrypoint == [] then null else $entrypoint end)},
    rootfs: {type: "layers", diff_ids: [$diff]}
}' >"$work/config.json"
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/$config_digest.json"
jq -cn --arg config "$config_digest.json" --arg tag "$name" --arg layer "$layer_digest/layer.tar" \
    '[{Config: $config, RepoTags: [$tag], Layers: [$layer]}]' >"$work/manifest.json"
tar -C "$work" -cf "$work/image.tar" manifest.json "$config_digest.json" "$layer_digest"

for node in ${FK8S_NODES//,/ }; do
    socket_var=FK8S_NODE_$(node_key "$node")_CONTAINERD
    ctr -n k8s.io --address "${!socket_var}" images import "$work/image.tar" >/dev/null ||
        die "image.sh: importing $name into $node's containerd failed"
done
say "image $name imported into $FK8S_NODES"
