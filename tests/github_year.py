"""A generated GitHub API: a year of deployments at 20 a day, for counting the metrics job's
requests (tests/test_delivery_metrics.py, ``make bench``).

A fake, because no GitHub runs here. The behaviour it assumes, from GitHub's REST reference
(docs.github.com/en/rest, API version 2022-11-28) and the githubkit 0.16.1 client that reads it:

- ``GET /repos/{o}/{r}/deployments?environment=&per_page=`` lists newest first and pages with
  ``Link: <...&page=N>; rel="next"``; ``.../deployments/{id}/statuses`` lists newest first;
  ``.../compare/{base}...{head}`` holds ``commits`` oldest first; ``.../commits/{sha}``;
  ``.../actions/workflows/{file}/runs?branch=&event=&created=>=...`` holds ``workflow_runs``
  newest first; ``.../actions/runs/{id}/artifacts`` holds ``artifacts``;
- every answer carries ``x-ratelimit-remaining`` and, being JSON, an ``ETag``; a request with a
  matching ``If-None-Match`` is answered ``304`` and, being authorized, costs nothing
  ("Best practices for using the REST API", Use conditional requests if appropriate); any
  other request costs one of the hour's requests (``GITHUB_TOKEN``: 1,000 an hour per
  repository, "Rate limits for the REST API"), and with none left GitHub answers ``403`` with
  ``x-ratelimit-remaining: 0``.

The history: ``PER_DAY`` release deployments a day, spread over the day, 12 to development, 6
to staging and 2 to production; each deploys its own commit (committed two hours before); every
tenth fails at its deploy; all statuses are written within 15 minutes of the deployment. One CI
push run per deployment, without coverage artifacts. Nothing after :attr:`GeneratedGitHub.now`
exists yet, so advancing ``now`` by a day adds a day of records.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

PER_DAY: Final = 20
SHARE: Final = (("development", 12), ("staging", 6), ("production", 2))
START: Final = datetime(2025, 11, 29, tzinfo=UTC)
DAYS: Final = 365
HOURLY_LIMIT: Final = 1000
REPO: Final = "/repos/acme/webshop"


def _time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True)
class _Deploy:
    id: int
    environment: str
    created: datetime
    failed: bool

    @property
    def sha(self) -> str:
        return f"{self.id:040x}"


def _history(days: int) -> list[_Deploy]:
    out: list[_Deploy] = []
    step = timedelta(days=1) / PER_DAY
    for day in range(days + 31):
        slot = 0
        for environment, count in SHARE:
            for _ in range(count):
                n = len(out) + 1
                out.append(
                    _Deploy(n, environment, START + timedelta(days=day) + slot * step, n % 10 == 0)
                )
                slot += 1
    return out


class GeneratedGitHub(httpx.BaseTransport):
    """Answers the metrics job's requests from the generated history, counting them."""

    def __init__(self, now: datetime, limit: int = HOURLY_LIMIT) -> None:
        self.now = now
        self.limit = limit
        self.history = _history(DAYS)
        self.by_id = {d.id: d for d in self.history}
        self.remaining = limit
        self.requests = 0
        self.not_modified = 0
        self._memo: dict[tuple[Any, ...], list[Any]] = {}

    def new_hour(self) -> None:
        """The rate limit resets (the job runs once a day)."""
        self.remaining = self.limit
        self.requests = self.not_modified = 0

    def _visible(self) -> list[_Deploy]:
        return [d for d in self.history if d.created <= self.now]

    def _statuses(self, d: _Deploy) -> list[dict[str, Any]]:
        states = [("queued", 0), ("in_progress", 1), ("failure" if d.failed else "success", 12)]
        out = [
            {
                "id": d.id * 10 + i,
                "state": s,
                "description": "",
                "created_at": _time(d.created + timedelta(minutes=m)),
            }
            for i, (s, m) in enumerate(states)
            if d.created + timedelta(minutes=m) <= self.now
        ]
        return list(reversed(out))

    def _deployment(self, d: _Deploy) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(str(d.id).encode()).hexdigest()
        return {
            "id": d.id,
            "sha": d.sha,
            "environment": d.environment,
            "created_at": _time(d.created),
            "task": "deploy",
            "payload": {"digest": digest},
        }

    def _commit(self, d: _Deploy) -> dict[str, Any]:
        return {
            "sha": d.sha,
            "commit": {"committer": {"date": _time(d.created - timedelta(hours=2))}},
        }

    def _page(self, url: httpx.URL, items: list[Any], key: str | None) -> tuple[Any, str]:
        query = dict(parse_qsl(url.query.decode()))
        per_page = int(query.get("per_page", 30))
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        link = ""
        if page * per_page < len(items):
            link = f'<{url.copy_with(query=urlencode({**query, "page": page + 1}).encode())}>; rel="next"'
        body: Any = chunk if key is None else {"total_count": len(items), key: chunk}
        return body, link

    def _listing(self, key: tuple[str, ...], make: Any) -> list[Any]:
        """A list as of :attr:`now`, built once per list and day (pages slice it)."""
        memo_key = (self.now, *key)
        if memo_key not in self._memo:
            self._memo[memo_key] = make()
        found: list[Any] = self._memo[memo_key]
        return found

    def _answer(self, url: httpx.URL) -> tuple[Any, str]:
        path = urlsplit(str(url)).path.removeprefix(REPO)
        query = dict(parse_qsl(url.query.decode()))
        parts = path.strip("/").split("/")
        if parts == ["deployments"]:
            environment = query["environment"]
            listed = self._listing(
                ("deployments", environment),
                lambda: [
                    self._deployment(d)
                    for d in reversed(self._visible())
                    if d.environment == environment
                ],
            )
            return self._page(url, listed, None)
        if parts[0] == "deployments" and parts[2:] == ["statuses"]:
            return self._page(url, self._statuses(self.by_id[int(parts[1])]), None)
        if parts[0] == "compare":
            base, _, head = parts[1].partition("...")
            low, high = self.by_id[int(base, 16)], self.by_id[int(head, 16)]
            between = [self.by_id[n] for n in range(low.id + 1, high.id + 1)]
            return self._page(url, [self._commit(d) for d in between], "commits")
        if parts[0] == "commits":
            return self._commit(self.by_id[int(parts[1], 16)]), ""
        if parts[:2] == ["actions", "workflows"]:
            since = datetime.fromisoformat(
                query["created"].removeprefix(">=").replace("Z", "+00:00")
            )
            runs = self._listing(
                ("runs", query["created"]),
                lambda: [
                    {
                        "id": d.id,
                        "run_attempt": 1,
                        "status": "completed",
                        "conclusion": "failure" if d.failed else "success",
                        "event": "push",
                        "head_branch": query["branch"],
                        "head_sha": d.sha,
                        "created_at": _time(d.created - timedelta(hours=1)),
                    }
                    for d in reversed(self._visible())
                    if since <= d.created - timedelta(hours=1)
                ],
            )
            return self._page(url, runs, "workflow_runs")
        if parts[:2] == ["actions", "runs"] and parts[3:] == ["artifacts"]:
            return {"total_count": 0, "artifacts": []}, ""
        raise AssertionError(f"not an endpoint the metrics job uses: {url}")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.remaining <= 0:
            return httpx.Response(
                403,
                headers={"x-ratelimit-remaining": "0"},
                json={"message": "API rate limit exceeded"},
                request=request,
            )
        body, link = self._answer(request.url)
        content = json.dumps(body, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        headers = {"content-type": "application/json; charset=utf-8", "etag": etag}
        if link:
            headers["link"] = link
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            headers["x-ratelimit-remaining"] = str(self.remaining)
            return httpx.Response(304, headers=headers, request=request)
        self.remaining -= 1
        headers["x-ratelimit-remaining"] = str(self.remaining)
        return httpx.Response(200, headers=headers, content=content, request=request)


@dataclass(frozen=True)
class RunCount:
    """One run of the metrics job against the generated API."""

    day: int
    requests: int
    """Requests sent to GitHub, 304s included."""
    not_modified: int
    """Of those, answered 304 (free)."""
    charged: int
    """Requests that cost rate limit."""
    partial: bool
    exit_code: int
    summary: str
    exposition: str
    """What the run would push."""


def _run(api: GeneratedGitHub, out: Path, state: Path | None, reserve: int) -> tuple[int, str, str]:
    """One run of ``python -m delivery_metrics`` at ``api.now``: exit code, summary, exposition."""
    from delivery_metrics.__main__ import main

    summary, exposition = out.with_suffix(".md"), out.with_suffix(".prom")
    summary.unlink(missing_ok=True)  # --summary appends, as to GITHUB_STEP_SUMMARY
    argv = [
        *("--repository", "acme/webshop", "--branch", "develop"),
        *(a for env, _ in SHARE for a in ("--environment", env)),
        *("--window", "7", "--window", "30", "--summary", str(summary)),
        *("--metrics-out", str(exposition), "--rate-limit-reserve", str(reserve)),
        *(("--state", str(state)) if state is not None else ()),
        *("--now", _time(api.now)),
    ]
    old = os.environ.get("GITHUB_TOKEN")
    os.environ["GITHUB_TOKEN"] = "generated"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(argv, transport=api)
    finally:
        if old is None:
            del os.environ["GITHUB_TOKEN"]
        else:
            os.environ["GITHUB_TOKEN"] = old
    return code, summary.read_text(), exposition.read_text()


def daily_runs(state: Path, days: int, reserve: int = 300) -> list[RunCount]:
    """Run ``python -m delivery_metrics`` once a day for ``days`` days, keeping ``state``.

    The first run starts with no state at the end of the generated year; each later run is a
    day later, with the hour's limit reset, as the daily schedule sees it.
    """
    api = GeneratedGitHub(START + timedelta(days=DAYS, hours=5))
    out: list[RunCount] = []
    for day in range(days):
        api.new_hour()
        code, summary, exposition = _run(api, state.parent / f"run-{day}", state, reserve)
        out.append(
            RunCount(
                day=day,
                requests=api.requests,
                not_modified=api.not_modified,
                charged=api.limit - api.remaining,
                partial="Partial report" in summary,
                exit_code=code,
                summary=summary,
                exposition=exposition,
            )
        )
        api.now += timedelta(days=1)
    return out


def read_afresh(folder: Path, day: int) -> tuple[str, str]:
    """Summary and exposition of a run on ``day`` (as counted by :func:`daily_runs`) with no
    kept state and no rate limit: what the kept state must add up to."""
    api = GeneratedGitHub(START + timedelta(days=DAYS + day, hours=5), limit=100_000)
    code, summary, exposition = _run(api, folder / "afresh", None, 0)
    assert code == 0 and "Partial report" not in summary
    return summary, exposition
