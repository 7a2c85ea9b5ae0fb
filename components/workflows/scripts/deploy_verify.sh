#!/usr/bin/env bash
# verify (staging, prod): the digest is signed by CI on the default branch, for the commit its
# revision label names, and carries CI's SBOM attestation (components/signing.py).
# Env: IMAGE, DIGEST, SIGNER_IDENTITY, SIGNER_REF, OIDC_ISSUER, VERIFY_FLAGS (cosign flags of the
# signature format, space-separated words), PREDICATE_TYPE (the SBOM attestation's type),
# REVISION_LABEL (the image label naming the source commit); GITHUB_REPOSITORY from the runner.
ref="${IMAGE}@${DIGEST}"
read -r -a flags <<<"$VERIFY_FLAGS"
# The image's revision label is only a claim about its source commit: cosign accepts the
# signature below only if CI's certificate names that same commit, this repository and the
# default branch (Fulcio's GitHub workflow extensions), so a wrong label fails verification.
commit="$(docker buildx imagetools inspect "$ref" --format '{{json .Image}}' \
  | jq --raw-output --arg key "$REVISION_LABEL" '.config.Labels[$key] // ""')"
if [[ ! "$commit" =~ ^[0-9a-f]{40}$ ]]; then
  echo "::error::$ref has no $REVISION_LABEL label naming its source commit"
  exit 1
fi
identity=(--certificate-identity "$SIGNER_IDENTITY" --certificate-oidc-issuer "$OIDC_ISSUER"
  --certificate-github-workflow-repository "$GITHUB_REPOSITORY"
  --certificate-github-workflow-ref "$SIGNER_REF" --certificate-github-workflow-sha "$commit")
if ! cosign verify "$ref" "${flags[@]}" "${identity[@]}" > /dev/null; then
  echo "::error::$ref is not signed by $SIGNER_IDENTITY from commit $commit: refusing to deploy it"
  exit 1
fi
if ! cosign verify-attestation "$ref" --type "$PREDICATE_TYPE" "${flags[@]}" \
    "${identity[@]}" > /dev/null; then
  echo "::error::$ref has no SBOM attestation by $SIGNER_IDENTITY: refusing to deploy it"
  exit 1
fi
echo "signed by $SIGNER_IDENTITY, built from $commit"
echo "commit=$commit" >> "$GITHUB_OUTPUT"
