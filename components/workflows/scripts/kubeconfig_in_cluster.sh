#!/usr/bin/env bash
# cluster.access inCluster: the job runs in a runner pod of the environment's scale set, whose
# ServiceAccount the stack bound to the deployer Role. The kubeconfig points at the pod's own
# projected token file (kubectl re-reads it, so a rotated token is picked up) and CA: nothing
# is copied out of the pod, and no secret exists to copy.
set -euo pipefail
umask 077
sa_dir="${SERVICE_ACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}"
if [ ! -r "$sa_dir/token" ] || [ -z "${KUBERNETES_SERVICE_HOST:-}" ]; then
  echo "::error::No in-cluster ServiceAccount here: this job must run on the environment's runner scale set (cicd:deploy.runner.scaleSet)"
  exit 1
fi
host="$KUBERNETES_SERVICE_HOST"
case "$host" in *:*) host="[$host]" ;; esac
kubectl config set-cluster cluster --server="https://$host:${KUBERNETES_SERVICE_PORT:-443}" \
  --certificate-authority="$sa_dir/ca.crt" --embed-certs=true
kubectl config set-credentials deployer
kubectl config set users.deployer.tokenFile "$sa_dir/token"
kubectl config set-context deployer --cluster=cluster --user=deployer --namespace="$NAMESPACE"
kubectl config use-context deployer
