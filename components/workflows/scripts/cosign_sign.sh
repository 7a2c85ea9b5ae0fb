#!/usr/bin/env bash
# publish: keyless cosign signature of the pushed digest, in the format of components/signing.py.
# Env: IMAGE, DIGEST, SIGN_FLAGS (cosign flags of that format, space-separated words).
read -r -a flags <<<"$SIGN_FLAGS"
cosign sign --yes "${flags[@]}" "${IMAGE}@${DIGEST}"
