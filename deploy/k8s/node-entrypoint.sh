#!/bin/sh
# The node service's entrypoint in its DaemonSet pod: writes this node's
# `faasin serve` config and runs it. Where this node is (NODE_NAME,
# NODE_IP: the downward API) and who its peers are (every other node's
# InternalIP, read from the API server with the pod's service account) go
# into the [node] table, each node with its Kubernetes labels (a chain pins a
# function by any of them, `kubernetes.io/hostname=NAME` or a zone, as well
# as by `node=NAME`); the functions and chains come from the ConfigMap
# (/etc/faasin/functions.toml). Nodes and labels are read once: a node added
# or labelled later is seen when this pod restarts.
set -eu
: "${NODE_NAME:?the downward API gives NODE_NAME}"
: "${NODE_IP:?the downward API gives NODE_IP}"
# The ports faasin.yaml names.
port=8080 peer_port=7070 edge_port=7071
config=/tmp/faasin-node.toml

# A node's labels as a TOML table of quoted keys (label keys and values
# hold only letters, digits and - _ . /: nothing to escape).
labels='{{range $k, $v := .metadata.labels}}"{{$k}}" = "{{$v}}"
{{end}}'
me=$(kubectl get node "$NODE_NAME" -o go-template="$labels")
peers=$(kubectl get nodes -o go-template='{{range .items}}{{if ne .metadata.name "'"$NODE_NAME"'"}}[[node.peer]]
name = "{{.metadata.name}}"
url = "http://{{range .status.addresses}}{{if eq .type "InternalIP"}}{{.address}}{{end}}{{end}}:'"$peer_port"'"
[node.peer.labels]
'"$labels"'{{end}}{{end}}')

cat >"$config" <<TOML
listen = "$NODE_IP:$port"
admin = "127.0.0.1:8081"
drain = 5
handoff_dir = "/run/faasin"
join_secret_file = "/etc/faasin-join/secret"

[node]
name = "$NODE_NAME"
peer_listen = "$NODE_IP:$peer_port"
edge_listen = "$NODE_IP:$edge_port"

[node.labels]
$me

$peers

TOML
cat /etc/faasin/functions.toml >>"$config"
exec faasin serve -c "$config"
