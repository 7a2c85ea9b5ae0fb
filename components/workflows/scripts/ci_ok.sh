#!/usr/bin/env bash
# ci-ok: the one check branch protection requires. Env: RESULTS (needs.*.result, space-separated).
for result in $RESULTS; do
  case "$result" in
    success | skipped) ;;
    *)
      echo "::error::a required job ended with: $result"
      exit 1
      ;;
  esac
done
echo "all required jobs passed"
