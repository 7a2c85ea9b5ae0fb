#!/usr/bin/env bash
docker login "${IMAGE%%/*}" --username "$GITHUB_ACTOR" --password-stdin <<<"$GH_TOKEN"
