#!/usr/bin/env bash
# The deployment's verdict once the acceptance jobs have run: success only when every one of
# them succeeded. A later stage (prod) counts only a successful deployment, so a release whose
# e2e, performance or security scan failed here cannot be promoted; it keeps running in this
# environment for people to look at. Env: RESULTS ("job=result ..."), DEPLOYMENT_ID,
# ENVIRONMENT, ACCEPTED_VERDICT.
failed=""
for pair in $RESULTS; do
  if [ "${pair#*=}" != "success" ]; then
    failed="$failed ${pair%%=*} (${pair#*=})"
  fi
done
newer=""
if [ -z "$failed" ]; then
  # The tests hit the environment's URL, so they tested this release only if no newer one has
  # replaced it since (a re-run of a failed test or of this job after another deploy): a newer
  # deployment of a digest that ran (has an in_progress status) means they did not.
  # (read into a variable first: bash -e ignores a failure inside a for list, and a skipped
  # check would record success)
  ids="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" \
    -f environment="$ENVIRONMENT" -f per_page=100 \
    --jq '[.[] | select(.payload | objects | has("digest")) | .id] | .[]')"
  for id in $ids; do
    if [ "$id" = "$DEPLOYMENT_ID" ]; then
      break
    fi
    if ran "$id"; then
      newer="$id"
      break
    fi
  done
fi
if [ -n "$newer" ]; then
  failed=" deployment $newer replaced this release in $ENVIRONMENT before the verdict"
  state=failure; description="not accepted:$failed; deploy it again to test it"
  echo "::error::not accepted:$failed, so the tests did not test it"
elif [ -z "$failed" ]; then
  state=success; description="$ACCEPTED_VERDICT"
else
  state=failure; description="deployed, but acceptance failed:$failed; not promotable"
  echo "::error::acceptance failed:$failed: this release will not be promoted"
fi
gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \
  -f state="$state" -f description="$description" -f log_url="$RUN_URL" \
  -f environment_url="$APP_URL" > /dev/null
echo "deployment $DEPLOYMENT_ID: $state ($description)"
[ -z "$failed" ]
