"""What people and Prometheus read: the job-summary Markdown and the metrics exposition.

The Markdown has one section per window: a table for the repository (build success rate, test
coverage) and one per environment, each row with the value now, the value in the window before
and the trend in words (``better``/``worse`` knows which direction is good for each metric).

The exposition is the subset of the text format that is both valid OpenMetrics and valid
Prometheus text 0.0.4 (gauges only, HELP and TYPE, no timestamps, ``# EOF`` at the end): the
Pushgateway parses it as the latter, ``promtool check metrics`` checks it. Only the current
window is exposed (Prometheus keeps the history; ``offset`` gives the previous window), and a
figure without data (no deployments, no incidents) is left out rather than sent as NaN or 0,
so a panel shows "no data" instead of a misleading zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from delivery_metrics import dora
from delivery_metrics.compute import BuildFigures, Coverage, DeliveryFigures, WindowReport

# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``1d 4h``, ``2h 10m``, ``45m``, ``30s``; ``-`` for no data."""
    if seconds is None:
        return "-"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def trend(now: float | None, before: float | None, higher_is_better: bool) -> str:
    """Direction of change in words a reader does not have to decode."""
    if now is None or before is None:
        return "-"
    if abs(now - before) < 1e-9:
        return "→ same"
    up = now > before
    arrow = "↑" if up else "↓"
    return f"{arrow} {'better' if up == higher_is_better else 'worse'}"


@dataclass(frozen=True)
class _Row:
    label: str
    higher_is_better: bool
    value: Callable[[DeliveryFigures], float | None]
    show: Callable[[DeliveryFigures], str]
    band: Callable[[DeliveryFigures], dora.Band | None] = lambda _: None


def _cfr(f: DeliveryFigures) -> str:
    if f.changes_with_verdict == 0:
        return "-"
    return f"{percent(f.change_failure_rate)} ({f.changes_failed}/{f.changes_with_verdict})"


def _ttr(f: DeliveryFigures) -> str:
    if f.incidents == 0:
        return "- (no incidents)"
    text = f"{duration(f.mean_time_to_restore)} ({len(f.restore_times)} restored"
    return text + (f", {f.open_incidents} open)" if f.open_incidents else ")")


_ENV_ROWS = (
    _Row(
        "Deployments",
        True,
        lambda f: float(f.deployments),
        lambda f: f"{f.deployments} ({f.deployments_per_day:.2f}/day)",
        lambda f: dora.frequency(f.deployments_per_day),
    ),
    _Row(
        "Lead time for changes, median",
        False,
        lambda f: f.lead_time_median,
        lambda f: duration(f.lead_time_median),
        lambda f: dora.lead_time(f.lead_time_median),
    ),
    _Row(
        "Lead time for changes, p90",
        False,
        lambda f: f.lead_time_p90,
        lambda f: duration(f.lead_time_p90),
    ),
    _Row(
        "Change failure rate",
        False,
        lambda f: f.change_failure_rate,
        _cfr,
        lambda f: dora.change_failure(f.change_failure_rate),
    ),
    _Row(
        "Mean time to restore",
        False,
        lambda f: f.mean_time_to_restore,
        _ttr,
        lambda f: dora.recovery(f.mean_time_to_restore),
    ),
)


def _builds(b: BuildFigures) -> str:
    if b.completed == 0:
        return "-"
    reruns = f", {b.rerun} re-run" if b.rerun else ""
    return f"{percent(b.success_rate)} ({b.passed}/{b.completed}{reruns})"


def _coverage(c: Coverage | None) -> str:
    return "-" if c is None else f"{percent(c.ratio)} ({c.covered}/{c.total} lines)"


def _table(rows: Iterable[tuple[str, ...]], band: bool = False) -> list[str]:
    head = ["Metric", "Now", "Before", "Trend", *(["DORA band (now)"] if band else [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def markdown(
    repository: str, ci_workflow: str, branch: str, reports: Iterable[WindowReport]
) -> str:
    """The job summary: one section per window, trend against the window before it."""
    reports = tuple(reports)
    end = reports[0].current.window.end if reports else None
    lines = [f"# Delivery metrics: {repository}", ""]
    if end is not None:
        lines += [f"Computed {end:%Y-%m-%d %H:%M} UTC from GitHub's records.", ""]
    for r in reports:
        now, before = r.current, r.previous
        days = now.window.days
        lines += [f"## Last {days} days, compared with the {days} days before", ""]
        lines += [f"### Repository ({ci_workflow} on {branch})", ""]
        lines += _table(
            [
                (
                    "Build success rate",
                    _builds(now.builds),
                    _builds(before.builds),
                    trend(now.builds.success_rate, before.builds.success_rate, True),
                ),
                (
                    "Test coverage (lines)",
                    _coverage(now.coverage),
                    _coverage(before.coverage),
                    trend(
                        now.coverage.ratio if now.coverage else None,
                        before.coverage.ratio if before.coverage else None,
                        True,
                    ),
                ),
            ]
        )
        lines.append("")
        for env_now, env_before in zip(now.environments, before.environments, strict=True):
            lines += [f"### {env_now.environment}", ""]
            lines += _table(
                (
                    (
                        row.label,
                        row.show(env_now),
                        row.show(env_before),
                        trend(row.value(env_now), row.value(env_before), row.higher_is_better),
                        str(row.band(env_now) or "-"),
                    )
                    for row in _ENV_ROWS
                ),
                band=True,
            )
            lines.append("")
    lines += [
        f"DORA bands per metric from the {dora.REPORT} thresholds (docs/delivery-metrics.md);"
        " lead time is banded by its median.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Exposition
# --------------------------------------------------------------------------------------------

PREFIX = "delivery_"


@dataclass(frozen=True)
class Family:
    """One gauge family and its samples (label pairs, value)."""

    name: str
    help: str
    samples: tuple[tuple[tuple[tuple[str, str], ...], float], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def families(reports: Iterable[WindowReport], generated_at: datetime) -> list[Family]:
    """The gauges of the current window of each report."""
    out: dict[str, tuple[str, list[tuple[tuple[tuple[str, str], ...], float]]]] = {}

    def add(name: str, help_text: str, labels: dict[str, str], value: float | None) -> None:
        entry = out.setdefault(PREFIX + name, (help_text, []))
        if value is not None:
            entry[1].append((tuple(sorted(labels.items())), value))

    for r in reports:
        now = r.current
        w = {"window": f"{now.window.days}d"}
        add(
            "build_success_ratio",
            "Share of completed CI runs on the default branch that passed.",
            w,
            now.builds.success_rate,
        )
        add(
            "builds_completed",
            "CI runs on the default branch with a pass/fail verdict.",
            w,
            float(now.builds.completed),
        )
        add("builds_rerun", "CI runs that needed a re-run.", w, float(now.builds.rerun))
        add(
            "test_coverage_ratio",
            "Line coverage of the newest successful CI run in the window.",
            w,
            now.coverage.ratio if now.coverage else None,
        )
        for f in now.environments:
            labels = {**w, "environment": f.environment}
            add(
                "deployments",
                "Successful change deployments in the window.",
                labels,
                float(f.deployments),
            )
            add(
                "lead_time_median_seconds",
                "Median time from commit to successful deployment.",
                labels,
                f.lead_time_median,
            )
            add(
                "lead_time_p90_seconds",
                "90th percentile time from commit to successful deployment.",
                labels,
                f.lead_time_p90,
            )
            add(
                "change_failure_ratio",
                "Share of change deployments that failed or were rolled back.",
                labels,
                f.change_failure_rate,
            )
            add(
                "time_to_restore_mean_seconds",
                "Mean time from a failed deployment to the next healthy one.",
                labels,
                f.mean_time_to_restore,
            )
            add(
                "incidents",
                "Failures of an environment that began in the window.",
                labels,
                float(f.incidents),
            )
    add(
        "metrics_generated_timestamp_seconds",
        "When these figures were computed (Unix time).",
        {},
        generated_at.timestamp(),
    )
    return [Family(name, h, tuple(samples)) for name, (h, samples) in out.items() if samples]


def exposition(fams: Iterable[Family]) -> str:
    """Text that is valid OpenMetrics and valid Prometheus text format 0.0.4."""
    lines: list[str] = []
    for fam in fams:
        lines += [f"# HELP {fam.name} {fam.help}", f"# TYPE {fam.name} gauge"]
        for labels, value in fam.samples:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(
                f"{fam.name}{{{rendered}}} {_number(value)}"
                if rendered
                else f"{fam.name} {_number(value)}"
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
