#!/usr/bin/env bash
# notify_email: one message by e-mail through an SMTP server with curl's SMTP client, best effort
# (as notify.sh: missing credentials or a failing server is a ::warning::, never a failed step).
# Env: SMTP_URL (smtps://HOST[:PORT] or smtp://HOST[:PORT]), MAIL_FROM, MAIL_TO (space-separated),
# SMTP_CREDENTIALS (user:password), MESSAGE.
if [ -z "$SMTP_CREDENTIALS" ]; then
  echo "::warning::the SMTP credentials secret is not set: no e-mail sent"
  exit 0
fi
# The login reaches curl on stdin as one config line: a CR or LF in it would add lines (options)
# to curl's config, so such a secret is refused (its value is never printed).
if [[ $SMTP_CREDENTIALS == *[$'\r\n']* ]]; then
  echo "::warning::the SMTP credentials secret holds a line break: no e-mail sent"
  exit 0
fi
mail="$(mktemp)"
trap 'rm -f "$mail"' EXIT
# Addresses come from validated config, the subject is the message's first line without CR/LF:
# nothing in a message can add a header. curl dot-stuffs the body for SMTP.
subject="$(printf '%s\n' "$MESSAGE" | head -n 1 | tr -d '\r' | cut -c 1-150)"
{
  printf 'From: %s\r\n' "$MAIL_FROM"
  printf 'To: %s\r\n' "$(printf '%s' "$MAIL_TO" | sed 's/ /, /g')"
  printf 'Subject: %s\r\n' "$subject"
  printf 'Date: %s\r\n' "$(date -R)"
  printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n'
  printf 'Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n' "$MESSAGE"
} >"$mail"
# read -a splits on blanks without pathname expansion (an address may hold * or ?).
read -r -a addresses <<<"$MAIL_TO"
recipients=()
for address in "${addresses[@]}"; do
  recipients+=(--mail-rcpt "$address")
done
# The login reaches curl on stdin (a config file: user = "...", \\ and \" escaped as curl's
# docs/cmdline-opts/config.md says), never on its command line, where other processes on the
# runner could read it; --ssl-reqd refuses a server that offers no TLS.
login="$(printf '%s' "$SMTP_CREDENTIALS" | sed 's/\\/\\\\/g; s/"/\\"/g')"
if ! printf 'user = "%s"\n' "$login" | curl --fail --silent --show-error --retry 2 --ssl-reqd \
  --config - --url "$SMTP_URL" --mail-from "$MAIL_FROM" "${recipients[@]}" \
  --upload-file "$mail"; then
  echo "::warning::the e-mail notification failed; this run's result is unaffected"
fi
exit 0
