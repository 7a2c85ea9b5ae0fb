#!/usr/bin/env bash
# publish on a v* tag: give the release's name to the digest the default branch already built,
# scanned, signed and deployed. Nothing is rebuilt or re-signed, so the digest stage and prod
# verify (signed by ci.yml on the default branch) is exactly the one the tag names.
# Env: IMAGE, SIGNER_IDENTITY, SIGNER_REF, OIDC_ISSUER, NEW_BUNDLE_FORMAT (the signature format of
# components/signing.py); GITHUB_SHA, GITHUB_REF_NAME, GITHUB_REPOSITORY from the runner.
release="${GITHUB_REF_NAME}"
version="${release#v}"
version="${version//+/_}"
source_tag="${IMAGE}:sha-${GITHUB_SHA}"
if ! manifest="$(docker buildx imagetools inspect "$source_tag" --format '{{json .Manifest}}')"; then
  echo "::error::${release} points at ${GITHUB_SHA}, which no CI run on the default branch published (${source_tag} not found): tag a commit of the default branch after its CI run has published it"
  exit 1
fi
digest="$(jq --raw-output '.digest' <<<"$manifest")"
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::${source_tag} does not resolve to an image digest"
  exit 1
fi
# The certificate must name this repository, the default branch and the tagged commit.
if ! cosign verify "${IMAGE}@${digest}" --new-bundle-format="$NEW_BUNDLE_FORMAT" \
    --certificate-identity "$SIGNER_IDENTITY" --certificate-oidc-issuer "$OIDC_ISSUER" \
    --certificate-github-workflow-repository "$GITHUB_REPOSITORY" \
    --certificate-github-workflow-ref "$SIGNER_REF" \
    --certificate-github-workflow-sha "$GITHUB_SHA" > /dev/null; then
  echo "::error::${IMAGE}@${digest} (${source_tag}) is not signed by ${SIGNER_IDENTITY} for ${GITHUB_SHA}: not releasing it as ${release}"
  exit 1
fi
# --prefer-index=false: by default imagetools create wraps a single-platform manifest in a new
# index, whose digest nobody signed; this way the tag names the signed manifest itself.
docker buildx imagetools create --prefer-index=false --tag "${IMAGE}:${version}" "${IMAGE}@${digest}"
tagged="$(docker buildx imagetools inspect "${IMAGE}:${version}" --format '{{json .Manifest}}' \
  | jq --raw-output '.digest')"
if [ "$tagged" != "$digest" ]; then
  echo "::error::${IMAGE}:${version} resolves to ${tagged:-nothing}, not the signed ${digest}: the release tag must name the signed digest"
  exit 1
fi
echo "digest=$digest" >> "$GITHUB_OUTPUT"
printf '%s\n' "$digest" > "$RUNNER_TEMP/digest.txt"
{
  echo "### Release ${release}"
  echo "- ${IMAGE}:${version} -> ${digest}"
  echo "- the digest CI published from ${GITHUB_SHA} on the default branch (signature verified)"
} >> "$GITHUB_STEP_SUMMARY"
