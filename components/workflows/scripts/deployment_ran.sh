#!/usr/bin/env bash
# ran ID: deployment ID has an in_progress status, so its deploy job started (one rejected at
# approval or cancelled while it waited never did, and has no say in what the environment runs).
# An API error ends the step (exit 1): read as "never ran", it would let an older deployment
# decide what the environment runs.
ran() {
  local answer
  answer="$(gh api "repos/$GITHUB_REPOSITORY/deployments/$1/statuses?per_page=100" \
    --jq 'any(.[]; .state == "in_progress")')" || {
    echo "::error::could not read the statuses of deployment $1"
    exit 1
  }
  [ "$answer" = "true" ]
}
