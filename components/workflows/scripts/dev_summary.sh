#!/usr/bin/env bash
{
  echo "### Deploy to $ENVIRONMENT"
  echo "- image: $IMAGE_REF"
  echo "- deploy: $DEPLOY_RESULT, tests: $TESTS_RESULT"
} >> "$GITHUB_STEP_SUMMARY"
