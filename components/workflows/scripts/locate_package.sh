#!/usr/bin/env bash
# test: find the workspace folder of the matrix package (its npm name, such as @acme/api) after
# npm ci, and an artifact-safe form of the name (artifact names may not hold "/" or "@").
# Env: PACKAGE.
dir="$(npm query .workspace | jq --raw-output --arg name "$PACKAGE" \
  '.[] | select(.name == $name) | .location')"
if [ -z "$dir" ]; then
  echo "::error::$PACKAGE is not an npm workspace of this repository (npm query .workspace)"
  exit 1
fi
slug="$(printf '%s' "$PACKAGE" | tr -c 'A-Za-z0-9._-' '-' | sed 's/^-*//')"
echo "dir=$dir" >> "$GITHUB_OUTPUT"
echo "slug=$slug" >> "$GITHUB_OUTPUT"
