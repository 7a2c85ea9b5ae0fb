#!/usr/bin/env bash
# notify_teams: one message to a Microsoft Teams channel, best effort (as notify.sh: a missing
# webhook or a failing post is a ::warning::, never a failed step).
# A Teams Workflows webhook takes Adaptive Cards only: a message whose one attachment is the card
# (MicrosoftDocs/msteams-docs, webhooks-and-connectors/how-to/connectors-using.md, "Send adaptive
# cards using an incoming webhook"; learn.microsoft.com "Create and send messages", known issues).
# Env: WEBHOOK_URL, MESSAGE.
if [ -z "$WEBHOOK_URL" ]; then
  echo "::warning::the Teams webhook secret is not set: no Teams notification sent"
  exit 0
fi
# The webhook URL reaches curl on stdin, never its command line: as notify.sh (a CR, LF or double
# quote is refused, backslashes doubled for curl's config format).
if [[ $WEBHOOK_URL == *[$'\r\n"']* ]]; then
  echo "::warning::the Teams webhook secret holds a line break or a double quote: no Teams notification sent"
  exit 0
fi
payload="$(jq --null-input --arg message "$MESSAGE" '{
  type: "message",
  attachments: [{
    contentType: "application/vnd.microsoft.card.adaptive",
    contentUrl: null,
    content: {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      type: "AdaptiveCard",
      version: "1.2",
      body: [{type: "TextBlock", text: $message, wrap: true}]
    }
  }]
}')"
if ! printf 'url = "%s"\n' "${WEBHOOK_URL//\\/\\\\}" | curl --fail --silent --show-error \
  --retry 2 --header 'Content-Type: application/json' --data "$payload" --config -; then
  echo "::warning::the Teams notification failed; this run's result is unaffected"
fi
exit 0
