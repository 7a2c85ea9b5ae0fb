"""Delivery metrics on recorded GitHub responses (tests/fixtures/github), no network.

The fixtures follow GitHub's documented shapes: Link-header pagination (two pages of CI runs
with one run repeated on the second page, two pages of deployments, of statuses and of a
compare), a re-run (``run_attempt`` 2), a cancelled and an in-progress run, coverage artifacts
behind a 302 to blob storage (Istanbul summary, lcov, an expired one), a deployment without
statuses, a failed deploy, a deploy marked failed by a rollback plus the rollback deployment
(``task: deploy:rollback``, ``payload.rollback_of``), and an open incident in production.
The deploy workflows' deployments carry ``payload.digest``; production also lists GitHub's
automatic deployment of the deploy job (303: empty payload, a ``success`` status that would
close the open incident), which is not a release and is never counted.

Every expected figure below is worked out by hand from those files, in the comment beside it.
The windows end at 2026-11-29T00:00Z: 7d = [11-22, 11-29), its previous = [11-15, 11-22),
30d = [10-30, 11-29), its previous = [09-30, 10-30).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from delivery_metrics import compute, dora, source
from delivery_metrics.__main__ import Options, main, measure
from delivery_metrics.coverage import lines_from_lcov
from delivery_metrics.records import Deployment, RecordError, WorkflowRun
from delivery_metrics.state import STATE_VERSION, State
from tests import github_year
from tests.conftest import real_tool

FIXTURES: Final = Path(__file__).parent / "fixtures" / "github"
REPOSITORY: Final = "acme/webshop"
END: Final = datetime(2026, 11, 29, tzinfo=UTC)
ENVIRONMENTS: Final = ("development", "staging", "production")
OPTIONS: Final = Options(
    repository=REPOSITORY,
    workflow="ci.yml",
    branch="develop",
    environments=ENVIRONMENTS,
    windows=(7, 30),
    end=END,
)
H: Final = 3600.0
M: Final = 60.0


def _key(method: str, url: httpx.URL | str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(str(url))
    where = parts.path if parts.netloc == "api.github.com" else f"{parts.netloc}{parts.path}"
    return method, where, tuple(sorted(parse_qsl(parts.query)))


class RecordedGitHub(httpx.BaseTransport):
    """Answers each request with the recorded response for exactly that method, path and query.

    An unknown request fails the test (so a wrong filter or a missed page is caught), and the
    names of the recordings used are kept for assertions on what was (not) requested.
    """

    def __init__(self, overrides: dict[str, int] | None = None) -> None:
        self.recordings: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[str, Any]] = {}
        for path in sorted(FIXTURES.glob("*.json")):
            doc = json.loads(path.read_text())
            method, _, target = doc["request"].partition(" ")
            self.recordings[
                _key(method, target if "://" in target else "https://api.github.com" + target)
            ] = (
                path.stem,
                doc,
            )
        self.used: list[str] = []
        self.overrides = overrides or {}
        self.pushed: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            request.read()
            self.pushed.append(request)
            return httpx.Response(200)
        key = _key(request.method, request.url)
        if key not in self.recordings:
            raise AssertionError(f"unrecorded request {key}")
        name, doc = self.recordings[key]
        self.used.append(name)
        status = self.overrides.get(name, doc["status"])
        headers = dict(doc["headers"])
        if status >= 400:
            return httpx.Response(status, json={"message": "Not Found"}, request=request)
        if isinstance(doc["body"], dict) and set(doc["body"]) == {"file"}:
            content = (FIXTURES / doc["body"]["file"]).read_bytes()
            return httpx.Response(status, headers=headers, content=content, request=request)
        body = b"" if doc["body"] is None else json.dumps(doc["body"]).encode()
        return httpx.Response(status, headers=headers, content=body, request=request)


@cache
def fetched() -> tuple[
    list[WorkflowRun],
    list[Deployment],
    dict[compute.CommitRange, list[Any]],
    dict[int, compute.Coverage],
    tuple[str, ...],
]:
    transport = RecordedGitHub()
    repo = source.Repository(source.client("t0ken", transport=transport), REPOSITORY)
    since = datetime(2026, 9, 30, tzinfo=UTC)
    runs = repo.workflow_runs("ci.yml", "develop", since)
    deployments = [d for env in ENVIRONMENTS for d in repo.deployments(env, since)]
    commits: dict[compute.CommitRange, list[Any]] = {}
    for commit_range in set(compute.commit_ranges(deployments).values()):
        found_commits = repo.commits(commit_range)
        assert found_commits is not None
        commits[commit_range] = found_commits
    coverage = {}
    for run_id in (100007, 94007):
        found = repo.coverage(run_id)
        assert found is not None
        coverage[run_id] = found
    return runs, deployments, commits, coverage, tuple(transport.used)


def figures(days: int, previous: bool = False) -> compute.Period:
    runs, deployments, commits, coverage, _ = fetched()
    window = compute.Window(days, END)
    return compute.period(
        window.previous if previous else window,
        branch="develop",
        environments=ENVIRONMENTS,
        runs=runs,
        deployments=deployments,
        commits=commits,
        coverage=coverage,
    )


def env(period: compute.Period, name: str) -> compute.DeliveryFigures:
    return next(f for f in period.environments if f.environment == name)


# --------------------------------------------------------------------------------------------
# Reading the records
# --------------------------------------------------------------------------------------------


def test_pagination_follows_link_headers_and_keeps_one_record_per_run() -> None:
    runs, deployments, commits, _, used = fetched()
    # 7 runs on page 1 + 7 on page 2, run 96 on both: 14 records, 13 runs.
    assert len(runs) == 14
    assert len(compute.latest_attempts(runs)) == 13
    assert {"runs-page2", "deployments-development-page2", "statuses-205-page2"} <= set(used)
    assert {"compare-c0-c1-page2"} <= set(used)
    # Deployment 150 (2026-08-01) is older than the 60 days read: listing stops before it and
    # its statuses are never requested.
    assert "statuses-150" not in used
    assert sorted(d.id for d in deployments) == [
        199,
        200,
        201,
        202,
        203,
        204,
        205,
        206,
        207,
        301,
        302,
        401,
        402,
        403,
        404,
        405,
        406,
    ]
    d205 = next(d for d in deployments if d.id == 205)
    assert [s.state for s in d205.statuses] == [
        "queued",
        "in_progress",
        "success",
        "failure",
        "inactive",
    ]
    assert (
        len(
            commits[
                (
                    "6330000000000000000000000000000000000000",
                    "6331000000000000000000000000000000000000",
                )
            ]
        )
        == 2
    )


def test_rollback_records_are_recognised() -> None:
    _, deployments, _, _, _ = fetched()
    by_id = {d.id: d for d in deployments}
    assert by_id[206].is_rollback and by_id[206].rollback_of == 205
    assert not by_id[205].is_rollback
    assert by_id[207].statuses == () and by_id[207].final_verdict is None
    assert compute.rolled_back_ids(deployments) == {205: datetime(2026, 11, 26, 13, 5, tzinfo=UTC)}


def test_githubs_automatic_environment_deployments_are_not_counted() -> None:
    _, deployments, _, _, used = fetched()
    # 303 is listed (the same job, its own record) but skipped before its statuses are read.
    assert 303 not in {d.id for d in deployments}
    assert "deployments-production-page1" in used and "statuses-303" not in used
    # Counted, 303 would be a second success (2 deployments) and would close 302's incident.
    prod = env(figures(7), "production")
    assert prod.deployments == 1 and prod.open_incidents == 1


def test_only_records_naming_a_digest_or_a_rollback_are_release_records() -> None:
    record = {
        "id": 9,
        "sha": "a" * 40,
        "environment": "production",
        "created_at": "2026-11-01T00:00:00Z",
        "task": "deploy",
    }
    digest = "sha256:" + "d" * 64
    ours = Deployment.from_json({**record, "payload": {"digest": digest}}, [])
    assert ours.digest == digest and ours.is_release_record
    as_text = Deployment.from_json({**record, "payload": json.dumps({"digest": digest})}, [])
    assert as_text.is_release_record
    for automatic in ({}, "", None, {"digest": "latest"}, "deployed by another tool"):
        parsed = Deployment.from_json({**record, "payload": automatic}, [])
        assert parsed.digest is None and not parsed.is_release_record, automatic
    rollback = {**record, "task": "deploy:rollback", "payload": {"rollback_of": 8}}
    assert Deployment.from_json(rollback, []).is_release_record


def test_payload_may_be_a_json_string_and_missing_fields_are_named() -> None:
    record = {
        "id": 9,
        "sha": "a" * 40,
        "environment": "production",
        "created_at": "2026-11-01T00:00:00Z",
        "task": "deploy",
        "payload": '{"rollback_of": "7"}',
    }
    assert Deployment.from_json(record, []).rollback_of == 7
    assert Deployment.from_json({**record, "payload": "not json"}, []).rollback_of is None
    with pytest.raises(RecordError, match=r"deployment 9: missing sha"):
        Deployment.from_json({**record, "sha": None}, [])


def test_coverage_is_summed_line_by_line_over_packages() -> None:
    _, _, _, coverage, used = fetched()
    # run 100: coverage-api summary 800/1000 (its stray lcov.info is ignored: the summary wins),
    # coverage-web lcov 150/200 + 50/100 = 200/300, coverage-shared expired: 1000/1300.
    assert coverage[100007] == compute.Coverage(100007, 1000, 1300)
    assert coverage[94007] == compute.Coverage(94007, 700, 1000)
    assert "blob-9001" in used  # the 302 to blob storage was followed
    assert lines_from_lcov("LF:10\nLH:4\nLF:5\nLH:5\n") == (9, 15)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def test_build_success_rate_counts_latest_attempts_with_a_verdict() -> None:
    # 7d: 101 s, 100 s (attempt 2), 99 f, 98 cancelled (out), 97 s, 95 s, 96: timed_out on
    # page 1, re-run to success (attempt 2) by the time page 2 was read -> the later attempt;
    # 102 in progress (out) -> 5 passed / 6, two re-runs.
    assert figures(7).builds == compute.BuildFigures(passed=5, failed=1, rerun=2)
    # previous 7d: 94 s, 93 f, 92 f -> 1/3
    assert figures(7, previous=True).builds == compute.BuildFigures(passed=1, failed=2, rerun=0)
    # 30d adds 94, 93, 92 and 91 s -> 7/10
    assert figures(30).builds.success_rate == pytest.approx(0.7)
    assert figures(30, previous=True).builds == compute.BuildFigures(passed=0, failed=1, rerun=0)


def test_coverage_of_a_window_is_its_newest_run_with_a_summary() -> None:
    # 7d: run 101 has no coverage artifact, 100 has -> 1000/1300; previous 7d: run 94.
    assert figures(7).coverage == compute.Coverage(100007, 1000, 1300)
    assert figures(7, previous=True).coverage == compute.Coverage(94007, 700, 1000)
    assert figures(30, previous=True).coverage is None  # only a failed run (90) there


def test_development_last_7_days() -> None:
    dev = env(figures(7), "development")
    # Successful change deployments created in the window: 201, 202, 204, 205 (205 later
    # rolled back still shipped). 203 failed, 206 is the rollback, 207 has no status.
    assert dev.deployments == 4
    # Lead times (committer date -> first success):
    #   201: c1a 08:10, c1 10:10 -> 12:10            = 4h, 2h
    #   202: c2 11:40 -> 12:10                        = 30m
    #   204: c3 08:00, c4 09:45 -> 10:30 (base c2)    = 2h30m, 45m
    #   205: c5 11:15 -> 12:15                        = 1h
    assert sorted(dev.lead_times) == [30 * M, 45 * M, 1 * H, 2 * H, 2.5 * H, 4 * H]
    assert dev.lead_time_median == 1.5 * H  # (1h + 2h) / 2
    assert dev.lead_time_p90 == 4 * H  # rank ceil(0.9 * 6) = 6
    # Verdicts: 201 s, 202 s, 203 failure, 204 s, 205 failure after rollback -> 2/5
    assert (dev.changes_failed, dev.changes_with_verdict) == (2, 5)
    # Incidents: 203 never became healthy: it broke dev when its job started (in_progress
    #            11-24 09:01), 204 healthy 10:30 -> 89m;
    #            205 was healthy, then failed 11-26 13:00, rollback 206 healthy 13:20 -> 20m;
    #            mean 54m30s.
    assert dev.restore_times == (89 * M, 20 * M)
    assert dev.mean_time_to_restore == 54.5 * M
    assert dev.open_incidents == 0


def test_development_previous_7_days_and_30_days() -> None:
    before = env(figures(7, previous=True), "development")
    # 200: c0a 11-19 12:05, c0 11-20 11:05 -> 11-20 12:05 = 24h, 1h (base: 199's cz)
    assert (before.deployments, sorted(before.lead_times)) == (1, [1 * H, 24 * H])
    assert before.lead_time_median == 12.5 * H and before.lead_time_p90 == 24 * H
    assert (before.changes_failed, before.changes_with_verdict, before.incidents) == (0, 1, 0)
    month = env(figures(30), "development")
    # 30d: 200..205 -> 5 deployments, 8 lead times [30m,45m,1h,1h,2h,2h30m,4h,24h]
    assert month.deployments == 5
    assert month.lead_time_median == 1.5 * H and month.lead_time_p90 == 24 * H  # rank 8 of 8
    assert (month.changes_failed, month.changes_with_verdict) == (2, 6)
    # 199 is the first deployment read: only its own commit cz (09:00 -> 10:00) counts.
    first = env(figures(30, previous=True), "development")
    assert (first.deployments, first.lead_times) == (1, (1 * H,))


def test_staging_counts_only_releases_that_ran_and_ends_incidents_at_the_restore() -> None:
    staging = env(figures(7), "staging")
    # 401 was rejected at approval (queued -> error "not deployed"), 402 cancelled while
    # waiting (queued -> inactive): neither ran, so neither is a change nor an incident.
    # Changes: 403 success, 404 canary aborted, 405 rolled back in its job, 406 success.
    assert (staging.changes_failed, staging.changes_with_verdict) == (2, 4)
    assert staging.deployments == 2
    # 404: job started 11-26 12:01, canary abort put traffic back on stable at 12:13 -> 12m;
    # 405: started 14:01, rolled back to a healthy stable version at 14:31 -> 30m. The next
    # healthy release (406, 11-27 10:20) would have made them ~22h and ~20h.
    assert staging.restore_times == (12 * M, 30 * M)
    assert staging.open_incidents == 0
    # Lead times: 403 (first read: its commit c4 11-24 09:45 -> 11-25 09:30) = 23h45m;
    # 406 brought c5 (11-26 11:15 -> 11-27 10:20) = 23h05m.
    assert sorted(staging.lead_times) == [23 * H + 5 * M, 23 * H + 45 * M]


def test_a_failed_rollback_restores_nothing() -> None:
    status = {"created_at": "2026-11-26T14:31:00Z", "state": "failure"}
    record = {
        "id": 9,
        "sha": "a" * 40,
        "environment": "staging",
        "created_at": "2026-11-26T14:00:00Z",
        "payload": {"digest": "sha256:" + "d" * 64},
    }
    started = {"created_at": "2026-11-26T14:01:00Z", "state": "in_progress"}
    not_healthy = "health check failed; the rollback to ghcr.io/a@sha256:1 is not healthy"
    broken = Deployment.from_json(record, [started, {**status, "description": not_healthy}])
    window = compute.Window(7, END)
    figures = compute.delivery_figures([broken], "staging", window, {})
    assert (figures.incidents, figures.restore_times) == (1, ())
    restored = Deployment.from_json(
        record, [started, {**status, "description": "health check failed: rolled back to x"}]
    )
    figures = compute.delivery_figures([restored], "staging", window, {})
    assert figures.restore_times == (30 * M,)


def test_an_incident_starts_when_the_failing_run_started_not_at_the_first_deploy() -> None:
    # A canary promoted to success, then a later abort run of the same deployment
    # (in_progress again) that put traffic back on stable: broken from 11:00 to 11:05 only.
    record = {
        "id": 9,
        "sha": "a" * 40,
        "environment": "production",
        "created_at": "2026-11-26T09:00:00Z",
        "payload": {"digest": "sha256:" + "d" * 64},
    }
    statuses: list[Mapping[str, Any]] = [
        {"state": "in_progress", "created_at": "2026-11-26T09:01:00Z"},
        {"state": "success", "created_at": "2026-11-26T10:00:00Z"},
        {"state": "in_progress", "created_at": "2026-11-26T11:00:00Z"},
        {
            "state": "failure",
            "created_at": "2026-11-26T11:05:00Z",
            "description": "aborted by a person; traffic on the stable version",
        },
    ]
    d = Deployment.from_json(record, statuses)
    figures = compute.delivery_figures([d], "production", compute.Window(7, END), {})
    assert figures.restore_times == (5 * M,)
    assert (figures.changes_failed, figures.changes_with_verdict) == (1, 1)


def test_production_has_an_open_incident() -> None:
    prod = env(figures(7), "production")
    # 301: first prod deployment read -> its commit c4 (11-24 09:45) to 11-27 09:30 = 3d - 15m
    assert prod.lead_times == (3 * 24 * H - 15 * M,)
    # 302 ended in error: 1 failed of 2; the incident it started has not ended.
    assert (prod.changes_failed, prod.changes_with_verdict) == (1, 2)
    assert (prod.incidents, prod.restore_times, prod.mean_time_to_restore) == (1, (), None)
    staging = env(figures(7, previous=True), "staging")
    assert staging.deployments == 0
    assert staging.lead_time_median is None and staging.change_failure_rate is None


@pytest.mark.parametrize(
    ("band", "value", "expected"),
    [
        (dora.frequency, 1.0, "elite"),
        (dora.frequency, 0.99, "high"),
        (dora.frequency, 1 / 7, "high"),
        (dora.frequency, 1 / 8, "medium"),
        (dora.frequency, 1 / 30, "medium"),
        (dora.frequency, 0.0, "low"),
        (dora.lead_time, 23.9 * H, "elite"),
        (dora.lead_time, 24 * H, "high"),
        (dora.lead_time, 7 * 24 * H + 1, "medium"),
        (dora.lead_time, 31 * 24 * H, "low"),
        (dora.change_failure, 0.05, "elite"),
        (dora.change_failure, 0.06, "high"),
        (dora.change_failure, 0.20, "high"),
        (dora.change_failure, 0.21, "low"),
        (dora.recovery, 59 * M, "elite"),
        (dora.recovery, 1 * H, "high"),
        (dora.recovery, 24 * H, "low"),
    ],
)
def test_dora_band_thresholds(band: Any, value: float, expected: str) -> None:
    assert band(value) == expected


def test_percentiles_by_nearest_rank() -> None:
    assert compute.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 90) == 5.0
    assert compute.percentile(list(map(float, range(1, 11))), 90) == 9.0
    assert compute.percentile([], 90) is None
    assert compute.median([1.0, 2.0, 3.0, 10.0]) == 2.5


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


@cache
def measured() -> tuple[str, str]:
    result = measure(
        source.Repository(source.client("t0ken", transport=RecordedGitHub()), REPOSITORY),
        OPTIONS,
    )
    return result.markdown, result.exposition


def _row(markdown: str, section: str, label: str, occurrence: int = 0) -> list[str]:
    """Cells of the row ``label`` in the n-th table under heading ``section``."""
    blocks = markdown.split(f"### {section}\n")
    lines = blocks[occurrence + 1].split("\n### ")[0].splitlines()
    row = next(line for line in lines if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_summary_tables_show_values_and_trend() -> None:
    md, _ = measured()
    assert md.startswith("# Delivery metrics: acme/webshop\n")
    assert "## Last 7 days, compared with the 7 days before" in md
    assert "## Last 30 days, compared with the 30 days before" in md
    repo7 = "Repository (ci.yml on develop)"
    assert _row(md, repo7, "Build success rate") == [
        "Build success rate",
        "83.3% (5/6, 2 re-run)",
        "33.3% (1/3)",
        "↑ better",
    ]
    assert _row(md, repo7, "Test coverage (lines)")[1:] == [
        "76.9% (1000/1300 lines)",
        "70.0% (700/1000 lines)",
        "↑ better",
    ]
    # The last column is the DORA band of the figure now (delivery_metrics/dora.py).
    assert _row(md, "development", "Deployments")[1:] == [
        "4 (0.57/day)",
        "1 (0.14/day)",
        "↑ better",
        "high",  # 0.57 a day: at least weekly, not daily
    ]
    assert _row(md, "development", "Lead time for changes, median")[1:] == [
        "1h 30m",
        "12h 30m",
        "↓ better",
        "elite",  # under a day
    ]
    assert _row(md, "development", "Change failure rate")[1:] == [
        "40.0% (2/5)",
        "0.0% (0/1)",
        "↑ worse",
        "low",  # above 20%
    ]
    assert _row(md, "development", "Mean time to restore")[1:] == [
        "54m (2 restored)",
        "- (no incidents)",
        "-",
        "elite",  # under an hour
    ]
    assert _row(md, "staging", "Mean time to restore")[1:] == [
        "21m (2 restored)",
        "- (no incidents)",
        "-",
        "elite",
    ]
    assert _row(md, "development", "Lead time for changes, p90")[4] == "-"  # banded by median
    assert "Accelerate State of DevOps Report 2024" in md
    assert _row(md, "production", "Mean time to restore")[1] == "- (0 restored, 1 open)"
    assert _row(md, "production", "Lead time for changes, p90")[1] == "2d 23h"
    assert _row(md, "development", "Lead time for changes, p90", occurrence=1)[1] == "1d 0h"


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_exposition_values() -> None:
    _, text = measured()
    samples = _samples(text)
    assert samples['delivery_build_success_ratio{window="7d"}'] == pytest.approx(5 / 6)
    assert samples['delivery_test_coverage_ratio{window="30d"}'] == pytest.approx(1000 / 1300)
    dev7 = '{environment="development",window="7d"}'
    assert samples[f"delivery_deployments{dev7}"] == 4
    assert samples[f"delivery_lead_time_median_seconds{dev7}"] == 5400
    assert samples[f"delivery_lead_time_p90_seconds{dev7}"] == 14400
    assert samples[f"delivery_change_failure_ratio{dev7}"] == pytest.approx(0.4)
    assert samples[f"delivery_time_to_restore_mean_seconds{dev7}"] == 3270
    # No data is no sample: staging had no lead time before, production no restore yet.
    assert 'delivery_lead_time_median_seconds{environment="staging",window="7d"}' in samples
    assert (
        'delivery_time_to_restore_mean_seconds{environment="production",window="7d"}' not in samples
    )
    assert samples['delivery_incidents{environment="production",window="7d"}'] == 1
    assert samples["delivery_metrics_generated_timestamp_seconds"] == END.timestamp()
    assert text.endswith("# EOF\n")


def promtool() -> str:
    """promtool (Debian's prometheus package, which make test and make check install)."""
    return real_tool("promtool", install="apt-get install -y prometheus")


def test_promtool_accepts_the_exposition() -> None:
    tool = promtool()
    _, text = measured()
    checked = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""
    # The check can fail: a counter-style name on a gauge is reported.
    bad = text.replace("delivery_incidents", "delivery_incidents_total")
    rejected = subprocess.run(
        [tool, "check", "metrics"], input=bad, capture_output=True, text=True, check=False
    )
    assert rejected.returncode != 0 and "_total" in rejected.stdout + rejected.stderr


def test_push_replaces_the_repository_group_on_the_pushgateway() -> None:
    transport = RecordedGitHub()
    source.push(
        "https://pushgateway.acme.example/", REPOSITORY, "x 1\n# EOF\n", transport=transport
    )
    (request,) = transport.pushed
    assert request.method == "PUT"
    # base64url("acme/webshop") = YWNtZS93ZWJzaG9w
    assert str(request.url) == (
        "https://pushgateway.acme.example/metrics/job/delivery_metrics/repository@base64/YWNtZS93ZWJzaG9w"
    )
    assert request.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert request.content == b"x 1\n# EOF\n"


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------

ARGS: Final = [
    "--repository",
    REPOSITORY,
    "--branch",
    "develop",
    *[arg for e in ENVIRONMENTS for arg in ("--environment", e)],
    "--now",
    "2026-11-29T00:00:00Z",
]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    yield


def test_command_writes_summary_metrics_and_pushes(
    tmp_path: Path, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    transport = RecordedGitHub()
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code = main(
        [
            *ARGS,
            "--summary",
            str(summary),
            "--metrics-out",
            str(tmp_path / "m.prom"),
            "--pushgateway",
            "http://pushgateway:9091",
        ],
        transport=transport,
    )
    assert code == 0
    md, text = measured()
    assert summary.read_text() == "earlier step\n" + md + "\n"  # appended, not overwritten
    assert (tmp_path / "m.prom").read_text() == text
    assert [r.content.decode() for r in transport.pushed] == [text]
    assert "t0ken" not in capsys.readouterr().out


def test_command_fails_in_one_line_when_github_refuses(
    token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(ARGS, transport=RecordedGitHub({"deployments-production-page1": 404}))
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("delivery_metrics: ")


def test_command_needs_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main(ARGS, transport=RecordedGitHub()) == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err


@pytest.mark.subprocess
def test_package_runs_standalone_without_pulumi_or_components(tmp_path: Path) -> None:
    package = Path(__file__).parent.parent / "delivery_metrics"
    shutil.copytree(
        package, tmp_path / "delivery_metrics", ignore=shutil.ignore_patterns("__pycache__")
    )
    probe = (
        "import sys, delivery_metrics.__main__, delivery_metrics.source\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', 'components'})\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# Never lost: the push is the last step, and best effort
# --------------------------------------------------------------------------------------------


class DeadGateway(RecordedGitHub):
    """GitHub answers from the recordings; the Pushgateway is down (connection refused)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


def test_a_dead_gateway_still_writes_the_summary_and_the_job_stays_green(
    tmp_path: Path, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    summary, exposition = tmp_path / "summary.md", tmp_path / "m.prom"
    code = main(
        [
            *ARGS,
            *("--summary", str(summary), "--metrics-out", str(exposition)),
            *("--pushgateway", "http://pushgateway:9091"),
        ],
        transport=DeadGateway(),
    )
    assert code == 0
    md, text = measured()
    assert summary.read_text() == md + "\n"
    assert exposition.read_text() == text
    err = capsys.readouterr().err
    assert "::warning title=delivery metrics::figures not pushed (ConnectError" in err


@pytest.mark.parametrize(
    ("kind", "credentials", "header"),
    [
        ("bearer", "s3cret-token", "Bearer s3cret-token"),
        ("basic", "metrics:pa55", "Basic bWV0cmljczpwYTU1"),  # base64("metrics:pa55")
    ],
)
def test_the_push_sends_the_gateway_credentials_and_never_prints_them(
    kind: str,
    credentials: str,
    header: str,
    token: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PUSHGATEWAY_CREDENTIALS", credentials)
    transport = RecordedGitHub()
    code = main(
        [*ARGS, "--pushgateway", "https://gw.example", "--pushgateway-auth", kind],
        transport=transport,
    )
    assert code == 0
    (pushed,) = transport.pushed
    assert pushed.headers["authorization"] == header
    out = capsys.readouterr()
    assert credentials not in out.out + out.err


def test_gateway_auth_without_credentials_is_one_line(
    token: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PUSHGATEWAY_CREDENTIALS", raising=False)
    code = main([*ARGS, "--pushgateway", "https://gw", "--pushgateway-auth", "bearer"])
    assert code == 1
    assert capsys.readouterr().err == (
        "delivery_metrics: ValueError: --pushgateway-auth bearer needs PUSHGATEWAY_CREDENTIALS\n"
    )


# --------------------------------------------------------------------------------------------
# Within the API budget
# --------------------------------------------------------------------------------------------


def test_a_busy_year_fits_the_budget_first_run_partial_then_incremental(tmp_path: Path) -> None:
    """20 deployments a day for a year (tests/github_year.py); one run a day, state kept.

    Without kept results every run needs about 2,400 requests for the 60 days the windows
    read (a statuses call and a compare per deployment): more than GITHUB_TOKEN's 1,000 an
    hour. Counts are printed by ``make bench``; here they are asserted, not timed.
    """
    runs = github_year.daily_runs(tmp_path / "state.json", days=5)
    assert all(r.exit_code == 0 for r in runs)
    first = runs[0]
    # It stops at the reserve (300 left for other workflows) with a partial report.
    assert first.partial and first.charged == github_year.HOURLY_LIMIT - 300
    # Kept results let the next runs continue where it stopped, until complete.
    done = next(r.day for r in runs if not r.partial)
    assert 1 <= done <= 3
    assert all(r.partial for r in runs[:done])
    # Afterwards only what is new is asked for: a day's 20 deployments' statuses and compares,
    # the lists, and conditional re-reads (free when unchanged).
    steady = runs[-1]
    assert not steady.partial and steady.charged <= 80, steady
    assert steady.not_modified > 0
    # What was kept adds up to the same figures as reading everything afresh, at the first
    # complete run, where a gap left by the partial runs would still be inside the span (the
    # summary holds the windows before too, so a deployment lost anywhere in it shows).
    first_complete = runs[done]
    assert (first_complete.summary, first_complete.exposition) == github_year.read_afresh(
        tmp_path, first_complete.day
    )


def test_kept_results_of_another_version_or_repository_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = State("acme/webshop", commits={"-...a": [["a", "2026-01-01T00:00:00Z"]]})
    state.used.add("c:-...a")
    state.save(path)
    assert State.load(path, "acme/webshop").commits == {"-...a": [["a", "2026-01-01T00:00:00Z"]]}
    assert State.load(path, "acme/other").note.endswith("is for 'acme/webshop'")
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "version": STATE_VERSION + 1}))
    bumped = State.load(path, "acme/webshop")
    assert bumped.commits == {} and f"not {STATE_VERSION}" in bumped.note
    path.write_text("{not json")
    assert State.load(path, "acme/webshop").note.endswith("could not be read (JSONDecodeError)")


def test_a_second_run_reads_no_settled_deployment_again(tmp_path: Path, token: None) -> None:
    state = tmp_path / "state.json"
    first = RecordedGitHub()
    assert main([*ARGS, "--state", str(state)], transport=first) == 0
    second = RecordedGitHub()
    assert main([*ARGS, "--state", str(state)], transport=second) == 0
    asked = {name for name in second.used if name.startswith("statuses-")}
    # Only the deployments after which no newer release has run are asked again (a later
    # status may still come): 206 and 207 in development (207 never ran), 302 and 406. Every
    # deployment with a final state and a newer release that ran comes from the state, and so
    # does every compared range and coverage summary.
    assert asked == {"statuses-206", "statuses-207", "statuses-302", "statuses-406"}, asked
    # CI runs are listed only from three days (re-runs) before the newest one kept.
    assert "runs-since-11-25" in second.used and "runs-page1" not in second.used
    assert not any(
        n.startswith(("compare-", "commit-", "artifacts-", "download-")) for n in second.used
    )
    # ... and the figures are the same as read afresh.
    out = main(
        [*ARGS, "--state", str(state), "--metrics-out", str(tmp_path / "m.prom")],
        transport=RecordedGitHub(),
    )
    assert out == 0 and (tmp_path / "m.prom").read_text() == measured()[1]


def test_a_spent_rate_limit_stops_early_with_a_partial_report(
    tmp_path: Path, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    class Limited(RecordedGitHub):
        """Each answer says how many requests are left: 5 to start with."""

        left = 5

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "GET":
                self.left -= 1
                response.headers["x-ratelimit-remaining"] = str(self.left)
            return response

    transport = Limited()
    summary = tmp_path / "summary.md"
    code = main(
        [
            *ARGS,
            "--summary",
            str(summary),
            "--rate-limit-reserve",
            "2",
            "--pushgateway",
            "http://gw",
        ],
        transport=transport,
    )
    assert code == 0
    # runs page 1 (4 left), page 2 (3 left), development page 1 (2 left: at the reserve): stop.
    assert len(transport.used) == 3
    text = summary.read_text()
    assert (
        "> [!WARNING]\n> Partial report, not pushed: stopped early: x-ratelimit-remaining is 2"
        in text
    )
    assert transport.pushed == []
    assert "::warning title=delivery metrics::partial report, not pushed" in capsys.readouterr().err
