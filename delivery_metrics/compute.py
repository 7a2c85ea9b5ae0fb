"""The figures: pure functions over parsed records (see the package docstring for definitions).

Nothing here does I/O or reads the clock: the caller passes the window's end, the records and
the commit lists, so every figure can be checked by hand on recorded data.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from delivery_metrics.records import (
    FAILED_STATES,
    RESTORED_IN_JOB,
    Commit,
    Deployment,
    WorkflowRun,
)

PASSED: Final = frozenset({"success"})
FAILED: Final = frozenset({"failure", "timed_out", "startup_failure"})

CommitRange = tuple[str | None, str]
"""(base sha or None, head sha): the commits a deployment brought."""


@dataclass(frozen=True)
class Window:
    """``[start, end)``: the last ``days`` days before ``end``."""

    days: int
    end: datetime

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def previous(self) -> Window:
        """The window of the same length just before this one (for the trend)."""
        return Window(self.days, self.start)

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least pct% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    """Median (mean of the two middle values for an even count)."""
    return statistics.median(values) if values else None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --------------------------------------------------------------------------------------------
# Builds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildFigures:
    """CI runs on the default branch in one window."""

    passed: int
    failed: int
    rerun: int

    @property
    def completed(self) -> int:
        return self.passed + self.failed

    @property
    def success_rate(self) -> float | None:
        return ratio(self.passed, self.completed)


def latest_attempts(runs: Iterable[WorkflowRun]) -> list[WorkflowRun]:
    """One record per run id, the highest ``run_attempt`` (pages can repeat a run)."""
    by_id: dict[int, WorkflowRun] = {}
    for run in runs:
        known = by_id.get(run.id)
        if known is None or run.run_attempt > known.run_attempt:
            by_id[run.id] = run
    return sorted(by_id.values(), key=lambda r: (r.created_at, r.id))


def build_figures(runs: Iterable[WorkflowRun], branch: str, window: Window) -> BuildFigures:
    """Build success rate inputs: push runs on ``branch`` created in the window, with a verdict."""
    passed = failed = rerun = 0
    for run in latest_attempts(runs):
        if run.event != "push" or run.head_branch != branch or run.created_at not in window:
            continue
        if run.status != "completed" or run.conclusion not in PASSED | FAILED:
            continue
        passed += run.conclusion in PASSED
        failed += run.conclusion in FAILED
        rerun += run.run_attempt > 1
    return BuildFigures(passed=passed, failed=failed, rerun=rerun)


def coverage_candidates(runs: Iterable[WorkflowRun], branch: str, window: Window) -> list[int]:
    """Ids of successful push runs on ``branch`` in the window, newest first."""
    return [
        run.id
        for run in reversed(latest_attempts(runs))
        if run.event == "push"
        and run.head_branch == branch
        and run.created_at in window
        and run.conclusion in PASSED
    ]


@dataclass(frozen=True)
class Coverage:
    """Line coverage of one CI run: covered and total lines over all packages."""

    run_id: int
    covered: int
    total: int

    @property
    def ratio(self) -> float | None:
        return ratio(self.covered, self.total)


def window_coverage(
    runs: Iterable[WorkflowRun], branch: str, window: Window, coverage: Mapping[int, Coverage]
) -> Coverage | None:
    """Coverage of the newest successful run in the window that has a coverage summary."""
    for run_id in coverage_candidates(runs, branch, window):
        if run_id in coverage:
            return coverage[run_id]
    return None


# --------------------------------------------------------------------------------------------
# Deployments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFigures:
    """One environment in one window."""

    environment: str
    window_days: int
    deployments: int
    lead_times: tuple[float, ...]
    changes_with_verdict: int
    changes_failed: int
    incidents: int
    restore_times: tuple[float, ...]

    @property
    def deployments_per_day(self) -> float:
        return self.deployments / self.window_days

    @property
    def lead_time_median(self) -> float | None:
        return median(self.lead_times)

    @property
    def lead_time_p90(self) -> float | None:
        return percentile(self.lead_times, 90)

    @property
    def change_failure_rate(self) -> float | None:
        return ratio(self.changes_failed, self.changes_with_verdict)

    @property
    def mean_time_to_restore(self) -> float | None:
        return statistics.fmean(self.restore_times) if self.restore_times else None

    @property
    def open_incidents(self) -> int:
        return self.incidents - len(self.restore_times)


def _by_creation(deployments: Iterable[Deployment]) -> list[Deployment]:
    unique = {d.id: d for d in deployments}
    return sorted(unique.values(), key=lambda d: (d.created_at, d.id))


def rolled_back_ids(deployments: Iterable[Deployment]) -> dict[int, datetime]:
    """Deployment id -> when a rollback deployment named it (``payload.rollback_of``)."""
    out: dict[int, datetime] = {}
    for d in _by_creation(deployments):
        if d.rollback_of is not None:
            out.setdefault(d.rollback_of, d.created_at)
    return out


def is_change(deployment: Deployment) -> bool:
    """A release whose deploy job ran: a rollback is not a change, nor a release refused or
    cancelled at approval (it never ran: :attr:`Deployment.ran`)."""
    return deployment.ran and not deployment.is_rollback


def is_failed_change(deployment: Deployment, rolled_back: Mapping[int, datetime]) -> bool:
    final = deployment.final_verdict
    return deployment.id in rolled_back or (final is not None and final.state in FAILED_STATES)


def commit_ranges(deployments: Iterable[Deployment]) -> dict[int, CommitRange]:
    """For each successful change deployment: the commits it brought, as (base, head).

    The base is the sha of the previous successful change deployment of the same environment;
    ``None`` when there is none in the records (then only the deployed commit counts, rather
    than the whole history).
    """
    out: dict[int, CommitRange] = {}
    previous: dict[str, str] = {}
    for d in _by_creation(deployments):
        if not is_change(d) or d.first_success is None:
            continue
        out[d.id] = (previous.get(d.environment), d.sha)
        previous[d.environment] = d.sha
    return out


Incident = tuple[datetime, datetime | None]
"""(start, end or None while open)."""


def _breaks(
    d: Deployment, rolled_back: Mapping[int, datetime]
) -> tuple[datetime, datetime | None] | None:
    """When the failed change ``d`` broke the environment, and when its own job restored it.

    The failure is the first ``failure``/``error`` verdict, or the moment a rollback deployment
    named ``d``. The environment broke when the job that failed it started: the deployment's
    last ``in_progress`` before the failure, provided it came after the last ``success`` (a
    deploy that never became healthy, or a later promote/abort run of the same deployment).
    Otherwise the release was healthy until the failure was recorded (a health check failing
    after it, a rollback from another run), and it broke at the failure. A failure whose
    description says the job put traffic back on a healthy stable version
    (:data:`records.RESTORED_IN_JOB`) is also the restore.
    """
    if not is_change(d):
        return None
    status = d.failed_at()
    failed = status.created_at if status is not None else rolled_back.get(d.id)
    if failed is None:
        return None
    last_healthy = max(
        (s.created_at for s in d.verdicts if s.state == "success" and s.created_at <= failed),
        default=None,
    )
    job_started = d.started_before(failed)
    start = failed
    if job_started is not None and (last_healthy is None or job_started > last_healthy):
        start = job_started
    restored = failed if status is not None and RESTORED_IN_JOB.search(status.description) else None
    return start, restored


def _incidents(
    deployments: Sequence[Deployment], rolled_back: Mapping[int, datetime]
) -> list[Incident]:
    """Each period the environment was broken, in the environment's records.

    An incident starts when a failed change broke the environment (:func:`_breaks`) and ends at
    the first record of restored service after that: the failed job's own rollback or abort
    reaching healthy, a rollback deployment's ``success``, or any later ``success`` of a
    deployment that ran. A failure while an incident is open is part of it.
    """
    events: list[tuple[datetime, int]] = []  # 0: broken, 1: healthy
    for d in deployments:
        broke = _breaks(d, rolled_back)
        if broke is not None:
            events.append((broke[0], 0))
            if broke[1] is not None:
                events.append((broke[1], 1))
        if d.ran:
            events.extend((s.created_at, 1) for s in d.verdicts if s.state == "success")
    events.sort()
    out: list[Incident] = []
    start: datetime | None = None
    for moment, kind in events:
        if kind == 0 and start is None:
            start = moment
        elif kind == 1 and start is not None:
            out.append((start, moment))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def delivery_figures(
    deployments: Iterable[Deployment],
    environment: str,
    window: Window,
    commits: Mapping[CommitRange, Sequence[Commit]],
) -> DeliveryFigures:
    """Frequency, lead time, change failure rate and time to restore of one environment.

    ``commits`` maps each range from :func:`commit_ranges` to the commits it holds; a range
    missing from it (the API could not compare) contributes no lead times.
    """
    all_deployments = _by_creation(deployments)
    mine = [d for d in all_deployments if d.environment == environment]
    rolled_back = rolled_back_ids(mine)
    ranges = commit_ranges(mine)
    deployed = 0
    lead_times: list[float] = []
    with_verdict = failed = 0
    for d in mine:
        if not is_change(d) or d.created_at not in window:
            continue
        success = d.first_success
        if success is not None:
            deployed += 1
            for commit in commits.get(ranges[d.id], ()):
                lead_times.append((success - commit.committed_at).total_seconds())
        if d.final_verdict is not None or d.id in rolled_back:
            with_verdict += 1
            failed += is_failed_change(d, rolled_back)
    incidents = [(s, e) for s, e in _incidents(mine, rolled_back) if s in window]
    return DeliveryFigures(
        environment=environment,
        window_days=window.days,
        deployments=deployed,
        lead_times=tuple(lead_times),
        changes_with_verdict=with_verdict,
        changes_failed=failed,
        incidents=len(incidents),
        restore_times=tuple((e - s).total_seconds() for s, e in incidents if e is not None),
    )


# --------------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Every figure of one window."""

    window: Window
    builds: BuildFigures
    coverage: Coverage | None
    environments: tuple[DeliveryFigures, ...]


@dataclass(frozen=True)
class WindowReport:
    """A window and the one before it, for the trend."""

    current: Period
    previous: Period


def period(
    window: Window,
    *,
    branch: str,
    environments: Sequence[str],
    runs: Sequence[WorkflowRun],
    deployments: Sequence[Deployment],
    commits: Mapping[CommitRange, Sequence[Commit]],
    coverage: Mapping[int, Coverage],
) -> Period:
    return Period(
        window=window,
        builds=build_figures(runs, branch, window),
        coverage=window_coverage(runs, branch, window, coverage),
        environments=tuple(
            delivery_figures(deployments, env, window, commits) for env in environments
        ),
    )


def report(
    end: datetime,
    windows: Sequence[int],
    *,
    branch: str,
    environments: Sequence[str],
    runs: Sequence[WorkflowRun],
    deployments: Sequence[Deployment],
    commits: Mapping[CommitRange, Sequence[Commit]],
    coverage: Mapping[int, Coverage],
) -> tuple[WindowReport, ...]:
    """Every window ending at ``end``, each with the window before it."""
    out: list[WindowReport] = []
    for days in windows:
        window = Window(days, end)
        periods = [
            period(
                w,
                branch=branch,
                environments=environments,
                runs=runs,
                deployments=deployments,
                commits=commits,
                coverage=coverage,
            )
            for w in (window, window.previous)
        ]
        out.append(WindowReport(current=periods[0], previous=periods[1]))
    return tuple(out)
