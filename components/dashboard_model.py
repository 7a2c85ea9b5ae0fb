"""The delivery-metrics Grafana dashboard model, built with grafana-foundation-sdk's typed
builders (components/metrics_dashboard.py puts it in a ConfigMap).

A module of its own so that grafana-foundation-sdk (about 70 ms of imports) is loaded only by a
stack that declares the dashboard (a platform stack with ``cicd-platform:deliveryDashboards``), not by
every render (issue 14 item 8).
"""

from __future__ import annotations

import json
from typing import Final

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)

DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
SELECTOR: Final = 'repository="$repository", window="$window"'
ENV_SELECTOR: Final = SELECTOR + ', environment=~"$environment"'


def _query(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id("A").datasource(DATASOURCE)
    return query.legend_format(legend) if legend else query


def _thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def _stat(title: str, expr: str, unit: str, description: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr))
        .unit(unit)
        .height(5)
        .span(6)
    )


def _series(title: str, expr: str, unit: str, description: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, "{{environment}}"))
        .unit(unit)
        .height(8)
        .span(12)
    )


def _variable(name: str, label: str, query: str, multi: bool = False) -> dashboard.QueryVariable:
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    return variable.multi(True).include_all(True) if multi else variable


def build_dashboard(app: str) -> dashboard.Dashboard:
    """The dashboard builder (typed); :func:`dashboard_json` serialises it."""
    return (
        dashboard.Dashboard(f"Delivery metrics: {app}")
        .uid(f"delivery-metrics-{app}"[:40])
        .description("DORA metrics, build success rate and coverage from delivery_metrics.")
        .tags(["delivery", "dora", app])
        .time("now-90d", "now")
        .refresh("1h")
        .readonly()
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(
            _variable(
                "repository",
                "Repository",
                "label_values(delivery_metrics_generated_timestamp_seconds, repository)",
            )
        )
        .with_variable(_variable("window", "Window", "label_values(delivery_deployments, window)"))
        .with_variable(
            _variable(
                "environment",
                "Environment",
                'label_values(delivery_deployments{repository="$repository"}, environment)',
                multi=True,
            )
        )
        .with_row(dashboard.Row("Repository"))
        .with_panel(
            _stat(
                "Build success rate",
                f"delivery_build_success_ratio{{{SELECTOR}}}",
                "percentunit",
                "Completed CI runs on the default branch that passed (latest attempt).",
            ).thresholds(_thresholds((None, "red"), (0.8, "orange"), (0.95, "green")))
        )
        .with_panel(
            _stat(
                "Test coverage (lines)",
                f"delivery_test_coverage_ratio{{{SELECTOR}}}",
                "percentunit",
                "Line coverage of the newest successful CI run in the window.",
            )
        )
        .with_panel(
            _stat(
                "Builds re-run",
                f"delivery_builds_rerun{{{SELECTOR}}}",
                "none",
                "CI runs that needed more than one attempt: flaky tests show up here.",
            )
        )
        .with_panel(
            _stat(
                "Since the job last ran",
                'time() - delivery_metrics_generated_timestamp_seconds{repository="$repository"}',
                "s",
                "The figures are as old as this; over two days means metrics.yml stopped.",
            ).thresholds(_thresholds((None, "green"), (172_800, "red")))
        )
        .with_row(dashboard.Row("Per environment"))
        .with_panel(
            _series(
                "Deployments in the window",
                f"delivery_deployments{{{ENV_SELECTOR}}}",
                "none",
                "Successful change deployments (rollbacks excluded).",
            )
        )
        .with_panel(
            _series(
                "Lead time for changes, median",
                f"delivery_lead_time_median_seconds{{{ENV_SELECTOR}}}",
                "s",
                "Commit (committer date) to its first successful deployment.",
            )
        )
        .with_panel(
            _series(
                "Lead time for changes, p90",
                f"delivery_lead_time_p90_seconds{{{ENV_SELECTOR}}}",
                "s",
                "90th percentile, nearest rank.",
            )
        )
        .with_panel(
            _series(
                "Change failure rate",
                f"delivery_change_failure_ratio{{{ENV_SELECTOR}}}",
                "percentunit",
                "Change deployments that failed or were rolled back.",
            )
        )
        .with_panel(
            _series(
                "Mean time to restore",
                f"delivery_time_to_restore_mean_seconds{{{ENV_SELECTOR}}}",
                "s",
                "From a failure to the next successful deployment of that environment.",
            )
        )
        .with_panel(
            _series(
                "Incidents",
                f"delivery_incidents{{{ENV_SELECTOR}}}",
                "none",
                "Failures that began in the window (restored or still open).",
            )
        )
    )


def dashboard_json(app: str) -> str:
    """The dashboard model as Grafana imports it (stable key order, so renders diff cleanly)."""
    return json.dumps(build_dashboard(app).build(), cls=JSONEncoder, sort_keys=True, indent=2)
