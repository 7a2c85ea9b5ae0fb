#!/usr/bin/env bash
# dev: read the digest CI handed over in its artifact (downloaded to $RUNNER_TEMP/digest).
# Env: IMAGE; DIGEST_FILE, DIGEST_ARTIFACT (components/workflows/ci.py), DIGEST_PATTERN
# (components/workflows/common.py, a regular expression for [[ =~ ]]).
digest="$(tr -d '[:space:]' < "$RUNNER_TEMP/digest/$DIGEST_FILE")"
if [[ ! "$digest" =~ $DIGEST_PATTERN ]]; then
  echo "::error::the CI artifact $DIGEST_ARTIFACT does not hold an image digest"
  exit 1
fi
echo "image=${IMAGE}@${digest}" >> "$GITHUB_OUTPUT"
echo "digest=$digest" >> "$GITHUB_OUTPUT"
