#!/usr/bin/env bash
# One final state per deployment: success, failure (aborted or rolled back), or in_progress
# while a canary waits for a person.
if [ -z "$DEPLOYMENT_ID" ]; then
  echo "::warning::no GitHub deployment to update"
  exit 0
fi
# A promote or abort refused before it touched the cluster (not this release's canary, not
# paused, already stable) changed nothing: the deployment keeps its verdict, which may well be an
# accepted release's success.
if { [ "$ACTION" = "promote" ] || [ "$ACTION" = "abort" ]; } && [ "$ACTED" != "true" ]; then
  echo "::notice::this $ACTION changed nothing in the cluster: deployment $DEPLOYMENT_ID keeps its status"
  exit 0
fi
if [ "$ROLLBACK" = "success" ] && [ "$ROLLBACK_WAIT" != "success" ]; then
  state=failure; description="health check failed; the rollback to $STABLE_IMAGE is not healthy"
elif [ "$ROLLBACK" = "success" ]; then
  state=failure; description="health check failed: rolled back to $STABLE_IMAGE"
elif [ "$JOB_STATUS" = "failure" ] && [ "${ACTED:-}" = "false" ]; then
  # A deploy or retry refused before it touched the cluster (the step's error says why).
  state=failure; description="refused before it changed the cluster; see the run"
elif [ "$JOB_STATUS" = "success" ] && [ "$WAIT_STATE" = "paused" ]; then
  state=in_progress; description="canary paused for a person: promote or abort"
elif [ "$JOB_STATUS" = "success" ] && [ "$ACTION" = "abort" ]; then
  state=failure; description="aborted by a person; traffic on the stable version"
elif [ "$JOB_STATUS" = "success" ] && [ -n "${ACCEPTANCE:-}" ]; then
  # Healthy, but not yet accepted: the acceptance jobs after this one record the verdict, and
  # only then may a later stage count this deployment as a success.
  state=in_progress; description="healthy; acceptance pending: $ACCEPTANCE"
elif [ "$JOB_STATUS" = "success" ]; then
  state=success; description="healthy"
elif [ "$JOB_STATUS" = "cancelled" ]; then
  state=error; description="run cancelled; canary aborted"
else
  state=failure; description="release failed; canary aborted"
fi
gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \
  -f state="$state" -f description="$description" -f log_url="$RUN_URL" \
  -f environment_url="$APP_URL" > /dev/null
echo "deployment $DEPLOYMENT_ID: $state ($description)"
