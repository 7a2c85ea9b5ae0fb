#!/usr/bin/env bash
# Says in the run why a feature of the plan is off. Env: NOTICE.
echo "::notice::$NOTICE"
