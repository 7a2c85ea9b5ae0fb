#!/usr/bin/env bash
headers="$(curl --fail --silent --show-error --max-time 10 --head "$APP_URL")"
missing=0
for header in strict-transport-security x-content-type-options; do
  if ! grep --quiet --ignore-case "^$header:" <<<"$headers"; then
    echo "::error::$APP_URL does not send $header"
    missing=1
  fi
done
exit "$missing"
