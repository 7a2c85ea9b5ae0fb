#!/usr/bin/env bash
# rescan_scan: python -m security_rescan with the job's settings (every value from env:). It
# exits non-zero only on its own errors; findings and scanner outages are outputs, not failures.
# Env: IMAGE, ENVIRONMENTS (space-separated), SEVERITY, CI_WORKFLOW, DEFAULT_BRANCH, STATE_IN
# (may be absent), STATE_OUT, SARIF ("" = no code scanning), PYTHONPATH (the committed package),
# REGISTRY_TOKEN (pulls the private image).
set -euo pipefail
# Credentials for the image's registry only (docker's config holds them per host), never
# TRIVY_USERNAME/TRIVY_PASSWORD: Trivy sends those to every registry it talks to, the ones it
# downloads its databases from too. A failed login is not fatal: the scans then fail one by one
# and each is reported as not scanned.
if ! docker login "${IMAGE%%/*}" --username "$GITHUB_ACTOR" --password-stdin <<<"$REGISTRY_TOKEN"; then
  echo "::warning::docker login to ${IMAGE%%/*} failed; a private image cannot be pulled"
fi
args=(--repository "$GITHUB_REPOSITORY" --image "$IMAGE" --severity "$SEVERITY"
      --ci-workflow "$CI_WORKFLOW" --branch "$DEFAULT_BRANCH" --state-out "$STATE_OUT"
      --summary "$GITHUB_STEP_SUMMARY" --output "$GITHUB_OUTPUT")
for environment in $ENVIRONMENTS; do args+=(--environment "$environment"); done
if [ -f "$STATE_IN/state.json" ]; then args+=(--state-in "$STATE_IN"); fi
if [ -n "$SARIF" ]; then args+=(--sarif "$SARIF"); fi
python -m security_rescan "${args[@]}"
