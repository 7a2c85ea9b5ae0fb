"""A local stand-in for the GitHub REST API (server.py), the provider's calls sent to it
(provider_replay.py) and the preview job's pull-request comment (pr_comment.py).

What the stand-in implements, its limits and where each behaviour was checked: docs/github-api.md.
"""
