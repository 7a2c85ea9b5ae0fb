"""Notifications as routes (issue 26): events x channels from ``cicd:pipeline.notifications``.

Given a first stage's routes, when each stack renders, then every workflow sends each event to
exactly the channels its routes name; a later stage reads the routes from the first stage's
stack file; the earlier ``discord``/``slack`` switches keep today's routing; bad routes are one
line each. Executed scenarios (act, the fake curl): tests/pipeline/test_notify.py.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import loading
from components.config.notifications import (
    ChannelName,
    Event,
    NotificationsConfig,
    first_stage_notifications,
)
from components.stack import workflows_args
from components.workflows import model
from components.workflows.deploy import staging_workflow
from render.tree import tree
from tests import validators
from tests.conftest import DELETE, STACKS_DIR, config_problems, files, render_variant, variant
from tests.test_stack_mapping import sections

SLACK_ONLY: Final[dict[str, Any]] = {
    "cicd:pipeline.notifications": {"channels": ["slack"]},
    "cicd:discordWebhookUrl": DELETE,
}
"""The dev stack of the issue's globex/payments: Slack only, in one line."""

EMAIL: Final = {
    "to": ["reviewer@acme.example", "oncall@acme.example"],
    "sender": "ci@acme.example",
    "smtpServer": "smtps://smtp.acme.example:465",
}
ROUTED: Final[dict[str, Any]] = {
    "cicd:pipeline.notifications": {
        "routes": [
            {"events": ["build", "security"], "channels": ["slack"]},
            {"events": ["deploy", "rollback", "approval"], "channels": ["teams", "email"]},
        ],
        "email": EMAIL,
    },
    "cicd:discordWebhookUrl": DELETE,
    "cicd:teamsWebhookUrl": {"secure": "v1:dGVhbXM="},
    "cicd:smtpCredentials": {"secure": "v1:c210cA=="},
}


@pytest.fixture
def first_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory the later stages read the first stage's stack file from (instead of the
    project's), filled by :func:`write_dev`."""
    for stack in ("dev", "staging", "prod"):
        shutil.copy(STACKS_DIR / f"Pulumi.{stack}.yaml", tmp_path)
    monkeypatch.setattr(loading, "project_directory", lambda: tmp_path)
    yield tmp_path


def write_dev(directory: Path, changes: Mapping[str, Any]) -> None:
    text = yaml.safe_dump({"config": variant("dev", changes)}, sort_keys=False)
    (directory / "Pulumi.dev.yaml").write_text(text)


def workflows(stack: str, changes: Mapping[str, Any] | None = None) -> dict[str, str]:
    rendered = render_variant(stack, changes or {}) if changes else None
    tree_ = tree(rendered) if rendered is not None else files(stack)
    return {k: v for k, v in tree_.items() if k.startswith("github/workflows/")}


def steps_named(text: str, prefix: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(text)
    return [
        {**step, "job": job_id}
        for job_id, job in data["jobs"].items()
        for step in job.get("steps", [])
        if str(step.get("name", "")).startswith(prefix)
    ]


def channels_of(text: str) -> set[str]:
    """The CHANNEL of every notification step of a workflow."""
    data = yaml.safe_load(text)
    return {
        step["env"]["CHANNEL"]
        for job in data["jobs"].values()
        for step in job.get("steps", [])
        if "CHANNEL" in step.get("env", {})
    }


# --------------------------------------------------------------------------------------------
# Routes resolve per event
# --------------------------------------------------------------------------------------------

D, S, T, E = ChannelName.DISCORD, ChannelName.SLACK, ChannelName.TEAMS, ChannelName.EMAIL


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        # Unset and the earlier switches: today's routing.
        ({}, {"build": (D,), "deploy": (D,), "approval": (), "security": (S,), "rollback": ()}),
        (
            {"discord": False},
            {"build": (), "deploy": (), "approval": (), "security": (S,), "rollback": ()},
        ),
        ({"channels": ["slack"]}, {event.value: (S,) for event in Event}),
        (
            {
                "routes": [
                    {"events": ["deploy", "rollback"], "channels": ["teams", "email"]},
                    {"events": ["rollback"], "channels": ["slack", "teams"]},
                ],
                "email": EMAIL,
            },
            {"build": (), "deploy": (T, E), "approval": (), "security": (), "rollback": (T, E, S)},
        ),
        ({"routes": [{"channels": ["discord"]}]}, {event.value: (D,) for event in Event}),
    ],
)
def test_routes_resolve_per_event(
    section: dict[str, Any], expected: dict[str, tuple[ChannelName, ...]]
) -> None:
    config = NotificationsConfig.model_validate(section)
    assert {event.value: config.channels_for(event) for event in Event} == expected


# --------------------------------------------------------------------------------------------
# "Slack only" is one line, in every stack's files
# --------------------------------------------------------------------------------------------


def test_slack_only_renders_no_discord_step_anywhere(first_stage: Path) -> None:
    write_dev(first_stage, SLACK_ONLY)
    rendered = {
        "dev": workflows("dev", SLACK_ONLY),
        "staging": workflows("staging", {"cicd:approval.waitTimer": 0}),
        "prod": workflows("prod", {"cicd:deploy.enabled": False}),
    }
    for stack, texts in rendered.items():
        for name, text in texts.items():
            assert "DISCORD_WEBHOOK_URL" not in text, (stack, name)
            names = [step["name"] for step in steps_named(text, "")]
            assert not [n for n in names if "Discord" in n], (stack, name)
            assert channels_of(text) <= {"Slack"}, (stack, name)
    dev, staging, prod = (rendered[s] for s in ("dev", "staging", "prod"))
    ci = "github/workflows/ci.yml"
    assert [s["job"] for s in steps_named(dev[ci], "Build status to Slack")] == ["notify"]
    assert [s["job"] for s in steps_named(dev[ci], "Security alert to Slack")] == ["security-alert"]
    assert steps_named(dev["github/workflows/release.yml"], "Build status to Slack")
    assert steps_named(dev["github/workflows/dev-deploy.yml"], "Deploy status to Slack")
    assert steps_named(dev["github/workflows/rescan.yml"], "Tell Slack what is new")
    for texts, file in ((staging, "stage-deploy.yml"), (prod, "prod-deploy.yml")):
        text = texts[f"github/workflows/{file}"]
        # every event of a dispatched stage: its result, its wait for reviewers, a rollback
        assert [s["job"] for s in steps_named(text, "Deploy status to Slack")] == ["notify"]
        assert [s["job"] for s in steps_named(text, "Approval request to Slack")] == ["approval"]
        assert [s["job"] for s in steps_named(text, "Rollback to Slack")] == ["deploy"]
    assert steps_named(staging["github/workflows/stage-deploy.yml"], "Security findings to Slack")
    # The dev stack needs no Discord webhook any more (SLACK_ONLY deleted it) and writes only
    # the Slack one.
    settings = yaml.safe_load(tree(render_variant("dev", SLACK_ONLY))["github/settings.yaml"])
    assert "SLACK_WEBHOOK_URL" in str(settings) and "DISCORD_WEBHOOK_URL" not in str(settings)


def test_routed_workflows_pass_the_validators(first_stage: Path) -> None:
    write_dev(first_stage, ROUTED)
    found = {
        **workflows("dev", ROUTED),
        **{k: v for k, v in workflows("staging", {"cicd:approval.waitTimer": 0}).items()},
        **workflows("prod", {"cicd:approval.waitTimer": 0}),
    }
    repo = {".github" + k.removeprefix("github"): v for k, v in found.items()}
    assert validators.actionlint(repo) == []
    assert validators.zizmor(repo) == []
    assert validators.workflow_schema(repo) == []


def test_teams_and_email_steps_read_their_secrets_only_from_secrets(first_stage: Path) -> None:
    write_dev(first_stage, ROUTED)
    prod = workflows("prod", {"cicd:deploy.enabled": False})["github/workflows/prod-deploy.yml"]
    (teams,) = [s for s in steps_named(prod, "Deploy status to Teams")]
    (mail,) = [s for s in steps_named(prod, "Deploy status to E-mail")]
    assert teams["env"]["WEBHOOK_URL"] == "${{ secrets.TEAMS_WEBHOOK_URL }}"
    assert "application/vnd.microsoft.card.adaptive" in teams["run"]
    assert mail["env"]["SMTP_CREDENTIALS"] == "${{ secrets.SMTP_CREDENTIALS }}"
    assert mail["env"]["MAIL_TO"] == "reviewer@acme.example oncall@acme.example"
    assert mail["env"]["SMTP_URL"] == "smtps://smtp.acme.example:465"
    assert "--ssl-reqd" in mail["run"] and "--config -" in mail["run"]
    # no route sends build or security findings by e-mail or to Teams
    dev = workflows("dev", ROUTED)
    assert channels_of(dev["github/workflows/ci.yml"]) == {"Slack"}
    assert channels_of(dev["github/workflows/dev-deploy.yml"]) == {"Teams", "E-mail"}


def test_approval_notes_only_where_the_environment_has_reviewers() -> None:
    """Staging and prod must have reviewers today; a later stage without them (issue 26's chain
    allows one) gets no approval job. Checked on the generator with the spec of staging."""
    settings = sections("staging")
    spec = workflows_args(
        settings, notifications=NotificationsConfig.model_validate({"channels": ["slack"]})
    ).spec
    with_reviewers = model.render(staging_workflow(spec))
    without = model.render(staging_workflow(dataclasses.replace(spec, approval_required=False)))
    assert "approval" in yaml.safe_load(with_reviewers)["jobs"]
    assert "approval" not in yaml.safe_load(without)["jobs"]
    assert steps_named(without, "Deploy status to Slack")


# --------------------------------------------------------------------------------------------
# The earlier keys keep today's routing
# --------------------------------------------------------------------------------------------


def test_earlier_keys_written_out_render_as_the_default() -> None:
    explicit = workflows("dev", {"cicd:pipeline.notifications": {"discord": True, "slack": True}})
    unset = workflows("dev", {"cicd:pipeline.notifications": DELETE})
    assert explicit == unset == workflows("dev")


def test_earlier_keys_send_nothing_new_from_later_stages() -> None:
    for stack, file in (("staging", "stage-deploy.yml"), ("prod", "prod-deploy.yml")):
        jobs = yaml.safe_load(files(stack)[f"github/workflows/{file}"])["jobs"]
        assert "notify" not in jobs and "approval" not in jobs
        assert not steps_named(files(stack)[f"github/workflows/{file}"], "Rollback")
    staging = files("staging")["github/workflows/stage-deploy.yml"]
    assert channels_of(staging) == {"Slack"}  # security findings, as before


def test_earlier_keys_switched_off_silence_the_later_stage_too(first_stage: Path) -> None:
    write_dev(first_stage, {"cicd:pipeline.notifications.slack": False})
    staging = workflows("staging", {"cicd:approval.waitTimer": 0})
    assert (
        "security-alert" not in yaml.safe_load(staging["github/workflows/stage-deploy.yml"])["jobs"]
    )


# --------------------------------------------------------------------------------------------
# Bad routes and a bad first stage are one line each
# --------------------------------------------------------------------------------------------

N = "Pulumi.dev.yaml: cicd:pipeline.notifications"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"discord": True, "channels": ["slack"]},
            f"{N} mixes discord (the earlier form) with channels: write every event's channels "
            "with channels and remove discord",
        ),
        ({"channels": ["slack"], "routes": [{"channels": ["teams"]}]}, f"{N} has both channels"),
        ({"channels": ["pager"]}, f"{N}.channels[0] must be one of discord, slack, teams or email"),
        ({"channels": []}, f"{N}.channels must name at least one"),
        ({"routes": []}, f"{N}.routes must hold at least one route"),
        ({"routes": [{"events": ["deploy"]}]}, f"{N}.routes[0].channels is required"),
        (
            {"routes": [{"events": ["deplyo"], "channels": ["slack"]}]},
            f"{N}.routes[0].events[0] must be one of build, deploy, approval, security or rollback",
        ),
        (
            {"routes": [{"events": ["deploy", "deploy"], "channels": ["slack"]}]},
            f"{N}.routes[0].events names deploy more than once",
        ),
        ({"channels": ["email"]}, f"{N} routes events to email but has no email settings"),
        (
            {"channels": ["slack"], "email": EMAIL},
            f"{N} has email settings but no route sends e-mail",
        ),
        (
            {"channels": ["email"], "email": {**EMAIL, "smtpServer": "http://smtp.example"}},
            f"{N}.email.smtpServer must be smtps://HOST[:PORT]",
        ),
        (
            {"channels": ["email"], "email": {**EMAIL, "to": ["reviewer\r\nBcc: x@y.z"]}},
            f"{N}.email.to[0] must be an e-mail address",
        ),
        ({"slack": True, "chanels": ["slack"]}, f"{N}.chanels is not a known key"),
    ],
)
def test_bad_routes_are_one_line(section: dict[str, Any], expected: str) -> None:
    lines = config_problems(
        "dev",
        {
            "cicd:pipeline.notifications": section,
            "cicd:teamsWebhookUrl": {"secure": "v1:dA=="},
            "cicd:smtpCredentials": {"secure": "v1:cw=="},
        },
    )
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines


def test_a_used_channel_needs_its_secret() -> None:
    lines = config_problems(
        "dev",
        {
            "cicd:pipeline.notifications": {
                "routes": [{"events": ["deploy"], "channels": ["teams"]}]
            }
        },
    )
    assert lines == [
        "Pulumi.dev.yaml: cicd:teamsWebhookUrl is required (pipeline.notifications sends deploy "
        "to teams); set it with pulumi config set --secret"
    ]


def test_rescan_channel_beside_routes_is_a_problem() -> None:
    lines = config_problems(
        "dev",
        {
            "cicd:pipeline.notifications": {"channels": ["slack"]},
            "cicd:pipeline.rescan.channel": "discord",
        },
    )
    assert lines == [
        "Pulumi.dev.yaml: cicd:pipeline sets rescan.channel beside notifications.channels or "
        "routes: the rescan's findings follow the security route; remove rescan.channel"
        + lines[0].split("remove rescan.channel", 1)[1]
    ]
    assert len(lines) == 1


def test_a_later_stage_without_a_first_stage_file_is_one_line(first_stage: Path) -> None:
    (first_stage / "Pulumi.dev.yaml").unlink()
    lines = config_problems("staging", {})
    assert len(lines) == 1, lines
    assert lines[0].startswith("Pulumi.staging.yaml: cicd:environment.promotesFrom")
    assert "Pulumi.dev.yaml" in lines[0]


def test_a_later_stage_reports_the_first_stages_bad_routes(first_stage: Path) -> None:
    write_dev(first_stage, {"cicd:pipeline.notifications": {"channels": ["pager"]}})
    assert config_problems("prod", {}) == [
        "Pulumi.prod.yaml: cicd:pipeline.notifications of the first stage is wrong in "
        "Pulumi.dev.yaml: cicd:pipeline.notifications.channels[0] must be one of discord, slack, "
        "teams or email (got pager)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config:\n  cicd:pipeline: &p {a: 1}\n  x: *p\n", "aliases (*name) are not allowed"),
        ("config: [", "Pulumi.dev.yaml:1:"),
        ("config:\n  a: 1\n  a: 2\n", "duplicate key 'a'"),
    ],
)
def test_an_unreadable_first_stage_file_is_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    found, problem = first_stage_notifications(None, "dev", tmp_path)
    assert found is None and problem is not None
    line = problem.line("Pulumi.staging.yaml")
    assert line.startswith(
        "Pulumi.staging.yaml: cicd:pipeline.notifications of the first stage cannot be read: "
    )
    assert expected in line and "\n" not in line


def test_routes_come_from_the_chains_first_stage(tmp_path: Path) -> None:
    """The first stage is whatever the chain says (components/config/siblings.py), not dev."""
    (tmp_path / "Pulumi.build.yaml").write_text(
        yaml.safe_dump({"config": {"cicd:pipeline": {"notifications": {"channels": ["teams"]}}}})
    )
    found, problem = first_stage_notifications(None, "build", tmp_path)
    assert problem is None and found is not None
    assert found.channels_for(Event.DEPLOY) == (ChannelName.TEAMS,)
    found, problem = first_stage_notifications(None, "dev", tmp_path)
    assert found is None and problem is not None and "does not exist" in problem.message


def test_no_secret_value_reaches_a_routed_render(first_stage: Path) -> None:
    write_dev(first_stage, ROUTED)
    for stack, changes in (("dev", ROUTED), ("staging", {}), ("prod", {})):
        for text in tree(render_variant(stack, changes)).values():
            # a secure value enters the render as this placeholder (render/engine.py)
            assert "offline-render-placeholder" not in text


def test_the_rescan_follows_the_security_route() -> None:
    """With routes, rescan.yml posts where security findings go (not rescan.channel's default)."""
    changes = {
        "cicd:pipeline.notifications": {
            "routes": [{"events": ["security"], "channels": ["teams"]}]
        },
        "cicd:discordWebhookUrl": DELETE,
        "cicd:slackWebhookUrl": DELETE,
        "cicd:teamsWebhookUrl": {"secure": "v1:dA=="},
    }
    rescan = workflows("dev", changes)["github/workflows/rescan.yml"]
    assert channels_of(rescan) == {"Teams"}
    assert steps_named(rescan, "Tell Teams what is new")
