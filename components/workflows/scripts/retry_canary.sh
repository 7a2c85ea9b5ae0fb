#!/usr/bin/env bash
# action=retry: run the aborted canary of the release this run was approved for again, and
# nothing else. The patch is what the Argo Rollouts plugin's retry sends (status.abort back to false,
# the plugin's cmd/retry/retry.go, argo-rollouts v1.8.3); the controller then starts
# the canary's steps again from the first (rollout/canary.go keeps an aborted canary at step 0).
# The admission policy allows it only while the canary is not the stable ReplicaSet.
# Env: NAMESPACE, WORKLOAD_NAME, WORKLOAD_KIND, NEW_IMAGE, RETRY_WAIT_SECONDS.
if [ "$WORKLOAD_KIND" != "Rollout" ]; then
  echo "::error::$WORKLOAD_KIND $WORKLOAD_NAME has no canary to retry: run this workflow with action deploy"
  exit 1
fi
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" != "$NEW_IMAGE" ]; then
  echo "::error::the rollout names $canary, not $NEW_IMAGE: only the aborted release can be retried; to release $NEW_IMAGE run this workflow with action deploy"
  exit 1
fi
if [ "$(jq --raw-output '.status.abort // false' <<<"$rollout")" != "true" ]; then
  echo "::error::the canary of $NEW_IMAGE is not aborted: nothing to retry (promote or abort a paused canary instead)"
  exit 1
fi
current="$(jq --raw-output '.status.currentPodHash // ""' <<<"$rollout")"
if [ -z "$current" ] || [ "$current" = "$(jq --raw-output '.status.stableRS // ""' <<<"$rollout")" ]
then
  echo "::error::$NEW_IMAGE is the stable release, not an aborted canary: nothing to retry"
  exit 1
fi
kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \
  --type=merge --patch '{"status":{"abort":false}}'
echo "retrying the canary of $NEW_IMAGE from its first step"
# The wait that follows must not read the abort's own Degraded phase: the controller clears
# status.abortedAt when it has reconciled the retry (rollout/pause.go, v1.8.3).
deadline=$(( $(date +%s) + RETRY_WAIT_SECONDS ))
while :; do
  rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
  if [ "$(jq --raw-output '.status.abortedAt // "" | length' <<<"$rollout")" = "0" ] \
    && [ "$(jq --raw-output '.status.phase // ""' <<<"$rollout")" != "Degraded" ]; then
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::the controller did not pick up the retry of $WORKLOAD_NAME within ${RETRY_WAIT_SECONDS}s"
    exit 1
  fi
  sleep 5
done
