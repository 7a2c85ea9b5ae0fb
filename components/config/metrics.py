"""Section ``cicd:metrics``: delivery metrics computed by the pipeline (the dashboard is the
platform stack's: ``cicd-platform:deliveryDashboards``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import ConfigModel, HttpUrl, Slug, between, matches

_CRON = re.compile(r"^(\S+\s+){4}\S+$")


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
