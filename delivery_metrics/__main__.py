"""``python -m delivery_metrics``: read GitHub's records, write the summary, push the metrics.

Usage (the metrics.yml workflow passes everything explicitly)::

    GITHUB_TOKEN=... python -m delivery_metrics --repository acme/webshop --branch develop \\
        --environment development --environment staging --environment production \\
        --window 7 --window 30 --summary "$GITHUB_STEP_SUMMARY" --metrics-out metrics.prom \\
        [--pushgateway https://pushgateway.example] [--now 2026-11-29T05:00:00Z]

Exit status: 0 on success, 1 when GitHub or the Pushgateway fails (one line on stderr), 2 on
bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from githubkit.exception import GitHubException

from delivery_metrics import compute, report, source
from delivery_metrics.records import Commit, RecordError, parse_time


@dataclass(frozen=True)
class Options:
    """What to measure and where the results go."""

    repository: str
    workflow: str
    branch: str
    environments: tuple[str, ...]
    windows: tuple[int, ...]
    end: datetime


@dataclass(frozen=True)
class Result:
    markdown: str
    exposition: str


def measure(repo: source.Repository, options: Options) -> Result:
    """Fetch what the windows (and the windows before them) need, then compute and format."""
    since = options.end - timedelta(days=2 * max(options.windows))
    runs = repo.workflow_runs(options.workflow, options.branch, since)
    deployments = [d for env in options.environments for d in repo.deployments(env, since)]
    commits: dict[compute.CommitRange, list[Commit]] = {}
    for commit_range in sorted(
        set(compute.commit_ranges(deployments).values()), key=lambda r: (r[0] or "", r[1])
    ):
        commits[commit_range] = repo.commits(commit_range)
    coverage: dict[int, compute.Coverage] = {}
    for days in options.windows:
        window = compute.Window(days, options.end)
        for w in (window, window.previous):
            found = source.coverage_of(repo, compute.coverage_candidates(runs, options.branch, w))
            if found is not None:
                coverage[found.run_id] = found
    reports = compute.report(
        options.end,
        options.windows,
        branch=options.branch,
        environments=options.environments,
        runs=runs,
        deployments=deployments,
        commits=commits,
        coverage=coverage,
    )
    return Result(
        markdown=report.markdown(options.repository, options.workflow, options.branch, reports),
        exposition=report.exposition(report.families(reports, options.end)),
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m delivery_metrics", description=__doc__)
    p.add_argument("--repository", default=os.environ.get("GITHUB_REPOSITORY"))
    p.add_argument("--workflow", default="ci.yml", help="CI workflow file. Default ci.yml.")
    p.add_argument("--branch", required=True, help="Default branch CI runs on.")
    p.add_argument("--environment", action="append", required=True, dest="environments")
    p.add_argument("--window", action="append", type=int, dest="windows", help="Days.")
    p.add_argument("--summary", type=Path, help="Append the Markdown here (job summary).")
    p.add_argument("--metrics-out", type=Path, help="Write the exposition here.")
    p.add_argument("--pushgateway", help="Pushgateway base URL; push when set.")
    p.add_argument("--now", help="End of the windows (ISO 8601). Default: now.")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL"))
    return p


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    windows = tuple(args.windows or (7, 30))
    if not args.repository or any(days < 1 for days in windows):
        parser.error("--repository (or GITHUB_REPOSITORY) and windows of 1 day or more needed")
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("delivery_metrics: GITHUB_TOKEN is not set", file=sys.stderr)
        return 1
    options = Options(
        repository=args.repository,
        workflow=args.workflow,
        branch=args.branch,
        environments=tuple(args.environments),
        windows=windows,
        end=parse_time(args.now) if args.now else datetime.now(UTC).replace(microsecond=0),
    )
    try:
        gh = source.client(token, base_url=args.api_url, transport=transport)
        result = measure(source.Repository(gh, options.repository), options)
        if args.pushgateway:
            source.push(
                args.pushgateway, options.repository, result.exposition, transport=transport
            )
    except (GitHubException, httpx.HTTPError, RecordError, RuntimeError, ValueError) as err:
        print(f"delivery_metrics: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return 1
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as out:
            out.write(result.markdown + "\n")
    if args.metrics_out:
        args.metrics_out.write_text(result.exposition, encoding="utf-8")
    print(result.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
