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
# The webhook URL is the credential: it reaches curl on stdin (a config line, url = "..."), never
# on its command line, which other processes on the runner can read (printf is a bash builtin:
# no process's argv holds it either). In a quoted config value curl reads \\ \" \t \n \r \v as
# escapes (curl docs/cmdline-opts/config.md, src/tool_parsecfg.c unslashquote, 7.88.1 to 8.x):
# backslashes are doubled; a CR, LF or double quote would end the line or the value early, so
# such a secret is refused (its value is never printed).
if [[ $WEBHOOK_URL == *[$'\r\n"']* ]]; then
  echo "::warning::the $CHANNEL webhook secret holds a line break or a double quote: no $CHANNEL notification sent"
  exit 0
fi
payload="$(jq --null-input --arg field "$field" --arg message "$MESSAGE" '{($field): $message}')"
if ! printf 'url = "%s"\n' "${WEBHOOK_URL//\\/\\\\}" | curl --fail --silent --show-error \
  --retry 2 --header 'Content-Type: application/json' --data "$payload" --config -; then
  echo "::warning::the $CHANNEL notification failed; this run's result is unaffected"
fi
exit 0
