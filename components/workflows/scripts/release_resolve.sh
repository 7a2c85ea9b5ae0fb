#!/usr/bin/env bash
# release on a v* tag: find the digest the tag releases, without building anything. The tagged
# commit itself when the default branch built it; else, for the usual merge of the default branch
# into main, the merge's second parent (the merged default-branch commit), provided the merge
# changed nothing in the tree (main holds no change the default branch never built). The first
# parent is never taken: it is main's previous state, an older release. A commit that is neither
# (a squash or rebase merge of a pull request, made by GitHub, never built) releases the head of
# the merged pull request whose merge commit it is, when the head was published and the merge
# produced exactly the head's files (same git tree). Then the digest's signature must name this
# repository's CI on the default branch and that very commit.
# Env: IMAGE, SIGNER_IDENTITY, SIGNER_REF, OIDC_ISSUER, NEW_BUNDLE_FORMAT (components/signing.py),
# GH_TOKEN (pull requests: read); GITHUB_SHA, GITHUB_REF_NAME, GITHUB_REPOSITORY from the runner.
# Needs the tagged commit and its parents in the checkout (fetch-depth: 2).
release="${GITHUB_REF_NAME}"
tagged="${GITHUB_SHA}"
read -r -a parents <<<"$(git rev-list --parents --max-count=1 "$tagged" | cut -d' ' -f2-)"
candidates=("$tagged")
if [ "${#parents[@]}" -ge 2 ]; then
  candidates+=("${parents[1]}")
fi
commit=""
digest=""
for candidate in "${candidates[@]}"; do
  if manifest="$(docker buildx imagetools inspect "${IMAGE}:sha-${candidate}" \
      --format '{{json .Manifest}}' 2>/dev/null)"; then
    commit="$candidate"
    digest="$(jq --raw-output '.digest' <<<"$manifest")"
    break
  fi
done
pull=""
if [ -z "$commit" ] && [ "${#parents[@]}" -lt 2 ]; then
  # The pull request GitHub merged into this commit. Not GET commits/{sha}/pulls: for a commit
  # that is not on the repository's default branch (one on main, when the default branch is develop)
  # GitHub lists only open pull requests there (REST docs, "List pull requests associated with a
  # commit"); a merged one names the commit in merge_commit_sha ("Get a pull request").
  pulls="$(gh api "repos/${GITHUB_REPOSITORY}/pulls?state=closed&sort=updated&direction=desc&per_page=100")"
  read -r pull pull_head <<<"$(jq --raw-output --arg sha "$tagged" \
    'map(select(.merged_at != null and .merge_commit_sha == $sha)) | first // empty
     | "\(.number) \(.head.sha)"' <<<"$pulls")"
  if [ -n "$pull" ]; then
    if ! manifest="$(docker buildx imagetools inspect "${IMAGE}:sha-${pull_head}" \
        --format '{{json .Manifest}}' 2>/dev/null)"; then
      echo "::error::${release} points at ${tagged}, the merge of pull request #${pull}, whose head ${pull_head} no CI run on the default branch published (${IMAGE}:sha-${pull_head} not found): merge into main from a branch CI on the default branch has published (the default branch itself), or tag a commit it published"
      exit 1
    fi
    head_tree="$(gh api "repos/${GITHUB_REPOSITORY}/git/commits/${pull_head}" --jq '.tree.sha')"
    tagged_tree="$(git rev-parse "${tagged}^{tree}")"
    if [ "$head_tree" != "$tagged_tree" ]; then
      echo "::error::${release} points at ${tagged}, the squash or rebase merge of pull request #${pull}, whose files differ from ${pull_head}, the pull request's head CI built: the merge brought in changes no CI run built (the base branch had commits the head lacked); merge the base branch into the default branch, let CI publish, and merge again"
      exit 1
    fi
    commit="$pull_head"
    digest="$(jq --raw-output '.digest' <<<"$manifest")"
  fi
fi
if [ -z "$commit" ]; then
  if [ "${#candidates[@]}" -ge 2 ]; then
    echo "::error::${release} points at merge commit ${tagged}; neither it nor its merged parent ${candidates[1]} was published by a CI run on the default branch (${IMAGE}:sha-${candidates[1]} not found): let CI on the default branch publish ${candidates[1]} first, or tag a commit it published"
  else
    echo "::error::${release} points at ${tagged}, which no CI run on the default branch published (${IMAGE}:sha-${tagged} not found) and which is no merge of a pull request: tag a commit of the default branch after its CI run has published it"
  fi
  exit 1
fi
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::${IMAGE}:sha-${commit} does not resolve to an image digest"
  exit 1
fi
if [ "$commit" != "$tagged" ] && [ -z "$pull" ] && ! git diff --quiet "$commit" "$tagged" --; then
  echo "::error::${release} points at merge commit ${tagged}, whose files differ from ${commit}, the default-branch commit CI built: main holds changes no CI run built; merge them into the default branch, let CI publish, and merge again"
  exit 1
fi
# The certificate must name this repository, the default branch and the built commit.
if ! cosign verify "${IMAGE}@${digest}" --new-bundle-format="$NEW_BUNDLE_FORMAT" \
    --certificate-identity "$SIGNER_IDENTITY" --certificate-oidc-issuer "$OIDC_ISSUER" \
    --certificate-github-workflow-repository "$GITHUB_REPOSITORY" \
    --certificate-github-workflow-ref "$SIGNER_REF" \
    --certificate-github-workflow-sha "$commit" > /dev/null; then
  echo "::error::${IMAGE}@${digest} (${IMAGE}:sha-${commit}) is not signed by ${SIGNER_IDENTITY} for ${commit}: not releasing it as ${release}"
  exit 1
fi
echo "${release} releases ${IMAGE}@${digest}, built from ${commit}${pull:+ (the head of pull request #${pull})}"
echo "digest=$digest" >> "$GITHUB_OUTPUT"
echo "commit=$commit" >> "$GITHUB_OUTPUT"
