#!/usr/bin/env bash
# What the Argo Rollouts plugin's promote sends, after checking that the paused canary is the
# release this run was approved for.
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" != "$NEW_IMAGE" ]; then
  echo "::error::the canary runs $canary, not $NEW_IMAGE: nothing of this release to promote"
  exit 1
fi
if [ "$(jq --raw-output '.status.phase // ""' <<<"$rollout")" != "Paused" ]; then
  echo "::error::rollout $WORKLOAD_NAME is not paused: nothing to promote"
  exit 1
fi
step="$(jq --raw-output '.status.currentStepIndex // 0' <<<"$rollout")"
kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \
  --type=merge --patch '{"status":{"pauseConditions":null}}'
echo "promoted rollout $WORKLOAD_NAME from step $step"
echo "step=$step" >> "$GITHUB_OUTPUT"
