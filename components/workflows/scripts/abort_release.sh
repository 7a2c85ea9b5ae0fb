#!/usr/bin/env bash
# action=abort stops the canary of the release this run was approved for and nothing else: a
# newer release someone started since, or a release already promoted to stable, is refused.
if [ "$WORKLOAD_KIND" != "Rollout" ]; then
  echo "::error::$WORKLOAD_KIND $WORKLOAD_NAME has no canary to abort"
  exit 1
fi
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" != "$NEW_IMAGE" ]; then
  echo "::error::the canary runs $canary, not $NEW_IMAGE: refusing to abort another release"
  exit 1
fi
# Both hashes are read, never assumed: a status without them is no reason to refuse a stop.
current="$(jq --raw-output '.status.currentPodHash // ""' <<<"$rollout")"
if [ -n "$current" ] && [ "$current" = "$(jq --raw-output '.status.stableRS // ""' <<<"$rollout")" ]
then
  echo "::error::$NEW_IMAGE is the stable release, not a canary: nothing to abort"
  exit 1
fi
kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \
  --type=merge --patch '{"status":{"abort":true}}'
echo "rollout $WORKLOAD_NAME aborted: traffic is back on the stable version"
