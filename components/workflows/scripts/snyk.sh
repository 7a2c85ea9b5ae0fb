#!/usr/bin/env bash
# snyk: the Snyk CLI at the exact npm version SNYK_VERSION (never a mutable image or "latest"),
# run once with npx; the token comes from the environment only (SNYK_TOKEN).
# Env: SNYK_VERSION, SNYK_TOKEN, SEVERITY.
npx --yes "snyk@${SNYK_VERSION}" test --all-projects --severity-threshold="$SEVERITY"
