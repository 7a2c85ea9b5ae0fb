"""Notification routes, executed: dev-deploy.yml run with act, the fake curl recording what each
channel receives (issue 26, "Slack only is impossible").

- Slack only (``channels: [slack]``, one line): the deploy result goes to Slack and nothing to
  Discord, although the repository still holds a Discord webhook secret.
- Every webhook URL (the credential) reaches curl on its stdin (``--config -``), never in its
  argv, which other processes on a runner can read (tests/test_notify_scripts.py shows the same
  with the real curl).
- A route of the deploy event to Teams and e-mail: Teams receives a message whose one
  attachment is an Adaptive Card (the shape a Teams Workflows webhook accepts:
  MicrosoftDocs/msteams-docs, webhooks-and-connectors/how-to/connectors-using.md, "Send
  adaptive cards using an incoming webhook"), and the SMTP server a mail to the configured
  recipients, over TLS, with the login read from curl's stdin, never its command line.

The CI run is replaced by the artifact it would have left (``image-digest`` of run 41): the
scenario is the deploy's notification, tests/pipeline/test_dev_deploy.py runs both.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import loading
from tests.conftest import DELETE, STACKS, STACKS_DIR, variant
from tests.pipeline.harness import (
    GitHubEnvironment,
    HttpRule,
    Pipeline,
    Response,
    RunResult,
    Scenario,
    github_values,
    stack_files,
    without_jobs,
)
from tests.pipeline.test_deploy_release import NEW, UNHEALTHY
from tests.pipeline.test_deploy_release import pipeline as release_pipeline
from tests.pipeline.test_dev_deploy import DEPLOYMENT

pytestmark = pytest.mark.pipeline

DIGEST: Final = "sha256:" + "4" * 64
SLACK: Final = "https://hooks.slack.test/services/T1/B2/c3"
DISCORD: Final = "https://discord.test/api/webhooks/1/abc"
TEAMS: Final = (
    "https://prod-01.westeurope.logic.teams.test/workflows/1/triggers/manual/paths/invoke"
)
SMTP: Final = "smtps://smtp.acme.example:465"
SMTP_PASSWORD: Final = 'pa:ss"word\\with-quotes'
PACKAGES: Final[dict[str, Any]] = {"cicd:pipeline.packages": ["@acme/api"]}
ENVIRONMENT_SECRETS: Final = {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"}


def _deploy(
    tmp_path: Path, changes: dict[str, Any], secrets: dict[str, str]
) -> tuple[Pipeline, RunResult]:
    files = stack_files("dev", changes)
    deploy = files[".github/workflows/dev-deploy.yml"]
    files[".github/workflows/dev-deploy.yml"] = without_jobs(deploy, "integration-test", "accept")
    scenario = Scenario(
        http=(
            HttpRule(r"^https://webshop\.dev\.acme\.example/"),
            HttpRule(r"slack\.test|discord\.test|teams\.test", (Response(200),)),
            HttpRule(r"^smtps://smtp\.acme\.example", (Response(250),)),
        ),
        kube_objects=(DEPLOYMENT,),
    )
    pipeline = Pipeline(tmp_path, scenario)
    pipeline.add_files(files)
    artifact = pipeline.state / "artifacts" / "41" / "image-digest"
    artifact.mkdir(parents=True)
    (artifact / "digest.txt").write_text(DIGEST + "\n")
    variables, environments = github_values("dev", changes, ENVIRONMENT_SECRETS)
    run = pipeline.run(
        "workflow_run",
        "dev-deploy.yml",
        payload={
            "action": "completed",
            "workflow_run": {
                "id": 41,
                "name": "CI",
                "event": "push",
                "conclusion": "success",
                "head_branch": "develop",
                "head_sha": pipeline.sha,
                "head_repository": {"full_name": "acme/shop"},
            },
        },
        secrets=secrets,
        variables=variables,
        environments=environments,
        run_id="42",
    )
    assert run.jobs["deploy"] == "success", run.log
    assert run.jobs["notify"] == "success", run.log
    return pipeline, run


def test_slack_only_sends_the_deploy_result_to_slack_and_nothing_to_discord(
    tmp_path: Path,
) -> None:
    changes = {
        **PACKAGES,
        "cicd:pipeline.notifications": {"channels": ["slack"]},
        "cicd:discordWebhookUrl": DELETE,
    }
    # The repository still has the Discord webhook of the earlier setup: nothing may use it.
    pipeline, run = _deploy(
        tmp_path, changes, {"SLACK_WEBHOOK_URL": SLACK, "DISCORD_WEBHOOK_URL": DISCORD}
    )
    posts = [c for c in pipeline.calls("curl") if c["method"] == "POST"]
    assert [c["url"] for c in posts] == [SLACK], posts
    # The webhook URL is the credential: read from curl's stdin, never on its command line.
    assert posts[0]["from_stdin"] == ["--url"]
    assert SLACK not in json.dumps(posts[0]["argv"])
    (payload,) = (json.loads(data) for data in posts[0]["data"])
    assert set(payload) == {"text"}
    assert payload["text"].startswith("Deploy to development: deploy success"), payload
    assert f"ghcr.io/acme/webshop@{DIGEST}" in payload["text"]
    assert run.step("notify", "Deploy status to Slack") == "success"
    assert not run.annotations("warning", "notify")


def test_a_teams_and_email_route_sends_the_documented_shapes(tmp_path: Path) -> None:
    changes = {
        **PACKAGES,
        "cicd:pipeline.notifications": {
            "routes": [
                {"events": ["deploy"], "channels": ["teams", "email"]},
                {"events": ["build", "security"], "channels": ["slack"]},
            ],
            "email": {
                "to": ["reviewer@acme.example", "oncall@acme.example"],
                "sender": "ci@acme.example",
                "smtpServer": SMTP,
            },
        },
        "cicd:discordWebhookUrl": DELETE,
        "cicd:teamsWebhookUrl": {"secure": "v1:dGVhbXM="},
        "cicd:smtpCredentials": {"secure": "v1:c210cA=="},
    }
    secrets = {
        "TEAMS_WEBHOOK_URL": TEAMS,
        "SMTP_CREDENTIALS": f"ci-bot:{SMTP_PASSWORD}",
        "SLACK_WEBHOOK_URL": SLACK,
        "DISCORD_WEBHOOK_URL": DISCORD,
    }
    pipeline, run = _deploy(tmp_path, changes, secrets)
    calls = pipeline.calls("curl")
    (teams,) = [c for c in calls if c["url"] == TEAMS]
    assert teams["from_stdin"] == ["--url"] and TEAMS not in json.dumps(teams["argv"])
    (card_message,) = (json.loads(data) for data in teams["data"])
    # A Teams Workflows webhook: type message, one Adaptive Card attachment.
    assert card_message["type"] == "message"
    (attachment,) = card_message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    (block,) = card["body"]
    assert block["type"] == "TextBlock" and block["wrap"] is True
    assert block["text"].startswith("Deploy to development: deploy success"), block

    (mail,) = [c for c in calls if c["method"] == "SMTP"]
    assert mail["url"] == SMTP and mail["ssl_reqd"] is True
    assert mail["mail_from"] == "ci@acme.example"
    assert mail["mail_rcpt"] == ["reviewer@acme.example", "oncall@acme.example"]
    assert mail["login_user"] == "ci-bot"  # read back from curl's stdin config
    assert mail["from_stdin"] == ["--user"]
    assert SMTP_PASSWORD not in json.dumps(mail["argv"])
    headers, _, body = mail["message"].partition("\r\n\r\n")
    lines = headers.split("\r\n")
    assert "From: ci@acme.example" in lines
    assert "To: reviewer@acme.example, oncall@acme.example" in lines
    assert any(line.startswith("Subject: Deploy to development: deploy success") for line in lines)
    assert body.startswith("Deploy to development: deploy success")
    # Only the routed channels: no Slack or Discord post for a deploy.
    assert {c["url"] for c in calls if c["method"] == "POST"} == {TEAMS}
    assert run.step("notify", "Deploy status to Teams") == "success"
    assert run.step("notify", "Deploy status to E-mail") == "success"
    assert not run.annotations("warning", "notify")


def test_a_failing_smtp_server_is_a_warning(tmp_path: Path) -> None:
    """Never fatal: the server refuses, the step warns, the deploy's run stays green."""
    changes = {
        **PACKAGES,
        "cicd:pipeline.notifications": {
            "routes": [{"events": ["deploy"], "channels": ["email"]}],
            "email": {
                "to": ["oncall@acme.example"],
                "sender": "ci@acme.example",
                "smtpServer": "smtps://smtp.down.example",
            },
        },
        "cicd:discordWebhookUrl": DELETE,
        "cicd:slackWebhookUrl": DELETE,
        "cicd:pipeline.rescan.enabled": False,
        "cicd:smtpCredentials": {"secure": "v1:c210cA=="},
    }
    _, run = _deploy(tmp_path, changes, {"SMTP_CREDENTIALS": "ci-bot:pw"})
    assert run.step("notify", "Deploy status to E-mail") == "success"
    assert any("the e-mail notification failed" in w for w in run.annotations("warning", "notify"))


def test_slack_only_tells_slack_of_a_prod_wait_its_result_and_its_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod-deploy.yml under the first stage's "Slack only": the release waits for reviewers
    (approval), a person promotes it, the health check fails after full promotion and the
    release is rolled back (rollback); each run reports its result (deploy). Nothing else."""
    first_stage = tmp_path / "stacks"
    first_stage.mkdir()
    for stack in STACKS:
        shutil.copy(STACKS_DIR / f"Pulumi.{stack}.yaml", first_stage)
    dev = variant("dev", {"cicd:pipeline.notifications": {"channels": ["slack"]}})
    (first_stage / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": dev}))
    # the chain's sibling stack files (components/config/siblings.py) are read from here
    monkeypatch.setattr(loading, "project_directory", lambda: first_stage)
    pipe = release_pipeline(
        tmp_path / "run", "prod", http=(*UNHEALTHY, HttpRule(r"slack\.test", (Response(200),)))
    )
    repository, environments = github_values("prod")
    ((environment, own),) = environments.items()

    def dispatch(action: str, run_id: str) -> RunResult:
        return pipe.run(
            "workflow_dispatch",
            "prod-deploy.yml",
            ref="refs/heads/main",
            payload={"inputs": {"release": NEW, "action": action}},
            secrets={"SLACK_WEBHOOK_URL": SLACK},
            variables={**repository, "PROD_DEPLOY_ENABLED": "true"},
            environments={
                environment: GitHubEnvironment(
                    {**own.variables, "DEPLOY_ENABLED": "true"},
                    {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"},
                )
            },
            run_id=run_id,
        )

    def texts(since: int) -> list[str]:
        posts = [c for c in pipe.calls("curl") if c["method"] == "POST"][since:]
        assert {c["url"] for c in posts} == {SLACK}, posts
        return [json.loads(c["data"][0])["text"] for c in posts]

    first = dispatch("deploy", "1")
    assert first.jobs["deploy"] == "success", first.output
    assert first.jobs["approval"] == "success" and first.jobs["notify"] == "success"
    sent = texts(0)
    assert any(t.startswith("Waiting for approval in production: deploy of ghcr.io/") for t in sent)
    assert any(
        t.startswith("Deploy to production (deploy): verify success, deploy success") for t in sent
    ), sent
    assert not any(t.startswith("Rollback") for t in sent)  # paused for a person, no rollback
    second = dispatch("promote", "2")
    assert second.jobs["deploy"] == "failure", second.output
    assert second.step("deploy", "Roll back to the stable image") == "success"
    assert second.step("deploy", "Rollback to Slack") == "success"
    later = texts(len(sent))
    (rollback,) = [t for t in later if t.startswith("Rollback in production: ")]
    assert "failed its health check after promotion; rolled back to the stable image" in rollback
    assert any(
        t.startswith("Deploy to production (promote): verify success, deploy failure")
        for t in later
    ), later
