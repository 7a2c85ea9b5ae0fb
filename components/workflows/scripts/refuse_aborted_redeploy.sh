#!/usr/bin/env bash
# A deploy of the digest whose canary was aborted changes nothing in the spec, so Argo Rollouts
# keeps it aborted (status.abort stays true until the pod template changes or someone retries):
# the run would only wait on a Degraded rollout. Say what to do instead.
# Env: NAMESPACE, WORKLOAD_NAME, WORKLOAD_KIND, NEW_IMAGE.
if [ "$WORKLOAD_KIND" != "Rollout" ]; then
  exit 0
fi
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" = "$NEW_IMAGE" ] && [ "$(jq --raw-output '.status.abort // false' <<<"$rollout")" = "true" ]
then
  echo "::error::the canary of $NEW_IMAGE was aborted and stays aborted: to run it again, dispatch this workflow with action retry and the same release"
  exit 1
fi
