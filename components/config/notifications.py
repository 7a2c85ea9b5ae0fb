"""``cicd:pipeline.notifications``: which events go to which channels, and reading them in a
later stage.

The first stage (the stack that owns the shared pipeline and its repository secrets) holds the
routes for the whole project: the channels' webhooks are repository secrets it writes, and every
stage's deploy workflow reads them. Three ways to write the section:

- the earlier keys, ``discord: true`` and ``slack: true`` (the default): build results and the
  first stage's deploy result to Discord, security findings to Slack, nothing else; the
  shipped stacks render as they always did;
- ``channels: [slack]``: every event to these channels ("Slack only" is this one line);
- ``routes: [{events: [deploy, rollback], channels: [teams, email]}, ...]``: each event to the
  channels of every route that names it (``events`` left out: every event).

Mixing the earlier keys with ``channels``/``routes``, or ``channels`` with ``routes``, is a
config error: a reader could not tell which one wins.

A later stage's stack has no ``cicd:pipeline`` section; :func:`first_stage_notifications` reads
the first stage's section from its stack file beside this one (untrusted input, parsed as
render/stackfile.py parses every stack file, through components/config/siblings.py).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.config.fields import ConfigModel, matches
from components.config.problems import Problem, problems_from
from components.config.siblings import SiblingError, read_section


class Event(StrEnum):
    """What a notification is about."""

    BUILD = "build"
    """CI's result on the default branch (ci.yml) and a release's (release.yml)."""
    DEPLOY = "deploy"
    """A deploy workflow's result, in every stage."""
    APPROVAL = "approval"
    """A dispatched stage's deployment waits for its reviewers."""
    SECURITY = "security"
    """A scan found something: CI's scans, release.yml's, staging's, the daily rescan."""
    ROLLBACK = "rollback"
    """A health check failed after promotion and the release was rolled back, or a canary this
    run started was aborted."""


class ChannelName(StrEnum):
    """Where a notification goes."""

    DISCORD = "discord"
    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"


CHANNEL_SECRET_KEY: Final = {
    ChannelName.DISCORD: "discordWebhookUrl",
    ChannelName.SLACK: "slackWebhookUrl",
    ChannelName.TEAMS: "teamsWebhookUrl",
    ChannelName.EMAIL: "smtpCredentials",
}
"""The secret config key each channel needs (required only while a route uses the channel)."""

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`|~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_SMTP_URL = re.compile(r"^smtps?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")

EmailAddress = Annotated[
    str, AfterValidator(matches(_EMAIL, "must be an e-mail address such as ops@example.com"))
]
SmtpUrl = Annotated[
    str,
    AfterValidator(
        matches(
            _SMTP_URL,
            "must be smtps://HOST[:PORT] (TLS from the start) or smtp://HOST[:PORT] "
            "(STARTTLS, required)",
        )
    ),
]


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ValueError("must name at least one")
    repeated = sorted({str(value) for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"names {', '.join(repeated)} more than once")
    return values


def _nonempty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ValueError("must hold at least one route")
    return values


class Route(ConfigModel):
    """Some events to some channels."""

    events: Annotated[tuple[Event, ...], AfterValidator(_unique)] = Field(
        default=tuple(Event),
        description="build, deploy, approval, security, rollback. Default: every event.",
    )
    channels: Annotated[tuple[ChannelName, ...], AfterValidator(_unique)] = Field(
        description="discord, slack, teams, email."
    )


class EmailSettings(ConfigModel):
    """E-mail through an SMTP server (curl's SMTP client, TLS required).

    The SMTP login is the secret ``cicd:smtpCredentials`` (``user:password``; repository secret
    SMTP_CREDENTIALS)."""

    to: Annotated[tuple[EmailAddress, ...], AfterValidator(_unique)] = Field(
        max_length=20,
        description="Recipients, e.g. the reviewers' addresses (GitHub's own approval e-mail "
        "goes only to the required reviewers and says nothing about results; "
        "docs/notifications.md). 1 to 20.",
    )
    sender: EmailAddress = Field(description="The From: address the SMTP server accepts.")
    smtp_server: SmtpUrl = Field(
        description="smtps://HOST[:PORT] (TLS from the start, port 465 by default) or "
        "smtp://HOST[:PORT] (STARTTLS, which the step requires)."
    )


class NotificationsConfig(ConfigModel):
    """Which events go to which channels (first stage only; every stage follows it)."""

    discord: bool | None = Field(
        default=None,
        description="Earlier form: build status (and the first stage's deploy result) to "
        "Discord; needs cicd:discordWebhookUrl. Default true unless channels or routes are set.",
    )
    slack: bool | None = Field(
        default=None,
        description="Earlier form: security alerts to Slack; needs cicd:slackWebhookUrl. "
        "Default true unless channels or routes are set.",
    )
    channels: Annotated[tuple[ChannelName, ...], AfterValidator(_unique)] | None = Field(
        default=None,
        description="Every event to these channels: discord, slack, teams, email "
        "(e.g. [slack] for Slack only).",
    )
    routes: Annotated[tuple[Route, ...], AfterValidator(_nonempty)] | None = Field(
        default=None,
        description="Events to channels, route by route: [{events: [deploy, rollback], "
        "channels: [teams, email]}]; an event no route names is sent nowhere.",
    )
    email: EmailSettings | None = Field(
        default=None, description="Recipients and SMTP server; required when a route uses email."
    )

    @model_validator(mode="after")
    def _one_form(self) -> NotificationsConfig:
        earlier = [key for key in ("discord", "slack") if getattr(self, key) is not None]
        newer = [key for key in ("channels", "routes") if getattr(self, key) is not None]
        if earlier and newer:
            raise ValueError(
                f"mixes {' and '.join(earlier)} (the earlier form) with {' and '.join(newer)}: "
                f"write every event's channels with {newer[0]} and remove {', '.join(earlier)}"
            )
        if len(newer) == 2:
            raise ValueError(
                "has both channels (every event) and routes: keep one (channels: [x] is "
                "routes: [{channels: [x]}])"
            )
        uses_email = ChannelName.EMAIL in self.used_channels
        if uses_email and self.email is None:
            raise ValueError(
                "routes events to email but has no email settings (email: {to, sender, smtpServer})"
            )
        if self.email is not None and not uses_email:
            raise ValueError("has email settings but no route sends e-mail: remove email or route")
        return self

    @property
    def legacy(self) -> bool:
        """Whether the section uses the earlier form (discord/slack switches, or nothing)."""
        return self.channels is None and self.routes is None

    @property
    def route_list(self) -> tuple[Route, ...]:
        """The routes, whatever form the section uses (the earlier form as routes)."""
        if self.routes is not None:
            return self.routes
        if self.channels is not None:
            return (Route(channels=self.channels),)
        routes: list[Route] = []
        if self.discord is not False:
            routes.append(
                Route(events=(Event.BUILD, Event.DEPLOY), channels=(ChannelName.DISCORD,))
            )
        if self.slack is not False:
            routes.append(Route(events=(Event.SECURITY,), channels=(ChannelName.SLACK,)))
        return tuple(routes)

    def channels_for(self, event: Event) -> tuple[ChannelName, ...]:
        """The channels ``event`` goes to, in the order the routes first name them."""
        found: list[ChannelName] = []
        for route in self.route_list:
            if event in route.events:
                found.extend(channel for channel in route.channels if channel not in found)
        return tuple(found)

    @property
    def used_channels(self) -> tuple[ChannelName, ...]:
        """Every channel some event goes to (their secrets are required)."""
        return tuple(
            channel
            for channel in ChannelName
            if any(channel in route.channels for route in self.route_list)
        )

    def why_needed(self, channel: ChannelName) -> str:
        """Why the channel's secret is required, in the words of the stack file."""
        if self.legacy:
            return f"pipeline.notifications.{channel.value} is true"
        events = [event.value for event in Event if channel in self.channels_for(event)]
        return f"pipeline.notifications sends {', '.join(events)} to {channel.value}"


# --------------------------------------------------------------------------------------------
# A later stage: the first stage's routes, from its stack file beside this one
# --------------------------------------------------------------------------------------------

SECTION_PATH: Final = "pipeline.notifications"


def first_stage_notifications(
    own: NotificationsConfig | None, first: str, directory: Path
) -> tuple[NotificationsConfig | None, Problem | None]:
    """The routes every stage follows: this stack's own where it holds ``cicd:pipeline`` (the
    first stage), else the first stage's, read from its stack file ``Pulumi.<first>.yaml`` in
    ``directory`` (components/config/siblings.py, untrusted input). An unreadable first stage,
    or a bad section there, is one problem (under ``pipeline.notifications``)."""
    if own is not None:  # only the first stage holds cicd:pipeline
        return own, None
    try:
        pipeline = read_section(directory, first, "pipeline")
    except SiblingError as err:
        return None, Problem(SECTION_PATH, f"of the first stage cannot be read: {err}")
    section = pipeline.get("notifications", {}) if pipeline is not None else {}
    try:
        return NotificationsConfig.model_validate(section), None
    except ValidationError as err:
        (wrong, *_) = problems_from(err, NotificationsConfig)
        where = f"{SECTION_PATH}.{wrong.path}" if wrong.path else SECTION_PATH
        got = f" (got {wrong.got})" if wrong.got is not None else ""
        return None, Problem(
            SECTION_PATH,
            f"of the first stage is wrong in Pulumi.{first}.yaml: cicd:{where} "
            f"{wrong.message}{got}",
        )
