"""``cicd:pipeline.rescan``: the scheduled rescan of the image digests the environments run.

On by default (first stage only, with the shared pipeline): rescan.yml scans, every day, the digest
each environment's newest healthy deployment runs, and tells the security channel only what is
new since its last run (components/workflows/rescan.py).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from components.config.fields import ConfigModel, Slug, TrivySeverity, matches

_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class AlertChannel(StrEnum):
    """Where rescan findings go (the webhook secret of that channel is the first stage's)."""

    SLACK = "slack"
    DISCORD = "discord"


WEBHOOK_KEY: Final = {
    AlertChannel.SLACK: "slackWebhookUrl",
    AlertChannel.DISCORD: "discordWebhookUrl",
}
"""The secret config key of each channel's webhook (required while the rescan posts there)."""


class RescanConfig(ConfigModel):
    """The rescan of running images; every setting has a default."""

    enabled: bool = Field(
        default=True,
        description="Commit rescan.yml, which rescans the digest each environment runs. "
        "Default true.",
    )
    schedule: Annotated[
        str, AfterValidator(matches(_CRON, "must be a cron expression of five fields"))
    ] = Field(
        default="41 5 * * *",
        description="When the rescan runs (UTC cron; GitHub runs schedules on the default "
        "branch only). Default daily at 05:41.",
    )
    severity: TrivySeverity | None = Field(
        default=None,
        description="Trivy severities reported. Default: CI's (pipeline.scanners.trivySeverity).",
    )
    channel: AlertChannel = Field(
        default=AlertChannel.SLACK,
        description="Where new findings go: slack (cicd:slackWebhookUrl, the security channel) "
        "or discord (cicd:discordWebhookUrl). Default slack. Only beside the earlier form of "
        "pipeline.notifications: with channels or routes, findings go where the security "
        "event goes, and setting this is a config error.",
    )
    environments: tuple[Slug, ...] | None = Field(
        default=None,
        min_length=1,
        description="GitHub environments whose running digest is rescanned (their deployment "
        "records name it). Default: the GitHub environments of every stage of the chain, "
        "first to last (read from the stack files).",
    )
