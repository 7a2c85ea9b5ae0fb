#!/usr/bin/env bash
# deploy: record the image that serves now, for a rollback (output image).
# Env: NAMESPACE, WORKLOAD_KIND, WORKLOAD_NAME; IMAGE_REF_PATTERN (components/workflows/common.py,
# a regular expression for [[ =~ ]]).
# The stable digest is what serves now: the Rollout's stable ReplicaSet (status.stableRS is its
# pod-template hash), never the spec, which may already name a canary that has not been promoted.
# A Deployment is either fully rolled out or failed, so its spec is what runs.
case "$WORKLOAD_KIND" in
  Rollout)
    hash="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json \
      | jq --raw-output '.status.stableRS // ""')"
    if [ -z "$hash" ]; then
      echo "::error::rollout $WORKLOAD_NAME reports no stable ReplicaSet"
      exit 1
    fi
    stable="$(kubectl --namespace "$NAMESPACE" get replicasets \
      --selector "rollouts-pod-template-hash=$hash" --output json \
      | jq --raw-output --arg name "$WORKLOAD_NAME" \
        '[.items[].spec.template.spec.containers[] | select(.name == $name) | .image][0] // ""')"
    ;;
  Deployment)
    stable="$(kubectl --namespace "$NAMESPACE" get deployment "$WORKLOAD_NAME" --output json \
      | jq --raw-output --arg name "$WORKLOAD_NAME" \
        '.spec.template.spec.containers[] | select(.name == $name) | .image')"
    ;;
  *)
    echo "::error::WORKLOAD_KIND must be Rollout or Deployment"
    exit 1
    ;;
esac
if [[ ! "$stable" =~ $IMAGE_REF_PATTERN ]]; then
  echo "::error::cannot read the stable image of $WORKLOAD_KIND $WORKLOAD_NAME"
  exit 1
fi
echo "stable image: $stable"
echo "image=$stable" >> "$GITHUB_OUTPUT"
