#!/usr/bin/env bash
# rescan_previous: the run id of the newest rescan state that has not expired, as the step output
# run_id ("" on a first run, or once the last state expired: every finding is then new once).
# The state is an artifact (name STATE_ARTIFACT, which carries its format version); GitHub lists
# a repository's artifacts newest first. Only an artifact of a run of this repository on the
# default branch counts: a pull request from a fork runs its own workflow files and could upload
# an artifact of the same name, to hide findings or break every later run.
# Env: GH_TOKEN, STATE_ARTIFACT, DEFAULT_BRANCH.
set -euo pipefail
run_id="$(gh api --method GET "repos/$GITHUB_REPOSITORY/actions/artifacts" \
  -f name="$STATE_ARTIFACT" -f per_page=50 \
  --jq "[.artifacts[] | select((.expired | not)
          and .workflow_run.head_branch == \"$DEFAULT_BRANCH\"
          and .workflow_run.head_repository_id == .workflow_run.repository_id)][0].workflow_run.id
        // empty")"
if [ -z "$run_id" ]; then
  echo "::notice::no earlier rescan state ($STATE_ARTIFACT): every finding counts as new"
fi
echo "run_id=$run_id" >> "$GITHUB_OUTPUT"
