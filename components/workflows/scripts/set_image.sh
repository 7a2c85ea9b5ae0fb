#!/usr/bin/env bash
# Deployments take `kubectl set image`; a Rollout is a custom resource, so its container is
# found by name and replaced with a JSON patch (the deployer may patch, never create).
case "$WORKLOAD_KIND" in
  Deployment)
    kubectl --namespace "$NAMESPACE" set image "deployment/$WORKLOAD_NAME" \
      "$WORKLOAD_NAME=$NEW_IMAGE"
    ;;
  Rollout)
    index="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json \
      | jq --arg name "$WORKLOAD_NAME" '.spec.template.spec.containers | map(.name) | index($name)')"
    if [ "$index" = "null" ]; then
      echo "::error::rollout $WORKLOAD_NAME has no container named $WORKLOAD_NAME"
      exit 1
    fi
    patch="$(jq --compact-output --null-input --arg image "$NEW_IMAGE" --argjson index "$index" \
      '[{op: "replace", path: "/spec/template/spec/containers/\($index)/image", value: $image}]')"
    kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --type=json --patch "$patch"
    ;;
  *)
    echo "::error::WORKLOAD_KIND must be Rollout or Deployment"
    exit 1
    ;;
esac
