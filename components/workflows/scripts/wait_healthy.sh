#!/usr/bin/env bash
# Deployment: kubectl rollout status. Rollout: poll .status.phase for the current generation until
# Healthy (state=healthy) or a manual pause is reached (state=paused; with ACCEPT_PAUSE=false, as
# for a rollback, a manual pause fails instead). Degraded or an abort fails. A manual pause is
# never promoted here: a person promotes it (docs/release.md).
if [ "$WORKLOAD_KIND" = "Deployment" ]; then
  kubectl --namespace "$NAMESPACE" rollout status "deployment/$WORKLOAD_NAME" \
    --timeout="${TIMEOUT_SECONDS}s"
  echo "state=healthy" >> "$GITHUB_OUTPUT"
  exit 0
fi
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
failures=0
phase=unknown
while :; do
  if ! rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
  then
    failures=$(( failures + 1 ))
    if [ "$failures" -gt "$READ_FAILURES_TOLERATED" ]; then
      echo "::error::cannot read rollout $WORKLOAD_NAME: $failures reads in a row failed"
      exit 1
    fi
    echo "::warning::reading rollout $WORKLOAD_NAME failed ($failures in a row): trying again"
  else
    failures=0
    phase="$(jq --raw-output '.status.phase // "Progressing"' <<<"$rollout")"
    observed="$(jq --raw-output \
      '((.status.observedGeneration // "") | tostring) == (.metadata.generation | tostring)' \
      <<<"$rollout")"
    aborted="$(jq --raw-output '.status.abort // false' <<<"$rollout")"
    step="$(jq --raw-output '.status.currentStepIndex // 0' <<<"$rollout")"
    echo "phase=$phase step=$step observed=$observed"
    # Status of an older generation (an abort before this patch) says nothing about this one.
    if [ "$observed" = "true" ] && { [ "$aborted" = "true" ] || [ "$phase" = "Degraded" ]; }; then
      echo "::error::rollout $WORKLOAD_NAME failed: $(jq --raw-output '.status.message // ""' <<<"$rollout")"
      exit 1
    fi
    # An Inconclusive analysis (no data past inconclusiveLimit) pauses the Rollout: nobody can
    # judge this canary, so the run fails and its abort step sends traffic back (docs/analysis.md).
    if [ "$observed" = "true" ] && [ "$(jq --raw-output       'any(.status.pauseConditions[]?; .reason == "InconclusiveAnalysisRun")' <<<"$rollout")" = "true" ]
    then
      echo "::error::rollout $WORKLOAD_NAME: the canary analysis is inconclusive (no data from Prometheus): aborting"
      echo "### Canary analysis inconclusive: no measurable traffic; the canary is aborted" >> "$GITHUB_STEP_SUMMARY"
      exit 1
    fi
    if [ "$observed" = "true" ] && [ "$phase" = "Healthy" ]; then
      echo "rollout $WORKLOAD_NAME is healthy"
      echo "state=healthy" >> "$GITHUB_OUTPUT"
      exit 0
    fi
    if [ "$observed" = "true" ] && [ "$phase" = "Paused" ] && [ "$step" != "$PROMOTED_FROM" ]; then
      manual="$(jq --raw-output '
        (.status.currentStepIndex // 0) as $i
        | (.spec.strategy.canary.steps[$i].pause // null) as $pause
        | $pause != null and ($pause.duration // null) == null
          and any(.status.pauseConditions[]?; .reason == "CanaryPauseStep")' <<<"$rollout")"
      if [ "$manual" = "true" ]; then
        weight="$(jq --raw-output '.status.canary.weights.canary.weight // .status.currentStepIndex' \
          <<<"$rollout")"
        if [ "$ACCEPT_PAUSE" != "true" ]; then
          echo "::error::rollout $WORKLOAD_NAME stopped at a manual pause at step $step (canary weight $weight) instead of becoming healthy"
          exit 1
        fi
        echo "::notice::rollout $WORKLOAD_NAME paused for a person at step $step: promote or abort"
        {
          echo "### Paused for a person at step $step (canary weight $weight)"
          echo "Run this workflow again with action **promote** (or **abort**) and the same release."
        } >> "$GITHUB_STEP_SUMMARY"
        echo "state=paused" >> "$GITHUB_OUTPUT"
        echo "step=$step" >> "$GITHUB_OUTPUT"
        exit 0
      fi
    fi
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::rollout $WORKLOAD_NAME not healthy after ${TIMEOUT_SECONDS}s (phase $phase)"
    exit 1
  fi
  sleep 10
done
