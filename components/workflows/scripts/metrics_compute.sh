#!/usr/bin/env bash
args=(--repository "$GITHUB_REPOSITORY" --workflow "$CI_WORKFLOW" --branch "$DEFAULT_BRANCH"
      --summary "$GITHUB_STEP_SUMMARY" --metrics-out "$EXPOSITION"
      --state "$STATE" --rate-limit-reserve "$RATE_LIMIT_RESERVE")
for environment in $ENVIRONMENTS; do args+=(--environment "$environment"); done
for days in $WINDOWS; do args+=(--window "$days"); done
if [ -n "$PUSHGATEWAY_URL" ]; then
  args+=(--pushgateway "$PUSHGATEWAY_URL" --pushgateway-auth "$PUSHGATEWAY_AUTH")
fi
python -m delivery_metrics "${args[@]}"
