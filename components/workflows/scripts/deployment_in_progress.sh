#!/usr/bin/env bash
if [ -n "$DEPLOYMENT_ID" ]; then
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \
    -f state=in_progress -f log_url="$RUN_URL" > /dev/null
fi
