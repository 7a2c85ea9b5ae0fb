#!/usr/bin/env bash
# dev deploys only what is newer than what it runs, by commit order: CI runs finish out of order
# and a re-run fires workflow_run again, so an older digest can arrive after a newer one. Newer:
# the commit of the running image is an ancestor of the candidate's (GitHub's compare API,
# GET /repos/{owner}/{repo}/compare/BASE...HEAD, status ahead or identical; behind is not newer
# and skips green; diverged fails red, since it stays diverged for every later commit). The running image's commit is the one this environment's GitHub deployment of that
# digest recorded. Runs inside the serialized deploy job, so no other deploy moves dev meanwhile.
# Output newer=true|false; false (behind, or the same digest) is a skip, not a failure.
# Env: NAMESPACE, WORKLOAD_NAME, WORKLOAD_KIND, ENVIRONMENT, CANDIDATE_COMMIT, CANDIDATE_DIGEST,
# GH_TOKEN.
skip() {
  echo "::notice::not deployed: $1"
  echo "### Not deployed to $ENVIRONMENT: $1" >> "$GITHUB_STEP_SUMMARY"
  echo "newer=false" >> "$GITHUB_OUTPUT"
  exit 0
}
deploy() {
  echo "$1"
  echo "newer=true" >> "$GITHUB_OUTPUT"
  exit 0
}
case "$WORKLOAD_KIND" in
  Rollout) resource=rollout ;;
  Deployment) resource=deployment ;;
  *)
    echo "::error::WORKLOAD_KIND must be Rollout or Deployment"
    exit 1
    ;;
esac
running="$(kubectl --namespace "$NAMESPACE" get "$resource" "$WORKLOAD_NAME" --output json \
  | jq --raw-output --arg name "$WORKLOAD_NAME" \
    '.spec.template.spec.containers[] | select(.name == $name) | .image')"
running_digest="${running##*@}"
if [[ ! "$running_digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  deploy "$ENVIRONMENT runs $running, not a digest of this pipeline: deploying $CANDIDATE_DIGEST"
fi
if [ "$running_digest" = "$CANDIDATE_DIGEST" ]; then
  skip "$ENVIRONMENT already runs $CANDIDATE_DIGEST"
fi
running_commit="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" \
  -f environment="$ENVIRONMENT" -f per_page=100 \
  --jq "[.[] | select((.payload | objects | .digest) == \"$running_digest\") | .sha][0] // \"\"")"
if [[ ! "$running_commit" =~ ^[0-9a-f]{40}$ ]]; then
  deploy "no deployment to $ENVIRONMENT records the commit of $running_digest: deploying $CANDIDATE_DIGEST"
fi
order="$(gh api "repos/$GITHUB_REPOSITORY/compare/${running_commit}...${CANDIDATE_COMMIT}" \
  --jq '.status')"
case "$order" in
  ahead | identical)
    deploy "commit $CANDIDATE_COMMIT is newer than $running_commit, which $ENVIRONMENT runs (compare: $order): deploying"
    ;;
  behind)
    skip "commit $CANDIDATE_COMMIT is not newer than $running_commit, which $ENVIRONMENT runs ($running_digest; compare: $order); only a descendant replaces it"
    ;;
  diverged)
    # After a force-push or a rewritten history every later commit compares as diverged: a
    # green skip would freeze the environment for good, so this is red and says what to do.
    echo "::error::commit $CANDIDATE_COMMIT and $running_commit, which $ENVIRONMENT runs ($running_digest), have diverged (a force-push or rewritten history?): not deployed; set $ENVIRONMENT's image to a digest of the rewritten branch once by hand (docs/release-edges.md, diverged history), later runs compare against it"
    exit 1
    ;;
  *)
    echo "::error::cannot compare $running_commit with $CANDIDATE_COMMIT (compare status: ${order:-none})"
    exit 1
    ;;
esac
