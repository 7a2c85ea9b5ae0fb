#!/usr/bin/env bash
# release on a v* tag: give the release's name to the digest release_resolve.sh found (built,
# scanned, signed and deployed from the default branch) after the scan of that digest passed.
# Nothing is rebuilt or re-signed, so the digest stage and prod verify (signed by ci.yml on the
# default branch) is exactly the one the tag names.
# Env: IMAGE, DIGEST, COMMIT; GITHUB_REF_NAME from the runner.
release="${GITHUB_REF_NAME}"
version="${release#v}"
version="${version//+/_}"
# --prefer-index=false: by default imagetools create wraps a single-platform manifest in a new
# index, whose digest nobody signed; this way the tag names the signed manifest itself.
docker buildx imagetools create --prefer-index=false --tag "${IMAGE}:${version}" "${IMAGE}@${DIGEST}"
tagged="$(docker buildx imagetools inspect "${IMAGE}:${version}" --format '{{json .Manifest}}' \
  | jq --raw-output '.digest')"
if [ "$tagged" != "$DIGEST" ]; then
  echo "::error::${IMAGE}:${version} resolves to ${tagged:-nothing}, not the signed ${DIGEST}: the release tag must name the signed digest"
  exit 1
fi
printf '%s\n' "$DIGEST" > "$RUNNER_TEMP/digest.txt"
{
  echo "### Release ${release}"
  echo "- ${IMAGE}:${version} -> ${DIGEST}"
  echo "- the digest CI published from ${COMMIT} on the default branch (signature verified, scanned again)"
} >> "$GITHUB_STEP_SUMMARY"
