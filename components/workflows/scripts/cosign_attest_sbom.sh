#!/usr/bin/env bash
# publish: the SBOM (anchore/sbom-action's SPDX JSON) as a keyless cosign attestation of the
# pushed digest, in the format of components/signing.py.
# Env: IMAGE, DIGEST, SIGN_FLAGS, PREDICATE_TYPE.
read -r -a flags <<<"$SIGN_FLAGS"
cosign attest --yes "${flags[@]}" --type "$PREDICATE_TYPE" \
  --predicate "$RUNNER_TEMP/sbom.spdx.json" "${IMAGE}@${DIGEST}"
