"""Notifications, one way for every workflow: :func:`notify` is the only step that talks to
Discord or Slack.

Decisions:

- One script (scripts/notify.sh) for both services: ``curl`` of a JSON payload built by ``jq``
  (Discord reads ``content``, Slack ``text``); no marketplace action, so the same behaviour
  holds everywhere and the executed pipeline tests exercise it with the fake ``curl``.
- Never fatal: a missing webhook secret (Dependabot and fork runs get none) or a failing webhook
  is a visible ``::warning::`` and the step succeeds, so a notifier's outage never turns a green
  build or deploy red (a red dev-deploy would hide a deploy that did happen).
- The message is a :func:`~components.workflows.model.template` built by the caller from
  expressions over trusted run context; it reaches the script as an environment variable, never
  as script text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from components.workflows.common import run, script
from components.workflows.contract import secret
from components.workflows.model import Expr, Step


class Channel(StrEnum):
    """Where a notification goes; the value is the name used in messages."""

    DISCORD = "Discord"
    SLACK = "Slack"


WEBHOOK_SECRET: Final = {
    Channel.DISCORD: "DISCORD_WEBHOOK_URL",
    Channel.SLACK: "SLACK_WEBHOOK_URL",
}
"""The repository secret holding each channel's webhook (written by the dev stack)."""


def notify(name: str, channel: Channel, message: str | Expr) -> Step:
    """A step that sends ``message`` to ``channel``; never fails the job (see the module)."""
    return run(
        name,
        script("notify.sh"),
        {
            "CHANNEL": channel.value,
            "WEBHOOK_URL": secret(WEBHOOK_SECRET[channel]),
            "MESSAGE": message,
        },
    )
