#!/usr/bin/env bash
if [ "$WORKLOAD_KIND" = "Rollout" ]; then
  kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \
    --type=merge --patch '{"status":{"abort":true}}'
  echo "rollout $WORKLOAD_NAME aborted: traffic is back on the stable version"
fi
