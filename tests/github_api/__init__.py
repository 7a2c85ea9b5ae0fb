"""A local stand-in for the GitHub REST API: a real HTTP server on loopback (tests/github_api/server.py).

What it implements, its limits and where each behaviour was checked: docs/github-api.md.
"""

from tests.github_api.server import Call, GitHubStandIn, Repository, StandInWorld

__all__ = ["Call", "GitHubStandIn", "Repository", "StandInWorld"]
