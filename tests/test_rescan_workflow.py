"""The rescan side of the dev stack: cicd:pipeline.rescan, rescan.yml and the package it runs.

Given the offline render of the dev stack (rescan on by default) and variations of it: the
workflow is scheduled and dispatchable with a read-only token (security events written only
where CI uploads SARIF too), reads CI's severity unless config names one, tells the configured
channel, and is absent when off; bad config is one line. The package's decisions (what is new,
what an outage keeps) are checked on its functions; tests/pipeline/test_rescan.py runs it all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from render.tree import tree as file_tree
from security_rescan.__main__ import Finding, Outcome, Target, message, next_state, summary
from security_rescan.__main__ import main as rescan_main
from tests.conftest import DELETE, config_problems, files, render_variant

RESCAN_FILE: Final = "github/workflows/rescan.yml"


def _job(tree: dict[str, str]) -> dict[str, Any]:
    workflow = yaml.safe_load(tree[RESCAN_FILE])
    job: dict[str, Any] = workflow["jobs"]["rescan"]
    return job


def _variant(changes: dict[str, Any]) -> dict[str, str]:
    return file_tree(render_variant("dev", changes))


def _step(job: dict[str, Any], name: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in job["steps"] if s["name"].startswith(name))
    return step


def test_rescan_is_on_by_default_daily_and_on_demand_with_a_read_only_token() -> None:
    workflow = yaml.safe_load(files("dev")[RESCAN_FILE])
    assert workflow["on"] == {"schedule": [{"cron": "41 5 * * *"}], "workflow_dispatch": {}}
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["rescan"]
    assert job["permissions"] == {
        "actions": "read",
        "contents": "read",
        "deployments": "read",
        "packages": "read",
        "security-events": "write",
    }
    assert "environment" not in job
    scan = _step(job, "Rescan the running digests")
    assert scan["env"]["SEVERITY"] == "CRITICAL,HIGH"  # CI's (pipeline.scanners.trivySeverity)
    assert scan["env"]["ENVIRONMENTS"] == "development staging production"
    assert scan["env"]["SARIF"] == "rescan.sarif"
    assert _step(job, "Tell Slack")["env"]["WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"


def test_only_the_dev_stack_commits_rescan() -> None:
    assert RESCAN_FILE in files("dev")
    assert RESCAN_FILE not in files("staging")
    assert RESCAN_FILE not in files("prod")


def test_config_sets_schedule_severity_and_channel_and_follows_ci_sarif_switch() -> None:
    tree = _variant(
        {
            "cicd:pipeline.rescan.schedule": "0 3 * * 1",
            "cicd:pipeline.rescan.severity": "CRITICAL",
            "cicd:pipeline.rescan.channel": "discord",
            "cicd:pipeline.scanners.sarifUpload": False,
        }
    )
    workflow = yaml.safe_load(tree[RESCAN_FILE])
    assert workflow["on"]["schedule"] == [{"cron": "0 3 * * 1"}]
    job = workflow["jobs"]["rescan"]
    assert "security-events" not in job["permissions"]
    assert not any(s["name"].startswith("Upload the findings") for s in job["steps"])
    scan = _step(job, "Rescan the running digests")
    assert scan["env"]["SEVERITY"] == "CRITICAL"
    assert scan["env"]["SARIF"] == ""
    notify = _step(job, "Tell Discord")
    assert notify["env"]["WEBHOOK_URL"] == "${{ secrets.DISCORD_WEBHOOK_URL }}"


def test_rescan_off_commits_neither_workflow_nor_package() -> None:
    tree = _variant({"cicd:pipeline.rescan.enabled": False})
    assert not [path for path in tree if "rescan" in path]


def test_bad_rescan_config_is_one_line_naming_the_key() -> None:
    problems = config_problems("dev", {"cicd:pipeline.rescan.schedule": "daily"})
    assert len(problems) == 1
    assert "cicd:pipeline.rescan.schedule" in problems[0]
    assert "cron" in problems[0]
    problems = config_problems("dev", {"cicd:pipeline.rescan.channel": "email"})
    assert len(problems) == 1 and "cicd:pipeline.rescan.channel" in problems[0]


# -- the package's decisions ------------------------------------------------------------------

DIGEST: Final = "sha256:" + "1" * 64
TARGET: Final = Target("production", DIGEST, "a" * 40, "https://ci.test/runs/1")
FLAW: Final = Finding("production", DIGEST, "CVE-1", "musl", "1.0-r0", "1.0-r1", "HIGH")


def test_only_new_findings_are_in_the_message() -> None:
    outcomes = [Outcome("production", TARGET, (FLAW,)), Outcome("staging", None)]
    assert message("img", outcomes, new=set()) == ""
    text = message("img", outcomes, new={FLAW.key})
    assert text.splitlines() == [
        "Rescan of running images: 1 new vulnerability",
        f"- production img@{DIGEST}: musl 1.0-r0, fixed in 1.0-r1: CVE-1 (HIGH); "
        "built by https://ci.test/runs/1",
    ]


def test_an_outage_is_reported_and_keeps_what_was_known() -> None:
    staging_key = f"staging|{DIGEST}|CVE-2|zlib"
    previous = {FLAW.key, staging_key}
    outcomes = [
        Outcome("production", TARGET, error="trivy exited 1: no DB"),
        Outcome("staging", Target("staging", DIGEST, "", ""), ()),
    ]
    # production was not scanned: its finding stays; staging was scanned clean: its goes.
    assert next_state(previous, outcomes) == [FLAW.key]
    text = message("img", outcomes, new=set())
    assert "NOT SCANNED (trivy exited 1: no DB); this is no all-clear" in text
    assert "1 environment not scanned" in text.splitlines()[0]
    page = summary("img", "HIGH", outcomes, new=set())
    assert "**not scanned**: trivy exited 1: no DB" in page
    assert "0 finding(s), 0 new" in page  # staging, which was scanned


def test_the_channel_webhook_is_required_while_the_rescan_posts_there() -> None:
    """Slack notifications off, rescan still on (default channel slack): the webhook secret is
    still needed, so that rescan.yml never reads a secret no stack writes."""
    changes = {"cicd:pipeline.notifications.slack": False, "cicd:slackWebhookUrl": DELETE}
    assert config_problems("dev", changes) == [
        "Pulumi.dev.yaml: cicd:slackWebhookUrl is required (pipeline.rescan.channel is slack); "
        "set it with pulumi config set --secret"
    ]
    file_tree(render_variant("dev", {**changes, "cicd:pipeline.rescan.enabled": False}))


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _args(tmp_path: Path) -> list[str]:
    return [
        "--repository", "acme/webshop", "--image", "ghcr.io/acme/webshop",
        "--environment", "production", "--severity", "HIGH", "--branch", "develop",
        "--state-out", str(tmp_path / "state"), "--output", str(tmp_path / "output"),
    ]  # fmt: skip


def test_the_rescan_fails_on_its_own_errors_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub's API failing is the job's own error: exit 1 and an ::error:: that says which
    call; no state is written, so the next run still compares with the last good one."""
    _tool(tmp_path, "gh", 'echo "HTTP 502: Bad Gateway" >&2; exit 1')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert rescan_main(_args(tmp_path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error::rescan failed: gh api --method GET repos/acme/webshop/")
    assert "HTTP 502: Bad Gateway" in out
    assert not (tmp_path / "state").exists()


def test_a_missing_scanner_is_an_outage_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No trivy at all: the running digest is reported as not scanned; the job succeeds."""
    digest = "sha256:" + "2" * 64
    deployments = json.dumps([{"id": 5, "sha": "c" * 40, "payload": {"digest": digest}}])
    _tool(
        tmp_path,
        "gh",
        'case "$*" in *statuses*) echo \'[{"state": "success"}]\' ;; '
        "*workflows*) echo '{\"workflow_runs\": []}' ;; "
        f"*) echo '{deployments}' ;; esac",
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert rescan_main([*_args(tmp_path), "--trivy", str(tmp_path / "no-trivy")]) == 0
    out = capsys.readouterr().out
    assert f"::warning::production runs ghcr.io/acme/webshop@{digest}, which was NOT scanned" in out
    assert "NOT SCANNED (trivy could not run" in (tmp_path / "output").read_text()
