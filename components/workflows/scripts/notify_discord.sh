#!/usr/bin/env bash
# notify: build status to Discord, best effort. A missing webhook secret or a failing Discord is
# a warning on the run, never a failed run: the run's conclusion gates the dev deploy.
# Env: DISCORD_WEBHOOK_URL, RESULT, REPOSITORY, REF_NAME, SHA, RUN_URL.
if [ -z "$DISCORD_WEBHOOK_URL" ]; then
  echo "::warning::DISCORD_WEBHOOK_URL is not set: no Discord notification"
  exit 0
fi
payload="$(jq --null-input --arg content "CI $RESULT on $REPOSITORY $REF_NAME ($SHA): $RUN_URL" \
  '{content: $content}')"
if ! curl --fail --silent --show-error --retry 2 --header 'Content-Type: application/json' \
  --data "$payload" "$DISCORD_WEBHOOK_URL"; then
  echo "::warning::the Discord notification failed; the build itself $RESULT"
fi
