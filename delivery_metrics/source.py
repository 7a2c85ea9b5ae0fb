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
from datetime import datetime
from typing import Any, cast

import httpx
from githubkit import GitHub, Response

from delivery_metrics.compute import CommitRange, Coverage
from delivery_metrics.coverage import ARTIFACT_PREFIX, lines_from_archive
from delivery_metrics.records import Commit, Deployment, Json, WorkflowRun

PER_PAGE = 100


def client(
    token: str, *, base_url: str | None = None, transport: httpx.BaseTransport | None = None
) -> GitHub[Any]:
    """A githubkit client; ``transport`` lets tests answer from recorded responses."""
    return GitHub(token, base_url=base_url, transport=transport, http_cache=False)


def _items(key: str | None) -> Callable[[Response[Any, Any]], list[Json]]:
    def pick(response: Response[Any, Any]) -> list[Json]:
        body = response.json()
        return cast(list[Json], body if key is None else body[key])

    return pick


class Repository:
    """Reads one repository's records."""

    def __init__(self, gh: GitHub[Any], full_name: str) -> None:
        self.gh = gh
        self.owner, _, self.repo = full_name.partition("/")
        if not self.owner or not self.repo:
            raise ValueError(f"repository must be owner/name (got {full_name!r})")

    def workflow_runs(self, workflow: str, branch: str, since: datetime) -> list[WorkflowRun]:
        """Push runs of ``workflow`` on ``branch`` created since ``since`` (latest attempts)."""
        pages: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.actions.list_workflow_runs,
            map_func=_items("workflow_runs"),
            owner=self.owner,
            repo=self.repo,
            workflow_id=workflow,
            branch=branch,
            event="push",
            created=f">={since:%Y-%m-%dT%H:%M:%SZ}",
            per_page=PER_PAGE,
        )
        return [WorkflowRun.from_json(run) for run in pages]

    def deployments(self, environment: str, since: datetime) -> list[Deployment]:
        """Deployments to ``environment`` created since ``since``, each with its statuses.

        GitHub lists deployments newest first, so reading stops at the first older one. Only
        the pipeline's own records are kept (:attr:`Deployment.is_release_record`), so GitHub's
        automatic deployment of every environment job is skipped before its statuses are read.
        """
        pages: Iterator[Json] = self.gh.rest.paginate(
            self.gh.rest.repos.list_deployments,
            map_func=_items(None),
            owner=self.owner,
            repo=self.repo,
            environment=environment,
            per_page=PER_PAGE,
        )
        out: list[Deployment] = []
        for record in pages:
            deployment = Deployment.from_json(record, [])
            if deployment.created_at < since:
                break
            if not deployment.is_release_record:
                continue
            statuses: Iterator[Json] = self.gh.rest.paginate(
                self.gh.rest.repos.list_deployment_statuses,
                map_func=_items(None),
                owner=self.owner,
                repo=self.repo,
                deployment_id=deployment.id,
                per_page=PER_PAGE,
            )
            out.append(Deployment.from_json(record, list(statuses)))
        return out

    def commits(self, commit_range: CommitRange) -> list[Commit]:
        """The commits a deployment brought: ``base...head``, or the head commit alone."""
        base, head = commit_range
        if base is None or base == head:
            if base == head:
                return []
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
        """Line coverage summed over the run's ``coverage-*`` artifacts; None without any."""
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
    transport: httpx.BaseTransport | None = None,
) -> None:
    """PUT the exposition to the Pushgateway: it replaces this repository's group as a whole.

    PUT rather than POST, so a figure that has no data this time (left out of the exposition)
    disappears instead of lingering with last run's value.
    """
    url = gateway.rstrip("/") + grouping_path(repository)
    with httpx.Client(transport=transport, timeout=30) as http:
        response = http.put(
            url,
            content=text.encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
    if response.status_code >= 300:
        raise RuntimeError(f"Pushgateway {url} answered {response.status_code}")
