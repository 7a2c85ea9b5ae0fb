"""The thin I/O part: read GitHub's records with githubkit, push the figures to a Pushgateway.

Every list is read with ``github.rest.paginate``, which follows the ``Link: <...>; rel="next"``
header GitHub documents, so no page size or page count is assumed. Responses are read as plain
JSON (``response.json()``) and parsed into :mod:`delivery_metrics.records`, which read only the
fields the figures need: a field GitHub adds later cannot break the job.

GitHub answers a filtered list of workflow runs with at most 1,000 runs; 60 days of pushes to
one branch stay far below that.

The token needs ``actions: read`` (runs, artifacts), ``deployments: read`` and ``contents: read``
(compare, commits): the workflow's ``GITHUB_TOKEN`` with exactly those scopes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Final, cast

import httpx
from githubkit import GitHub, Response
from githubkit.exception import (
    GitHubException,
    PrimaryRateLimitExceeded,
    SecondaryRateLimitExceeded,
)

from delivery_metrics.budget import BudgetSpentError
from delivery_metrics.compute import CommitRange, Coverage
from delivery_metrics.coverage import ARTIFACT_PREFIX, lines_from_archive
from delivery_metrics.records import Commit, Deployment, Json, WorkflowRun, parse_time
from delivery_metrics.state import State

PER_PAGE = 100


def client(
    token: str, *, base_url: str | None = None, transport: httpx.BaseTransport | None = None
) -> GitHub[Any]:
    """A githubkit client; ``transport`` lets tests answer from recorded responses.

    ``auto_retry=False``: githubkit would otherwise sleep until a spent rate limit resets
    (:mod:`delivery_metrics.budget` stops instead)."""
    return GitHub(token, base_url=base_url, transport=transport, http_cache=False, auto_retry=False)


def budget_spent(err: BaseException) -> BudgetSpentError | None:
    """The :class:`BudgetSpentError` behind ``err`` (githubkit wraps transport errors)."""
    while err is not None:
        if isinstance(err, BudgetSpentError):
            return err
        if isinstance(err, PrimaryRateLimitExceeded | SecondaryRateLimitExceeded):
            return BudgetSpentError(f"GitHub answered that the rate limit is spent ({err})")
        err = err.__cause__  # type: ignore[assignment]
    return None


def _items(key: str | None) -> Callable[[Response[Any, Any]], list[Json]]:
    def pick(response: Response[Any, Any]) -> list[Json]:
        body = response.json()
        return cast(list[Json], body if key is None else body[key])

    return pick


SETTLED_STATES: Final = frozenset({"success", "failure", "error", "inactive"})

RERUN_GRACE: Final = timedelta(days=3)
"""How far back CI runs are listed again to see re-runs (a re-run keeps its run's
``created_at``): a run re-run more than this after it started keeps its earlier verdict."""

RUN_FIELDS: Final = (
    "id",
    "run_attempt",
    "status",
    "conclusion",
    "event",
    "head_branch",
    "head_sha",
    "created_at",
)
"""What :class:`WorkflowRun` reads, all that is kept of a run."""


def settled(deployment: Deployment, newer_ran: bool) -> bool:
    """Whether a deployment's statuses can still change what the figures say.

    The deploy workflows write a deployment's statuses in its own run (queued, in_progress,
    its verdict) and, for acceptance, in the jobs after it; a rollback run marks the deployment
    that is current in the environment. So once a deployment has a final state
    (``success``/``failure``/``error``/``inactive``) and a newer release of the same environment
    has run, nothing will touch its verdict again (GitHub may still add ``inactive``, which is
    no verdict). Until then it is asked again each run, conditionally (a ``304`` is free).
    """
    return newer_ran and any(s.state in SETTLED_STATES for s in deployment.statuses)


class Repository:
    """Reads one repository's records, keeping what it read in ``state`` for the next run.

    When the API budget is spent (:class:`BudgetSpentError`), each method returns what it has
    (the state's copy, or nothing) and counts what it missed in :attr:`missed`.
    """

    def __init__(self, gh: GitHub[Any], full_name: str, state: State | None = None) -> None:
        self.gh = gh
        self.owner, _, self.repo = full_name.partition("/")
        if not self.owner or not self.repo:
            raise ValueError(f"repository must be owner/name (got {full_name!r})")
        self.state = state if state is not None else State(full_name)
        self.missed: dict[str, int] = {}
        self.stopped: BudgetSpentError | None = None

    def _miss(self, what: str, err: BudgetSpentError, count: int = 1) -> None:
        self.missed[what] = self.missed.get(what, 0) + count
        self.stopped = self.stopped or err

    def workflow_runs(self, workflow: str, branch: str, since: datetime) -> list[WorkflowRun]:
        """Push runs of ``workflow`` on ``branch`` created since ``since`` (latest attempts).

        Runs listed by an earlier run come from the state; only those created since that
        listing, less :data:`RERUN_GRACE`, are listed again (GitHub filters by ``created``).
        """
        key = f"{workflow}@{branch}"
        kept = self.state.runs.get(key)
        start = since
        if kept is not None and parse_time(kept["until"]) - RERUN_GRACE > since:
            start = parse_time(kept["until"]) - RERUN_GRACE
        pages: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.actions.list_workflow_runs,
            map_func=_items("workflow_runs"),
            owner=self.owner,
            repo=self.repo,
            workflow_id=workflow,
            branch=branch,
            event="push",
            created=f">={start:%Y-%m-%dT%H:%M:%SZ}",
            per_page=PER_PAGE,
        )
        read: list[Json] = []
        finished = False
        try:
            read.extend({field: run.get(field) for field in RUN_FIELDS} for run in pages)
            finished = True
        except GitHubException as err:
            spent = budget_spent(err)
            if spent is None:
                raise
            self._miss("CI run pages", spent)
        older = [
            run
            for run in (kept["runs"] if kept is not None and start > since else [])
            if since <= parse_time(run["created_at"]) < start
        ]
        runs = [WorkflowRun.from_json(run) for run in [*older, *read]]
        if finished:
            newest = max((r.created_at for r in runs), default=start)
            self.state.runs[key] = {
                "until": f"{newest:%Y-%m-%dT%H:%M:%SZ}",
                "runs": [*older, *read],
            }
        elif kept is not None:
            self.state.runs[key] = kept
        return runs

    def _list(self, environment: str, since: datetime) -> list[Json]:
        """Release records of ``environment`` created since ``since``, newest first.

        GitHub lists deployments newest first: reading stops at the first one older than
        ``since``, or, when the last listing of this environment was complete
        (:attr:`State.listed`), at the first one the state already holds: everything older was
        listed by an earlier run and is taken from the state. Every record listed is kept, its
        statuses still unread, so a run that stops early loses nothing it has listed.
        """
        pages: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.repos.list_deployments,
            map_func=_items(None),
            owner=self.owner,
            repo=self.repo,
            environment=environment,
            per_page=PER_PAGE,
        )
        complete_before = self.state.listed.get(environment, False)
        fresh: list[Json] = []
        finished = False
        try:
            for record in pages:
                deployment = Deployment.from_json(record, [])
                if deployment.created_at < since or (
                    complete_before and str(deployment.id) in self.state.deployments
                ):
                    finished = True
                    break
                if deployment.is_release_record:
                    fresh.append(record)
            else:
                finished = True
        except GitHubException as err:
            spent = budget_spent(err)
            if spent is None:
                raise
            self._miss(f"deployment pages of {environment}", spent)
        self.state.listed[environment] = finished
        for record in fresh:
            self.state.deployments.setdefault(
                str(record["id"]), {"record": dict(record), "statuses": None, "settled": False}
            )
        listed = {str(r["id"]) for r in fresh}
        known = [
            entry["record"]
            for key, entry in self.state.deployments.items()
            if entry["record"].get("environment") == environment
            and parse_time(entry["record"]["created_at"]) >= since
            and key not in listed
        ]
        records = fresh + known
        return sorted(records, key=lambda r: (r["created_at"], int(r["id"])), reverse=True)

    def deployments(self, environment: str, since: datetime) -> list[Deployment]:
        """Release records of ``environment`` created since ``since``, each with its statuses.

        Only the pipeline's own records are kept (:attr:`Deployment.is_release_record`), so
        GitHub's automatic deployment of every environment job is skipped before its statuses
        are read. Statuses of a settled deployment (:func:`settled`) come from the state; the
        others are asked for (conditionally, when the state has their ETag). A deployment
        whose statuses could not be read (budget spent, never read before) is left out.
        """
        out: list[Deployment] = []
        newer_ran = False
        for record in self._list(environment, since):
            key = str(record["id"])
            entry = self.state.deployments.get(key)
            statuses: list[Json] | None = None
            if entry is not None and entry.get("settled"):
                statuses = entry["statuses"]
            elif self.stopped is None:
                try:
                    statuses = list(
                        self.gh.rest.paginate(
                            self.gh.rest.repos.list_deployment_statuses,
                            map_func=_items(None),
                            owner=self.owner,
                            repo=self.repo,
                            deployment_id=int(record["id"]),
                            per_page=PER_PAGE,
                        )
                    )
                except GitHubException as err:
                    spent = budget_spent(err)
                    if spent is None:
                        raise
                    self._miss("deployment statuses", spent)
            else:
                self._miss("deployment statuses", self.stopped)
            if statuses is None and entry is not None:
                statuses = entry["statuses"]  # an older reading beats none (None: never read)
            if statuses is None:
                self.state.used.add(f"d:{key}")  # listed: kept for the next run to read
                continue
            deployment = Deployment.from_json(record, statuses)
            self.state.deployments[key] = {
                "record": dict(record),
                "statuses": statuses,
                "settled": settled(deployment, newer_ran),
            }
            self.state.used.add(f"d:{key}")
            newer_ran = newer_ran or deployment.ran
            out.append(deployment)
        return out

    def commits(self, commit_range: CommitRange) -> list[Commit] | None:
        """The commits a deployment brought: ``base...head``, or the head commit alone.

        None when the budget was spent before they could be read."""
        base, head = commit_range
        if base == head:
            return []
        key = f"{base or '-'}...{head}"
        cached = self.state.commits.get(key)
        if cached is None:
            if self.stopped is not None:
                self._miss("commit ranges", self.stopped)
                return None
            try:
                cached = [
                    [c.sha, f"{c.committed_at:%Y-%m-%dT%H:%M:%SZ}"] for c in self._read(base, head)
                ]
            except GitHubException as err:
                spent = budget_spent(err)
                if spent is None:
                    raise
                self._miss("commit ranges", spent)
                return None
            self.state.commits[key] = cached
        self.state.used.add(f"c:{key}")
        return [Commit(sha, parse_time(date)) for sha, date in cached]

    def _read(self, base: str | None, head: str) -> list[Commit]:
        if base is None:
            response = self.gh.rest.repos.get_commit(self.owner, self.repo, head, per_page=1)
            return [Commit.from_json(cast(Json, response.json()))]
        pages: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.repos.compare_commits,
            map_func=_items("commits"),
            owner=self.owner,
            repo=self.repo,
            basehead=f"{base}...{head}",
            per_page=PER_PAGE,
        )
        return [Commit.from_json(c) for c in pages]

    def coverage(self, run_id: int) -> Coverage | None:
        """Line coverage summed over the run's ``coverage-*`` artifacts; None without any
        (or when the budget was spent before it could be read)."""
        key = str(run_id)
        if key in self.state.coverage:
            self.state.used.add(f"v:{key}")
            lines = self.state.coverage[key]
            return None if lines is None else Coverage(run_id, lines[0], lines[1])
        if self.stopped is not None:
            self._miss("coverage artifacts", self.stopped)
            return None
        try:
            found = self._coverage(run_id)
        except GitHubException as err:
            spent = budget_spent(err)
            if spent is None:
                raise
            self._miss("coverage artifacts", spent)
            return None
        self.state.coverage[key] = None if found is None else [found.covered, found.total]
        self.state.used.add(f"v:{key}")
        return found

    def _coverage(self, run_id: int) -> Coverage | None:
        artifacts: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.actions.list_workflow_run_artifacts,
            map_func=_items("artifacts"),
            owner=self.owner,
            repo=self.repo,
            run_id=run_id,
            per_page=PER_PAGE,
        )
        covered = total = 0
        found = False
        for artifact in artifacts:
            if not str(artifact["name"]).startswith(ARTIFACT_PREFIX) or artifact.get("expired"):
                continue
            archive = self.gh.rest.actions.download_artifact(
                self.owner, self.repo, int(artifact["id"]), "zip"
            )
            lines = lines_from_archive(archive.content)
            if lines is not None:
                found = True
                covered += lines[0]
                total += lines[1]
        return Coverage(run_id, covered, total) if found else None


def coverage_of(repo: Repository, candidates: Iterable[int], tries: int = 5) -> Coverage | None:
    """The first of the candidate runs (newest first) whose artifacts hold coverage."""
    for index, run_id in enumerate(candidates):
        if index >= tries:
            break
        found = repo.coverage(run_id)
        if found is not None:
            return found
    return None


def grouping_path(repository: str) -> str:
    """Pushgateway grouping key: job plus the repository (base64url: it contains a '/')."""
    encoded = base64.urlsafe_b64encode(repository.encode()).decode().rstrip("=")
    return f"/metrics/job/delivery_metrics/repository@base64/{encoded}"


def push(
    gateway: str,
    repository: str,
    text: str,
    *,
    authorization: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """PUT the exposition to the Pushgateway: it replaces this repository's group as a whole.

    ``authorization`` is the ``Authorization`` header value (bearer or basic) for a gateway
    that demands credentials (its own basic auth, or a proxy); it is never printed (an error
    names the URL and status).
    PUT rather than POST, so a figure that has no data this time (left out of the exposition)
    disappears instead of lingering with last run's value.
    """
    url = gateway.rstrip("/") + grouping_path(repository)
    headers = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    if authorization is not None:
        headers["Authorization"] = authorization
    with httpx.Client(transport=transport, timeout=30) as http:
        response = http.put(url, content=text.encode(), headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"Pushgateway {url} answered {response.status_code}")
