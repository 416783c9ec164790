#!/usr/bin/env bash
# Makes the test cluster's certificates and kubeconfigs in $STATE/pki: a CA,
# the apiserver's serving cert, one client cert and kubeconfig per component
# (admin, controller-manager, scheduler, kube-proxy, each kubelet), the
# apiserver's client cert for kubelets, and the service-account key pair.
#
# Usage: deploy/k8s/certs.sh    (env: FAASIN_K8S_STATE; run by cluster-up.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pki=$STATE/pki
mkdir -p "$pki"
cd "$pki"

newkey() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }

# sign NAME SUBJECT [SANS]: a cert for NAME.key signed by the CA.
sign() {
    local name=$1 subject=$2 sans=${3:-}
    newkey "$name"
    local ext=$name.ext
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [[ -n $sans ]]; then
            echo "extendedKeyUsage=serverAuth"
            echo "subjectAltName=$sans"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$ext"
    openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 30 -extfile "$ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$ext"
}

# kubeconfig NAME: NAME.kubeconfig authenticating with NAME.crt.
kubeconfig() {
    local name=$1
    cat >"$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fk8s
  cluster:
    server: $APISERVER
    certificate-authority: $pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: fk8s
  context: {cluster: fk8s, user: $name}
current-context: fk8s
EOF
}

newkey ca
openssl req -x509 -new -key ca.key -subj "/CN=fk8s-ca" -days 30 -out ca.crt 2>/dev/null

sans="IP:$BRIDGE_IP,IP:127.0.0.1,IP:$FIRST_SERVICE_IP"
for node in "${NODES[@]}"; do sans+=",IP:${NODE_IP[$node]}"; done
sans+=",DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
sans+=",DNS:kubernetes.default.svc.cluster.local"
sign apiserver "/CN=kube-apiserver" "$sans"
sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"

sign admin "/O=system:masters/CN=fk8s-admin"
sign controller-manager "/CN=system:kube-controller-manager"
sign scheduler "/CN=system:kube-scheduler"
sign kube-proxy "/CN=system:kube-proxy"
for name in admin controller-manager scheduler kube-proxy; do kubeconfig "$name"; done
for node in "${NODES[@]}"; do
    sign "kubelet-$node" "/O=system:nodes/CN=system:node:$node"
    kubeconfig "kubelet-$node"
done

newkey sa
openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
chmod 600 ./*.key
