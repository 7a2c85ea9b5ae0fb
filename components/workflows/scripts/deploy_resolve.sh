#!/usr/bin/env bash
# verify (staging, prod): resolve the dispatched release (a digest or a tag) to one digest.
# Env: ACTION, RELEASE (the dispatch inputs), GH_TOKEN, IMAGE; DIGEST_PATTERN and TAG_PATTERN
# (components/workflows/common.py, regular expressions for [[ =~ ]]); GITHUB_ACTOR from the runner.
if [ "$ACTION" = "abort" ]; then
  # An abort reads nothing from the registry or Sigstore, so their outage cannot block it: it
  # takes the digest the canary runs (the deploy job checks that it does) and no tag.
  if [[ ! "$RELEASE" =~ $DIGEST_PATTERN ]]; then
    echo "::error::action abort takes the canary's image digest (sha256:<64 hex>), not a tag"
    exit 1
  fi
  echo "digest=$RELEASE" >> "$GITHUB_OUTPUT"
  echo "image=${IMAGE}@${RELEASE}" >> "$GITHUB_OUTPUT"
  exit 0
fi
# The package is private (the stack gives the cluster a pull secret), so resolving a tag and
# reading signatures (cosign uses docker's credentials) both need the login, digest or not.
docker login "${IMAGE%%/*}" --username "$GITHUB_ACTOR" --password-stdin <<<"$GH_TOKEN"
if [[ "$RELEASE" =~ $DIGEST_PATTERN ]]; then
  digest="$RELEASE"
elif [[ "$RELEASE" =~ $TAG_PATTERN ]]; then
  # Resolved once, here; every later step names the digest, so a moved tag changes nothing.
  digest="$(docker buildx imagetools inspect "${IMAGE}:${RELEASE}" --format '{{json .Manifest}}' \
    | jq --raw-output '.digest')"
  if [[ ! "$digest" =~ $DIGEST_PATTERN ]]; then
    echo "::error::tag $RELEASE of $IMAGE does not resolve to a digest"
    exit 1
  fi
else
  echo "::error::input release must be an image digest (sha256:<64 hex>) or a tag"
  exit 1
fi
echo "digest=$digest" >> "$GITHUB_OUTPUT"
echo "image=${IMAGE}@${digest}" >> "$GITHUB_OUTPUT"
