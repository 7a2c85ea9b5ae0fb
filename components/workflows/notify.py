"""Notifications, one way for every workflow: the steps here are the only ones that talk to
Discord, Slack, Microsoft Teams or an SMTP server.

What goes where is :class:`Routes` (config: ``cicd:pipeline.notifications`` of the first stage,
docs/notifications.md): an event (build, deploy, approval, security, rollback) goes to each of
its channels, one step per channel, so one channel's outage never hides another's message.

Decisions:

- A script per payload shape: scripts/notify.sh for Discord and Slack (``content`` and
  ``text``), notify_teams.sh for a Teams Workflows webhook (a message whose one attachment is an
  Adaptive Card), notify_email.sh for e-mail (curl's SMTP client, TLS required, the login on
  curl's stdin). Each is ``curl`` of what ``jq`` built; no marketplace action, so the same
  behaviour holds everywhere and the executed pipeline tests exercise it with the fake ``curl``.
- Never fatal: a missing secret (Dependabot and fork runs get none) or a failing channel is a
  visible ``::warning::`` and the step succeeds, so a notifier's outage never turns a green
  build or deploy red (a red dev-deploy would hide a deploy that did happen).
- The message is a :func:`~components.workflows.model.template` built by the caller from
  expressions over trusted run context; it reaches the script as an environment variable, never
  as script text. E-mail addresses and the SMTP server come from validated config.
- The earlier form (``discord``/``slack`` switches, :attr:`Routes.legacy`) keeps the routing it
  always had: build results and the first stage's deploy result to Discord, security findings to
  Slack; later stages then send no deploy, approval or rollback notes (their files unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from components.workflows.common import run, script
from components.workflows.contract import secret
from components.workflows.model import Expr, Step


class Channel(StrEnum):
    """Where a notification goes; the value is the name used in step names and messages."""

    DISCORD = "Discord"
    SLACK = "Slack"
    TEAMS = "Teams"
    EMAIL = "E-mail"


class Event(StrEnum):
    """What a notification is about (config: components/config/notifications.py)."""

    BUILD = "build"
    DEPLOY = "deploy"
    APPROVAL = "approval"
    SECURITY = "security"
    ROLLBACK = "rollback"


WEBHOOK_SECRET: Final = {
    Channel.DISCORD: "DISCORD_WEBHOOK_URL",
    Channel.SLACK: "SLACK_WEBHOOK_URL",
    Channel.TEAMS: "TEAMS_WEBHOOK_URL",
}
"""The repository secret holding each webhook channel's URL (written by the first stage)."""

_SCRIPT: Final = {Channel.TEAMS: "notify_teams.sh", Channel.EMAIL: "notify_email.sh"}
"""Channels with a script of their own; Discord and Slack share notify.sh."""

SMTP_SECRET: Final = "SMTP_CREDENTIALS"
"""The repository secret holding the SMTP login, ``user:password`` (written by the first stage)."""


@dataclass(frozen=True)
class Email:
    """E-mail through an SMTP server: recipients, sender, ``smtps://`` or ``smtp://`` URL."""

    to: tuple[str, ...]
    sender: str
    smtp_url: str


@dataclass(frozen=True)
class Routes:
    """Which channels each event goes to."""

    by_event: Mapping[Event, tuple[Channel, ...]]
    legacy: bool = False
    """The earlier form: only the first stage's deploy result is sent (module docstring)."""
    email: Email | None = None
    """Where e-mail goes; present whenever some event goes to :attr:`Channel.EMAIL`."""

    def channels(self, event: Event, first_stage: bool = True) -> tuple[Channel, ...]:
        """The channels of ``event``; in the earlier form a later stage sends only security
        findings."""
        if self.legacy and not first_stage and event is not Event.SECURITY:
            return ()
        return self.by_event.get(event, ())


LEGACY_ROUTES: Final = Routes(
    by_event={
        Event.BUILD: (Channel.DISCORD,),
        Event.DEPLOY: (Channel.DISCORD,),
        Event.SECURITY: (Channel.SLACK,),
    },
    legacy=True,
)
"""``discord: true, slack: true`` (the default): what every stack rendered before routes."""


def notify(name: str, channel: Channel, message: str | Expr, email: Email | None = None) -> Step:
    """A step that sends ``message`` to ``channel``; never fails the job (see the module)."""
    if channel is not Channel.EMAIL:
        env = {
            "CHANNEL": channel.value,
            "WEBHOOK_URL": secret(WEBHOOK_SECRET[channel]),
            "MESSAGE": message,
        }
    elif email is None:
        raise ValueError("an e-mail step needs the e-mail settings (Routes.email)")
    else:
        env = {
            "CHANNEL": channel.value,
            "SMTP_URL": email.smtp_url,
            "MAIL_FROM": email.sender,
            "MAIL_TO": " ".join(email.to),
            "SMTP_CREDENTIALS": secret(SMTP_SECRET),
            "MESSAGE": message,
        }
    return run(name, script(_SCRIPT.get(channel, "notify.sh")), env)


def notify_steps(
    routes: Routes, event: Event, what: str, message: str | Expr, first_stage: bool = True
) -> tuple[Step, ...]:
    """One step per channel of ``event``, each named ``<what> to <channel>``."""
    return tuple(
        notify(f"{what} to {channel.value}", channel, message, routes.email)
        for channel in routes.channels(event, first_stage)
    )
