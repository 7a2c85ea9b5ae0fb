#!/usr/bin/env bash
# build and release: the image's version tag comes from the root package.json. A missing or unusable version
# fails here with its reason, rather than tagging the image "null-...". On a v* tag the tag must
# name that same version (the release is what package.json says it is).
version="$(jq --raw-output '.version // empty' package.json)"
if [ -z "$version" ]; then
  echo "::error file=package.json::package.json has no \"version\"; set one (npm version) so the image can be tagged"
  exit 1
fi
if [[ ! "$version" =~ ^[0-9A-Za-z][0-9A-Za-z.+_-]{0,100}$ ]]; then
  echo "::error file=package.json::package.json version \"$version\" cannot be a Docker tag"
  exit 1
fi
version="${version//+/_}"
if [[ "$GITHUB_REF" == refs/tags/v* ]] && [ "${GITHUB_REF#refs/tags/v}" != "$version" ]; then
  echo "::error::tag ${GITHUB_REF#refs/tags/} does not match package.json version $version"
  exit 1
fi
echo "version=$version" >> "$GITHUB_OUTPUT"
