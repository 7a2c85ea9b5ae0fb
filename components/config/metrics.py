"""Section ``cicd:metrics``: delivery metrics pushed by the pipeline, and their dashboard."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import ConfigModel, DnsLabel, HttpUrl, Slug, between, matches

_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class GrafanaDashboardConfig(ConfigModel):
    """The delivery-metrics dashboard as a ConfigMap for the Grafana sidecar."""

    enabled: bool = Field(
        default=False,
        description='Ship the dashboard ConfigMap (label grafana_dashboard: "1"). Default '
        "false. It belongs with Grafana in the platform stack; dev holds it until it moves.",
    )
    namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace the Grafana sidecar watches. Default monitoring.",
    )
    folder: str | None = Field(
        default=None,
        description="Grafana folder (the sidecar's grafana_folder annotation); null: the "
        "sidecar's default folder.",
    )


class MetricsConfig(ConfigModel):
    """Delivery metrics job (``cicd:metrics``; dev stack only, which owns the shared files)."""

    enabled: bool = Field(
        default=False,
        description="Commit metrics.yml and the delivery_metrics package. Default false.",
    )
    schedule: Annotated[
        str, AfterValidator(matches(_CRON, "must be a cron expression of five fields"))
    ] = Field(default="17 6 * * *", description="When the job runs (UTC cron). Default 06:17.")
    pushgateway_url: HttpUrl | None = Field(
        default=None,
        description="Prometheus Pushgateway base URL; the figures are pushed there when set.",
    )
    windows: tuple[Annotated[int, AfterValidator(between(1, 90))], ...] = Field(
        default=(7, 30), description="Window lengths in days, each compared with the one before."
    )
    environments: tuple[Slug, ...] = Field(
        default=("development", "staging", "production"),
        description="GitHub environments whose deployments are measured.",
    )
    grafana_dashboard: GrafanaDashboardConfig = Field(
        default=GrafanaDashboardConfig(), description="Grafana dashboard ConfigMap."
    )
