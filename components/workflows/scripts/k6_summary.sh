#!/usr/bin/env bash
# The thresholds the stack set against what k6 measured, in the job summary: a crossed one made
# k6 exit 99, failing this job and so the staging acceptance. --summary-export writes k6's
# legacy JSON (internal/js/summary-wrapper.js, oldJSONSummary): a trend's stats by name
# ("p(95)", milliseconds), a rate's share as "value".
summary="$RUNNER_TEMP/k6-summary.json"
if [ ! -s "$summary" ]; then
  echo "### k6 thresholds: no results (the test did not finish)" >> "$GITHUB_STEP_SUMMARY"
  exit 0
fi
latency="$(jq --raw-output --arg stat "$LATENCY_STAT" \
  '.metrics.http_req_duration[$stat] // "n/a"' "$summary")"
errors="$(jq --raw-output '.metrics.http_req_failed.value // "n/a"' "$summary")"
verdict() {
  if awk -v value="$1" -v limit="$2" 'BEGIN { exit !(value != "n/a" && value + 0 < limit + 0) }'
  then echo "pass"; else echo "**FAIL**"; fi
}
{
  echo "### k6 thresholds (the staging acceptance needs both)"
  echo "| metric | threshold | measured | result |"
  echo "|---|---|---|---|"
  echo "| http_req_duration $LATENCY_STAT | < $LATENCY_MS ms | $latency ms | $(verdict "$latency" "$LATENCY_MS") |"
  echo "| http_req_failed | < $ERROR_RATE | $errors | $(verdict "$errors" "$ERROR_RATE") |"
} >> "$GITHUB_STEP_SUMMARY"
