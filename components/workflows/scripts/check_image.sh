#!/usr/bin/env bash
# deploy: the release the verify job handed over is an image digest reference.
# Env: NEW_IMAGE; IMAGE_REF_PATTERN (components/workflows/common.py, a regular expression).
if [[ ! "$NEW_IMAGE" =~ $IMAGE_REF_PATTERN ]] || [[ "$NEW_IMAGE" != *@sha256:* ]]; then
  echo "::error::the verified release is not an image digest reference"
  exit 1
fi
