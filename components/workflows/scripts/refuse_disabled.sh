#!/usr/bin/env bash
echo "::error::DEPLOY_ENABLED is not true for this environment: deployments are switched off"
exit 1
