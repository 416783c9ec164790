#!/usr/bin/env bash
# Prints the manifest of a function's instances as pods that join the node
# service of their node: a DaemonSet (on every node, or on the nodes with a
# label) whose pods run INSTANCES containers of IMAGE, each running COMMAND,
# a warm FAASIN function. They find the handoff socket in the node's
# hostPath directory and join with the token SECRET/FUNCTION (the Secret
# faasin-join). No privileges, no host IPC or network, not root: ring
# memory comes over the socket.
#
# Usage: deploy/k8s/function-pods.sh FUNCTION IMAGE COMMAND [INSTANCES] [NODE-LABEL]
#   e.g. function-pods.sh cat faasin/peer:dev "/bin/peer warm cat" 2 | kubectl apply -f -
set -euo pipefail
(($# >= 3)) || { sed -n 's/^# Usage: //p' "$0" >&2; exit 2; }
function=$1 image=$2 command=$3 instances=${4:-1} label=${5:-}
[[ $function =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] ||
    { echo "function-pods.sh: $function is not a name Kubernetes takes" >&2; exit 2; }
[[ $instances =~ ^[1-9][0-9]*$ ]] || { echo "function-pods.sh: INSTANCES: $instances" >&2; exit 2; }
selector=
if [[ -n $label ]]; then
    [[ $label == *=* ]] || { echo "function-pods.sh: NODE-LABEL is KEY=VALUE" >&2; exit 2; }
    selector="      nodeSelector: {\"${label%%=*}\": \"${label#*=}\"}"
fi

cat <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fn-$function
  namespace: faasin
spec:
  selector:
    matchLabels: {app: fn-$function}
  template:
    metadata:
      labels: {app: fn-$function}
    spec:
$selector
      terminationGracePeriodSeconds: 2
      # No FAASIN_* variables for the Service named faasin.
      enableServiceLinks: false
      securityContext: {runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true}
      volumes:
        - name: handoff
          hostPath: {path: /run/faasin, type: DirectoryOrCreate}
      containers:
YAML
for ((i = 1; i <= instances; i++)); do
    cat <<YAML
        - name: instance-$i
          image: $image
          imagePullPolicy: Never
          # Until its node service is up (again), joining fails: try again.
          # The shell is PID 1: it passes SIGTERM on.
          command:
            - /bin/sh
            - -c
            - |
              trap 'kill \$pid 2>/dev/null; exit 143' TERM
              while :; do
                $command &
                pid=\$!
                wait \$pid && exit 0
                sleep 0.5
              done
          env:
            - name: NODE_NAME
              valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
            - name: JOIN_SECRET
              valueFrom: {secretKeyRef: {name: faasin-join, key: secret}}
            - {name: FAASIN_TOKEN, value: "\$(JOIN_SECRET)/$function"}
            - {name: FAASIN_SOCKET, value: /run/faasin/handoff.sock}
            - {name: FAASIN_WARM, value: "2"}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: handoff, mountPath: /run/faasin, subPathExpr: \$(NODE_NAME)}
YAML
done
