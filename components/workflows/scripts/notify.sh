#!/usr/bin/env bash
# notify: one message to Discord or Slack, best effort. A missing webhook secret or a failing
# webhook is a ::warning:: on the run, never a failed step: a notification must not change the
# conclusion of the build or deploy it reports (CI's conclusion gates the dev deploy).
# Env: CHANNEL (Discord | Slack), WEBHOOK_URL, MESSAGE.
if [ -z "$WEBHOOK_URL" ]; then
  echo "::warning::the $CHANNEL webhook secret is not set: no $CHANNEL notification sent"
  exit 0
fi
case "$CHANNEL" in
  Discord) field=content ;;
  Slack) field=text ;;
  *) echo "::warning::unknown notification channel $CHANNEL"; exit 0 ;;
esac
payload="$(jq --null-input --arg field "$field" --arg message "$MESSAGE" '{($field): $message}')"
if ! curl --fail --silent --show-error --retry 2 --header 'Content-Type: application/json' \
  --data "$payload" "$WEBHOOK_URL"; then
  echo "::warning::the $CHANNEL notification failed; this run's result is unaffected"
fi
exit 0
