#!/usr/bin/env bash
umask 077
plugin="$RUNNER_TEMP/github-oidc-token"
cat > "$plugin" <<'PLUGIN'
#!/usr/bin/env bash
set -euo pipefail
token="$(curl --fail --silent --show-error --max-time 10 --get \
  --header "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  --data-urlencode "audience=$KUBE_AUDIENCE" "$ACTIONS_ID_TOKEN_REQUEST_URL" \
  | jq --raw-output '.value')"
jq --null-input --arg token "$token" \
  '{apiVersion: "client.authentication.k8s.io/v1beta1", kind: "ExecCredential",
    status: {token: $token}}'
PLUGIN
chmod 700 "$plugin"
printf '%s' "$KUBE_CA_DATA" | base64 --decode > "$RUNNER_TEMP/cluster-ca.crt"
kubectl config set-cluster cluster --server="$KUBE_SERVER" \
  --certificate-authority="$RUNNER_TEMP/cluster-ca.crt" --embed-certs=true
kubectl config set-credentials deployer --exec-api-version=client.authentication.k8s.io/v1beta1 \
  --exec-command="$plugin" --exec-env="KUBE_AUDIENCE=$KUBE_AUDIENCE"
kubectl config set-context deployer --cluster=cluster --user=deployer --namespace="$NAMESPACE"
kubectl config use-context deployer
