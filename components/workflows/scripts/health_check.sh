#!/usr/bin/env bash
url="${APP_URL%/}${HEALTH_PATH}"
for attempt in $(seq 1 "$RETRIES"); do
  if curl --fail --silent --show-error --max-time 10 --output /dev/null "$url"; then
    echo "healthy after $attempt attempt(s)"
    exit 0
  fi
  echo "attempt $attempt of $RETRIES failed"
  sleep 10
done
echo "::error::$url did not answer healthy after $RETRIES attempts"
exit 1
