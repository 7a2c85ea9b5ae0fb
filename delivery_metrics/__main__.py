"""``python -m delivery_metrics``: read GitHub's records, write the summary, push the metrics.

Usage (the metrics.yml workflow passes everything explicitly)::

    GITHUB_TOKEN=... python -m delivery_metrics --repository acme/webshop --branch develop \\
        --environment development --environment staging --environment production \\
        --window 7 --window 30 --summary "$GITHUB_STEP_SUMMARY" --metrics-out metrics.prom \\
        [--state state.json] [--rate-limit-reserve 300] \\
        [--pushgateway https://pushgateway.example [--pushgateway-auth bearer|basic]] \\
        [--now 2026-11-29T05:00:00Z]

Order, so that nothing computed is lost: read (stopping early when the API budget is spent),
compute, append the summary, write the exposition, save the state, and only then push, best
effort: a Pushgateway that is down or refuses is a ``::warning::``, not a failed job. With
``--pushgateway-auth``, the credentials come from ``PUSHGATEWAY_CREDENTIALS`` (a bearer token,
or ``user:password`` for basic auth), never from the command line.

A partial report (budget spent) is written and warned about, and not pushed: Prometheus keeps
the last complete figures rather than figures that leave out what was not read.

Exit status: 0 when the summary was written (partial or not, pushed or not), 1 when GitHub
fails otherwise (one line on stderr), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from githubkit.exception import GitHubException

from delivery_metrics import compute, report, source
from delivery_metrics.budget import BudgetTransport
from delivery_metrics.records import Commit, RecordError, parse_time
from delivery_metrics.state import State

DEFAULT_RESERVE = 300
"""Requests left to the repository's other workflows (GITHUB_TOKEN: 1,000 an hour)."""


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
    partial: str | None = None
    """Why the report is partial (the budget was spent), or None when it is complete."""


def measure(repo: source.Repository, options: Options) -> Result:
    """Fetch what the windows (and the windows before them) need, then compute and format."""
    since = options.end - timedelta(days=2 * max(options.windows))
    runs = repo.workflow_runs(options.workflow, options.branch, since)
    deployments = [d for env in options.environments for d in repo.deployments(env, since)]
    commits: dict[compute.CommitRange, list[Commit]] = {}
    for commit_range in sorted(
        set(compute.commit_ranges(deployments).values()), key=lambda r: (r[0] or "", r[1])
    ):
        found = repo.commits(commit_range)
        if found is not None:
            commits[commit_range] = found
    coverage: dict[int, compute.Coverage] = {}
    for days in options.windows:
        window = compute.Window(days, options.end)
        for w in (window, window.previous):
            cov = source.coverage_of(repo, compute.coverage_candidates(runs, options.branch, w))
            if cov is not None:
                coverage[cov.run_id] = cov
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
    partial = None
    if repo.stopped is not None:
        missed = ", ".join(f"{what}: {count}" for what, count in sorted(repo.missed.items()))
        partial = f"stopped early: {repo.stopped}; not read this run: {missed}"
    markdown = report.markdown(options.repository, options.workflow, options.branch, reports)
    if partial is not None:
        title, _, rest = markdown.partition("\n")
        markdown = (
            f"{title}\n\n> [!WARNING]\n> Partial report, not pushed: {partial}. What was read is "
            "kept; the next run continues from there.\n" + rest
        )
    return Result(
        markdown=markdown,
        exposition=report.exposition(report.families(reports, options.end)),
        partial=partial,
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
    p.add_argument(
        "--state", default="", help="Results kept between runs (read, then written); '' for none."
    )
    p.add_argument(
        "--rate-limit-reserve",
        type=int,
        default=DEFAULT_RESERVE,
        help=f"Stop when x-ratelimit-remaining is at or below this. Default {DEFAULT_RESERVE}.",
    )
    p.add_argument("--pushgateway", help="Pushgateway base URL; push when set.")
    p.add_argument(
        "--pushgateway-auth",
        choices=("none", "bearer", "basic"),
        default="none",
        help="Credentials from PUSHGATEWAY_CREDENTIALS: a token, or user:password. Default none.",
    )
    p.add_argument("--now", help="End of the windows (ISO 8601). Default: now.")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL"))
    return p


def _warn(message: str) -> None:
    """A workflow-command warning: shown on the run's page, the job stays green."""
    print(f"::warning title=delivery metrics::{message}", file=sys.stderr)


def _authorization(kind: str) -> str | None:
    if kind == "none":
        return None
    credentials = os.environ.get("PUSHGATEWAY_CREDENTIALS", "")
    if not credentials:
        raise ValueError(f"--pushgateway-auth {kind} needs PUSHGATEWAY_CREDENTIALS")
    if kind == "bearer":
        return f"Bearer {credentials}"
    if ":" not in credentials:
        raise ValueError("--pushgateway-auth basic needs PUSHGATEWAY_CREDENTIALS as user:password")
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    windows = tuple(args.windows or (7, 30))
    if not args.repository or any(days < 1 for days in windows) or args.rate_limit_reserve < 0:
        parser.error(
            "--repository (or GITHUB_REPOSITORY), windows of 1 day or more and a reserve of 0"
            " or more needed"
        )
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
    state_file = Path(args.state) if args.state else None
    state = State.load(state_file, options.repository)
    if state.note:
        _warn(f"kept results not used, starting afresh: {state.note}")
    budget = BudgetTransport(transport or httpx.HTTPTransport(), state, args.rate_limit_reserve)
    try:
        authorization = _authorization(args.pushgateway_auth) if args.pushgateway else None
        gh = source.client(token, base_url=args.api_url, transport=budget)
        result = measure(source.Repository(gh, options.repository, state), options)
    except (GitHubException, httpx.HTTPError, RecordError, RuntimeError, ValueError) as err:
        print(f"delivery_metrics: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return 1
    finally:
        if state_file is not None:
            try:
                state.save(state_file)
            except OSError as err:
                _warn(f"results not kept for the next run: {type(err).__name__}: {err}")
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as out:
            out.write(result.markdown + "\n")
    if args.metrics_out:
        args.metrics_out.write_text(result.exposition, encoding="utf-8")
    print(result.markdown)
    print(
        f"GitHub API: {budget.sent} requests ({budget.not_modified} answered 304, free), "
        f"x-ratelimit-remaining {budget.remaining}",
        file=sys.stderr,
    )
    if result.partial is not None:
        _warn(f"partial report, not pushed: {result.partial}")
    elif args.pushgateway:
        try:
            source.push(
                args.pushgateway,
                options.repository,
                result.exposition,
                authorization=authorization,
                transport=transport,
            )
        except (httpx.HTTPError, RuntimeError) as err:
            _warn(f"figures not pushed ({type(err).__name__}: {err}); summary and exposition kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
