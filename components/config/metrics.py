"""Section ``cicd:metrics``: delivery metrics computed by the pipeline (the dashboard is the
platform stack's: ``cicd-platform:deliveryDashboards``)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    Tag,
)

from components.config.fields import ConfigModel, HttpUrl, Slug, between, matches
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched

_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class PushgatewayAuth(StrEnum):
    """How the job authenticates to the Pushgateway (its own basic auth, or a proxy in front of it)."""

    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"


class MetricsSettings(ConfigModel):
    """What the delivery metrics job measures and when; every setting has a default."""

    schedule: Annotated[
        str, AfterValidator(matches(_CRON, "must be a cron expression of five fields"))
    ] = Field(default="17 6 * * *", description="When the job runs (UTC cron). Default 06:17.")
    pushgateway_url: HttpUrl | None = Field(
        default=None,
        description="Prometheus Pushgateway base URL; the figures are pushed there when set.",
    )
    windows: tuple[Annotated[int, AfterValidator(between(1, 90))], ...] = Field(
        default=(7, 30),
        description="Window lengths in days (1..90, distinct), each compared with the one before.",
    )
    pushgateway_auth: PushgatewayAuth = Field(
        default=PushgatewayAuth.NONE,
        description="Credentials sent to the Pushgateway: none, bearer (Authorization: Bearer "
        "<cicd:pushgatewayCredentials>) or basic (cicd:pushgatewayCredentials as user:password). "
        "Default none. The value goes to the repository secret PUSHGATEWAY_CREDENTIALS, read "
        "only by metrics.yml.",
    )
    rate_limit_reserve: Annotated[int, AfterValidator(between(0, 900))] = Field(
        default=300,
        description="GitHub API requests (x-ratelimit-remaining) the job leaves to the "
        "repository's other workflows (GITHUB_TOKEN: 1,000 an hour): it stops there with a "
        "partial report. 0..900, default 300.",
    )
    environments: tuple[Slug, ...] | None = Field(
        default=None,
        description="GitHub environments whose deployments are measured. Default: the GitHub environments of every stage of the chain, "
        "first to last (read from the stack files).",
    )


_ENABLED = "Commit metrics.yml and the delivery_metrics package. Default false."


class MetricsOn(MetricsSettings):
    """``cicd:metrics`` with ``enabled: true`` (first stage only, which owns the shared files)."""

    enabled: Annotated[bool, is_switched(True)] = Field(description=_ENABLED)


class MetricsOff(SwitchedOff):
    """``cicd:metrics`` absent or ``enabled: false``: no metrics workflow."""

    SWITCH = "enabled"
    enabled: Annotated[bool, is_switched(False)] = Field(default=False, description=_ENABLED)
    unused: MetricsSettings | None = Field(
        default=None, description="Metrics settings written while metrics are off (ignored)."
    )


MetricsConfig = Annotated[
    Annotated[MetricsOn, Tag(ON)] | Annotated[MetricsOff, Tag(OFF)],
    by_switch(MetricsOn, MetricsOff),
]
"""Delivery metrics job (``cicd:metrics``): :class:`MetricsOn` with its settings, or off."""
