#!/usr/bin/env bash
# A job whose tool needs a secret first checks that the run has it. Dependabot's runs get no
# Actions secrets and forks get none at all: the job then says why it does nothing (a notice on
# the run) and its remaining steps are skipped, instead of failing on a missing token.
# Env: SECRET_NAME, SECRET_VALUE.
if [ -n "$SECRET_VALUE" ]; then
  echo "present=true" >> "$GITHUB_OUTPUT"
else
  echo "::notice::skipped: $SECRET_NAME is not available to this run (Dependabot and fork pull requests get no Actions secrets, or it is not set)"
  echo "present=false" >> "$GITHUB_OUTPUT"
fi
