"""Stack config: every real stack loads; each rule rejects bad input with its one-line message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import (
    DELETE,
    STACKS,
    STACKS_DIR,
    config_problems,
    copy_project,
    project_path,
    rendered,
)


def test_every_stack_renders(stack: str) -> None:
    result = rendered(stack)
    assert result.outputs["environment"] == stack


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        (
            "dev",
            {"cicd:app.replicas": "many"},
            "Pulumi.dev.yaml: cicd:app.replicas must be a whole number (got many)",
        ),
        (
            "dev",
            {"cicd:app.replicas": 0},
            "Pulumi.dev.yaml: cicd:app.replicas must be between 1 and 50 (got 0)",
        ),
        (
            "dev",
            {"cicd:app.colour": "blue"},
            "Pulumi.dev.yaml: cicd:app.colour is not a known key (known here: branching, "
            "defaultBranch, "
            "healthPath, image, imageTag, name, port, replicas, repository, resources)",
        ),
        (
            "dev",
            {"cicd:app.name": "Web_Shop"},
            "Pulumi.dev.yaml: cicd:app.name must be a Kubernetes DNS label",
        ),
        (
            "dev",
            {"cicd:app.imageTag": "latest"},
            "Pulumi.dev.yaml: cicd:app.imageTag must pin a version, never latest (got latest)",
        ),
        ("dev", {"cicd:app": DELETE}, "Pulumi.dev.yaml: cicd:app is required"),
        (
            "dev",
            {"cicd:environment.name": "qa"},
            "Pulumi.dev.yaml: cicd:environment.name must match the stack name 'dev' (got qa)",
        ),
        (
            "dev",
            {"cicd:environment.name": "prod"},
            "Pulumi.dev.yaml: cicd:environment.name must match the stack name 'dev' (got prod)",
        ),
        (
            "dev",
            {"cicd:unknownKey": "x"},
            "Pulumi.dev.yaml: cicd:unknownKey is not a known key (known here: access, app",
        ),
        ("dev", {"github:owner": DELETE}, "Pulumi.dev.yaml: github:owner is required"),
        (
            "prod",
            {"cicd:canary.steps[2].weight": 150},
            "Pulumi.prod.yaml: cicd:canary.steps[2].weight must be between 1 and 100 (got 150)",
        ),
        (
            "prod",
            {"cicd:canary.steps[1].weight": 5},
            "Pulumi.prod.yaml: cicd:canary.steps[1].weight must be greater than the previous step's weight 10 (got 5)",
        ),
        (
            "prod",
            {"cicd:canary.steps[0].pause": "5 minutes"},
            "Pulumi.prod.yaml: cicd:canary.steps[0].pause must be a duration such as 30s, 5m or 1h (got 5 minutes)",
        ),
        (
            "prod",
            {"cicd:app.healthPath": None},
            "Pulumi.prod.yaml: cicd:app.healthPath is required when canary analysis is enabled",
        ),
        (
            "prod",
            {"cicd:approval.waitTimer": 50000},
            "Pulumi.prod.yaml: cicd:approval.waitTimer must be between 0 and 43200 (got 50000)",
        ),
        (
            "prod",
            {"cicd:approval.reviewers.teams": [f"t{i}" for i in range(7)]},
            "Pulumi.prod.yaml: cicd:approval.reviewers.teams must list at most 6 entries (GitHub's limit) (got 7)",
        ),
        (
            "prod",
            {"cicd:approval.reviewers.teams": []},
            "Pulumi.prod.yaml: cicd:approval.reviewers must name at least one reviewer in prod",
        ),
        (
            "staging",
            {"cicd:approval.preventSelfReview": False},
            "Pulumi.staging.yaml: cicd:approval.preventSelfReview must be true in staging (got false)",
        ),
        (
            "prod",
            {"cicd:approval.branches": ["main", "develop"]},
            "Pulumi.prod.yaml: cicd:approval.branches[1] must be main in prod (tier production) (got develop)",
        ),
        (
            "prod",
            {"cicd:approval.tags": ["release-*"]},
            "Pulumi.prod.yaml: cicd:approval.tags[0] must be a release tag pattern such as v* (got release-*)",
        ),
        (
            "prod",
            {"cicd:approval.protectedBranches": True},
            "Pulumi.prod.yaml: cicd:approval must set exactly one of protectedBranches and customBranchPolicies to true",
        ),
        (
            "prod",
            {"cicd:approval.customBranchPolicies": False},
            "Pulumi.prod.yaml: cicd:approval must set exactly one of protectedBranches and customBranchPolicies to true",
        ),
        (
            "staging",
            {"cicd:environment.secrets[0].name": "sentry-dsn"},
            "Pulumi.staging.yaml: cicd:environment.secrets[0].name must contain only letters, digits and '_' (GitHub's rule) (got sentry-dsn)",
        ),
        (
            "staging",
            {"cicd:environment.podSecurity": "baseline"},
            "Pulumi.staging.yaml: cicd:environment.podSecurity must be restricted in staging (tier staging) (got baseline)",
        ),
        (
            "staging",
            {"cicd:pipeline": {"packages": ["api"]}},
            "Pulumi.staging.yaml: cicd:pipeline must be removed from the staging stack",
        ),
        (
            "dev",
            {"cicd:pipeline": DELETE},
            "Pulumi.dev.yaml: cicd:pipeline is required in the first stage (dev)",
        ),
        (
            "prod",
            {"cicd:branchProtection.branch": "develop"},
            "Pulumi.prod.yaml: cicd:branchProtection.branch must be main with app.branching gitflow: "
            "the production stage protects main (got develop)",
        ),
        (
            "dev",
            {"cicd:registryToken": "ghp_plaintexttoken"},
            "Pulumi.dev.yaml: cicd:registryToken must be set with pulumi config set --secret, not in plain text (got [secret])",
        ),
        (
            "dev",
            {"cicd:snykToken": DELETE},
            "Pulumi.dev.yaml: cicd:snykToken is required (pipeline.scanners.snyk is true)",
        ),
        (
            "dev",
            {"cicd:pipeline.commands.lint": "npm run lint ${{ github.head_ref }}"},
            "Pulumi.dev.yaml: cicd:pipeline.commands.lint must not contain '${{'",
        ),
        (
            "dev",
            {"cicd:app.image": "evilghcr.io/acme/webshop"},
            "Pulumi.dev.yaml: cicd:app.image must be in the registry ghcr.io (got evilghcr.io/acme/webshop)",
        ),
        (
            "dev",
            {"cicd:cluster.server": "http://k8s.local"},
            "Pulumi.dev.yaml: cicd:cluster.server must be an https:// URL (got http://k8s.local)",
        ),
    ],
)
def test_bad_config_is_one_clear_line(
    stack: str, changes: dict[str, object], expected: str
) -> None:
    lines = config_problems(stack, changes)
    assert any(line.startswith(expected) for line in lines), lines


def test_problems_are_collected_not_raised_one_at_a_time() -> None:
    lines = config_problems("prod", {"cicd:app.replicas": 0, "cicd:approval.waitTimer": -1})
    assert len(lines) == 2, lines


def test_secret_values_never_appear_in_errors() -> None:
    lines = config_problems("dev", {"cicd:registryToken": "ghp_plaintexttoken"})
    assert not any("ghp_plaintexttoken" in line for line in lines)


def test_every_stack_key_is_declared_in_the_project_file() -> None:
    import yaml

    declared = set(yaml.safe_load(project_path("Pulumi.yaml").read_text())["config"])
    for name in STACKS:
        used = set(yaml.safe_load((STACKS_DIR / f"Pulumi.{name}.yaml").read_text())["config"])
        assert used <= declared | {"github:owner"}, used - declared


def _cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "render", *args],
        capture_output=True,
        text=True,
        cwd=cwd or project_path(),
        check=False,
    )


@pytest.mark.subprocess
def test_cli_bad_config_exits_1_and_writes_nothing(tmp_path: object) -> None:
    import pathlib

    root = pathlib.Path(str(tmp_path))
    copy_project(root)
    text = (STACKS_DIR / "Pulumi.prod.yaml").read_text().replace("weight: 50\n", "weight: 150\n")
    (root / "Pulumi.prod.yaml").write_text(text)
    done = _cli("prod", "--out", str(root / "out"), cwd=str(root))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "Pulumi.prod.yaml: cicd:canary.steps[2].weight must be between 1 and 100 (got 150)"
    )
    assert "Traceback" not in done.stderr
    assert not (root / "out").exists()


@pytest.mark.subprocess
def test_cli_usage_errors_exit_2() -> None:
    assert _cli("nosuchstack").returncode == 2
    assert _cli().returncode == 2


def test_render_is_deterministic() -> None:
    """Registrations arrive from worker threads; resources.json must still be the same every time."""
    from render.engine import render
    from render.tree import tree

    first = tree(render("prod", stacks_dir=STACKS_DIR))
    second = tree(render("prod", stacks_dir=STACKS_DIR))
    assert first == second
