"""The API budget: conditional requests, and stopping before the rate limit runs out.

:class:`BudgetTransport` wraps the HTTP transport githubkit uses:

- every GET of a JSON resource it has an ``ETag`` for is sent with ``If-None-Match``; a ``304``
  is answered with the stored body, so the client sees the ``200`` it would have got. GitHub:
  "Making a conditional request does not count against your primary rate limit if a 304
  response is returned and the request was made while correctly authorized with an
  Authorization header" (docs.github.com, REST API, "Best practices for using the REST API",
  Use conditional requests if appropriate);
- it reads ``x-ratelimit-remaining`` from every answer; once it is at or below the reserve (the
  requests left for every other workflow of the repository, which share ``GITHUB_TOKEN``'s
  1,000 an hour), or GitHub answers that the limit is spent, every further request raises
  :class:`BudgetSpentError` at once. The caller then reports what it has, partially, with a
  warning, instead of waiting: githubkit's default ``auto_retry`` sleeps until the limit resets
  (githubkit 0.16.1 ``core.py``, ``time.sleep(retry_after ...)``), which ran the job into its
  timeout with nothing written; :func:`delivery_metrics.source.client` turns it off.
"""

from __future__ import annotations

import httpx

from delivery_metrics.state import State


class BudgetSpentError(RuntimeError):
    """The rate limit left for this job is spent: stop asking, report what was read."""


class BudgetTransport(httpx.BaseTransport):
    """Conditional requests and the rate-limit floor around another transport."""

    def __init__(self, inner: httpx.BaseTransport, state: State, reserve: int) -> None:
        self.inner = inner
        self.state = state
        self.reserve = reserve
        self.sent = 0
        """Requests sent to GitHub (304s included)."""
        self.not_modified = 0
        """Of those, answered ``304`` (free)."""
        self.remaining: int | None = None
        self.stopped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.stopped:
            raise BudgetSpentError(self.reason())
        url = str(request.url)
        cached = self.state.http.get(url) if request.method == "GET" else None
        if cached is not None:
            request.headers["If-None-Match"] = cached["etag"]
        response = self.inner.handle_request(request)
        self.sent += 1
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.remaining = int(remaining)
            if self.remaining <= self.reserve:
                self.stopped = True
        if response.status_code in (403, 429) and self.remaining == 0:
            response.close()
            self.stopped = True
            raise BudgetSpentError(self.reason())
        if response.status_code == 304 and cached is not None:
            response.close()
            self.not_modified += 1
            self.state.used.add(f"h:{url}")
            headers = {"content-type": "application/json; charset=utf-8", "etag": cached["etag"]}
            if cached.get("link"):
                headers["link"] = cached["link"]
            return httpx.Response(
                200, headers=headers, content=cached["body"].encode(), request=request
            )
        etag = response.headers.get("etag")
        kind = response.headers.get("content-type", "")
        if response.status_code == 200 and etag and kind.startswith("application/json"):
            body = response.read()
            self.state.http[url] = {
                "etag": etag,
                "body": body.decode(),
                "link": response.headers.get("link", ""),
            }
            self.state.used.add(f"h:{url}")
        return response

    def reason(self) -> str:
        return (
            f"x-ratelimit-remaining is {self.remaining}, at or below the reserve of "
            f"{self.reserve} left for the repository's other workflows"
        )

    def close(self) -> None:
        self.inner.close()
