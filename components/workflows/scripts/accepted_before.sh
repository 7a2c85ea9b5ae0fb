#!/usr/bin/env bash
# One rule for every environment (staging after dev, prod after staging): only a digest accepted
# in PREVIOUS, judged by its newest deployment there that ran (one with an in_progress status:
# its deploy job started; one rejected at approval or cancelled while waiting never ran and has
# no say). Its latest verdict must be success with the accept job's description
# (ACCEPTED_VERDICT: after dev's integration tests, staging's e2e, k6 and scan); a later deploy
# of the same digest to PREVIOUS that
# failed acceptance or was rolled back withdraws an older acceptance. GitHub marks older
# successful deployments `inactive` when a newer one succeeds (auto_inactive), so `inactive` is
# no verdict: the status before it is. A payload may be a string (another tool's deployment).
ids="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" -f environment="$PREVIOUS" \
  -f sha="$COMMIT" -f per_page=100 \
  --jq "[.[] | select((.payload | objects | .digest) == \"$DIGEST\") | .id] | .[]")"
for id in $ids; do
  statuses="$(gh api "repos/$GITHUB_REPOSITORY/deployments/$id/statuses?per_page=100" \
    --jq '[.[] | select(.state != "inactive")]')"
  if [ "$(jq 'any(.[]; .state == "in_progress")' <<<"$statuses")" != "true" ]; then
    continue
  fi
  state="$(jq --raw-output '.[0].state // ""' <<<"$statuses")"
  description="$(jq --raw-output '.[0].description // ""' <<<"$statuses")"
  if [ "$state" = "success" ] && [ "$description" = "$ACCEPTED_VERDICT" ]; then
    echo "$DIGEST was accepted in $PREVIOUS (deployment $id)"
    exit 0
  fi
  echo "::error::the newest deployment of $DIGEST to $PREVIOUS ($id) is not accepted: ${state:-no status}${description:+ ($description)}: refusing to promote it"
  exit 1
done
echo "::error::$DIGEST was never deployed successfully to $PREVIOUS: refusing to promote it"
exit 1
