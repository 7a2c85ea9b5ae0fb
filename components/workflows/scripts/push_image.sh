#!/usr/bin/env bash
# publish: push the scanned tarball under every tag build chose; read back the pushed digest.
# Env: TAGS (newline-separated image:tag), IMAGE (repository without tag).
docker load --input "$RUNNER_TEMP/image.tar"
first=""
while IFS= read -r tag; do
  if [ -n "$tag" ]; then
    docker push "$tag"
    first="${first:-$tag}"
  fi
done <<<"$TAGS"
digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$first" \
  | grep --max-count=1 "^${IMAGE}@" | cut -d@ -f2)"
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::could not read the pushed digest"
  exit 1
fi
echo "digest=$digest" >> "$GITHUB_OUTPUT"
printf '%s\n' "$digest" > "$RUNNER_TEMP/digest.txt"
