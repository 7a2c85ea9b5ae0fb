#!/usr/bin/env bash
# ran ID: deployment ID has an in_progress status, so its deploy job started (one rejected at
# approval or cancelled while it waited never did, and has no say in what the environment runs).
ran() {
  [ "$(gh api "repos/$GITHUB_REPOSITORY/deployments/$1/statuses?per_page=100" \
    --jq 'any(.[]; .state == "in_progress")')" = "true" ]
}
