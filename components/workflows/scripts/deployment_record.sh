#!/usr/bin/env bash
# An abort skips verification (COMMIT is empty): its deployment names the source commit.
history=""
if [ -n "$COMMIT" ]; then
  history="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" -f sha="$COMMIT" \
    -f per_page=100 \
    --jq "[.[] | select((.payload | objects | .digest) == \"$DIGEST\") | .environment] | unique | join(\", \")")"
fi
if [ "$ACTION" = "deploy" ] || [ "$ACTION" = "retry" ]; then
  # A retry is a new release of the same digest: the aborted deployment keeps its failure.
  payload="$(jq --null-input --arg ref "$COMMIT" --arg env "$ENVIRONMENT" \
    --arg digest "$DIGEST" --arg image "$IMAGE_REF" --arg run "$RUN_URL" \
    --argjson production "$PRODUCTION" \
    '{ref: $ref, environment: $env, task: "deploy", auto_merge: false, required_contexts: [],
      production_environment: $production, description: $digest,
      payload: {digest: $digest, image: $image, source_commit: $ref, run_url: $run}}')"
  id="$(gh api --method POST "repos/$GITHUB_REPOSITORY/deployments" --input - --jq '.id' \
    <<<"$payload")"
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$id/statuses" \
    -f state=queued -f log_url="$RUN_URL" -f description="waiting for approval" > /dev/null
else
  # promote/abort continue the newest deployment that set this digest in this environment and
  # ran (has an in_progress status; a later one rejected at approval never did). A digest has one
  # source commit, so the digest alone finds it when the abort verified no commit.
  filter=(-f environment="$ENVIRONMENT" -f per_page=100)
  if [ -n "$COMMIT" ]; then
    filter+=(-f sha="$COMMIT")
  fi
  found="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" "${filter[@]}" \
    --jq "[.[] | select((.payload | objects | .digest) == \"$DIGEST\") | {id, sha}]")"
  id=""
  for candidate in $(jq --raw-output '.[].id' <<<"$found"); do
    if ran "$candidate"; then
      id="$candidate"
      break
    fi
  done
  if [ -z "$COMMIT" ]; then
    COMMIT="$(jq --raw-output --arg id "$id" \
      '[.[] | select((.id | tostring) == $id)][0].sha // ""' <<<"$found")"
  fi
fi
if [ "$ACTION" = "abort" ]; then
  SIGNER_IDENTITY="not re-verified: an abort only stops a canary verified when it was deployed"
fi
echo "deployment-id=$id" >> "$GITHUB_OUTPUT"
{
  echo "### Release to $ENVIRONMENT: $ACTION"
  echo "| | |"
  echo "|---|---|"
  echo "| digest | \`$DIGEST\` |"
  echo "| image | \`$IMAGE_REF\` |"
  echo "| source commit | $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/commit/$COMMIT |"
  echo "| signed by | $SIGNER_IDENTITY |"
  echo "| deployed before to | ${history:-nowhere yet} |"
  echo "| GitHub deployment | ${id:-none} |"
} >> "$GITHUB_STEP_SUMMARY"
