#!/usr/bin/env bash
# The environment job never ran (approval rejected, switched off, cancelled while waiting):
# close the queued deployment so that GitHub's record says so.
latest="$(gh api "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses?per_page=1" \
  --jq '.[0].state // ""')"
if [ "$latest" = "queued" ]; then
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \
    -f state=error -f description="not deployed: deploy job $DEPLOY_RESULT" \
    -f log_url="$RUN_URL" > /dev/null
fi
