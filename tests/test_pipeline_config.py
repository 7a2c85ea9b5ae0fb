"""The CI pipeline's config rules, embedded scripts and file formatting (without executing).

Given the dev stack and variations of its ``cicd:pipeline`` section, then: package lists are npm
names within GitHub's matrix limit, the SARIF switch removes the upload and its permissions,
every embedded shell script passes shellcheck, and every file the stacks commit is formatted as
Prettier formats it (the application's CI runs ``prettier --check`` over the whole repository).
The executed counterparts are in tests/pipeline/test_ci.py.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import MAX_MATRIX_JOBS
from components.workflows import ci
from components.workflows.common import SCRIPTS_DIR, script
from render.tree import tree
from tests.arc_project import in_cluster_render
from tests.conftest import DELETE, STACKS, config_problems, files, render_variant
from tests.validators import PROJECT_DIR, VENV_BIN


def _ci(changes: dict[str, Any]) -> dict[str, Any]:
    text = tree(render_variant("dev", changes))["github/workflows/ci.yml"]
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_scoped_package_names_reach_the_matrix() -> None:
    workflow = _ci({"cicd:pipeline.packages": ["@acme/api", "@acme/web", "shared-lib"]})
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["package"]
    assert matrix == ["@acme/api", "@acme/web", "shared-lib"]


@pytest.mark.parametrize(
    ("packages", "message"),
    [
        (["@acme/Api"], "packages[0] must be an npm package name"),
        (["apps/api"], "packages[0] must be an npm package name"),
        ([], "packages must name at least one package"),
        (["@acme/api", "@acme/api"], "packages names @acme/api more than once"),
        (
            [f"p{i}" for i in range(MAX_MATRIX_JOBS + 1)],
            f"a GitHub matrix runs at most {MAX_MATRIX_JOBS} jobs",
        ),
    ],
    ids=["upper-case", "a-path", "empty", "repeated", "over-the-matrix-limit"],
)
def test_bad_package_lists_fail_at_config_time(packages: list[str], message: str) -> None:
    problems = config_problems("dev", {"cicd:pipeline.packages": packages})
    assert len(problems) == 1
    assert problems[0].startswith("Pulumi.dev.yaml: cicd:pipeline.")
    assert message in problems[0]


def test_the_matrix_limit_itself_is_accepted() -> None:
    packages = [f"p{i}" for i in range(MAX_MATRIX_JOBS)]
    workflow = _ci({"cicd:pipeline.packages": packages})
    assert len(workflow["jobs"]["test"]["strategy"]["matrix"]["package"]) == MAX_MATRIX_JOBS


def test_sarif_upload_switch() -> None:
    on = _ci({})["jobs"]["build"]
    off = _ci({"cicd:pipeline.scanners.sarifUpload": False})["jobs"]["build"]
    assert on["permissions"] == {
        "contents": "read",
        "actions": "read",
        "security-events": "write",
    }
    assert off["permissions"] == {"contents": "read"}
    uses_on = [s.get("uses", "") for s in on["steps"]]
    uses_off = [s.get("uses", "") for s in off["steps"]]
    assert any("upload-sarif" in u for u in uses_on)
    assert not any("upload-sarif" in u for u in uses_off)
    trivy_off = next(s for s in off["steps"] if "trivy-action" in s.get("uses", ""))
    assert trivy_off["with"]["exit-code"] == "1"
    assert trivy_off["with"]["format"] == "table"


def test_no_develop_where_config_decides_the_branch() -> None:
    text = tree(
        render_variant(
            "dev",
            {
                "cicd:app.defaultBranch": "trunk",
                "cicd:approval.branches": ["trunk"],
                "cicd:branchProtection.branch": "trunk",
            },
        )
    )
    for path in ("github/workflows/ci.yml", "github/workflows/dev-deploy.yml"):
        assert re.search(r"\bdevelop\b", text[path]) is None, path
    assert "refs/heads/trunk" in text["github/workflows/ci.yml"]


# --------------------------------------------------------------------------------------------
# Embedded scripts
# --------------------------------------------------------------------------------------------

SCRIPTS = sorted(p.name for p in SCRIPTS_DIR.glob("*.sh"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_passes_shellcheck(name: str) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "shellcheck"), "--shell=bash", "--severity=style", str(SCRIPTS_DIR / name)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


def test_shellcheck_finds_a_real_bug() -> None:
    """The check above can fail: an unquoted variable is a finding."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as broken:
        broken.write('#!/usr/bin/env bash\ncp $SOURCE "$TARGET"\n')
        broken.flush()
        done = subprocess.run(
            [str(VENV_BIN / "shellcheck"), broken.name], capture_output=True, text=True
        )
    assert done.returncode != 0
    assert "SC2086" in done.stdout


TEAMS_AND_EMAIL: Final[dict[str, Any]] = {
    "cicd:pipeline.notifications": {
        "channels": ["teams", "email"],
        "email": {
            "to": ["ops@acme.example"],
            "sender": "ci@acme.example",
            "smtpServer": "smtps://smtp.acme.example",
        },
    },
    "cicd:teamsWebhookUrl": {"secure": "v1:dA=="},
    "cicd:smtpCredentials": {"secure": "v1:cw=="},
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_is_embedded_in_a_workflow(name: str) -> None:
    body = script(name)
    assert "${{" not in body
    # every stack as shipped, dev on a plan without code scanning and attestations (notice.sh),
    # staging with GitHub OIDC access to the cluster (kubeconfig_oidc.sh)
    variants = (
        *(files(stack) for stack in STACKS),
        tree(render_variant("dev", {"cicd:pipeline.github": DELETE})),
        tree(render_variant("staging", {"cicd:cluster.access": "githubOidc"})),
        # prod deploying from its ARC scale set with its ServiceAccount (kubeconfig_in_cluster.sh)
        tree(in_cluster_render()),
    )
    if name in ("notify_teams.sh", "notify_email.sh"):  # a route to Teams and e-mail
        variants = (*variants, tree(render_variant("dev", TEAMS_AND_EMAIL)))
    runs = [
        step.get("run", "")
        for tree_files in variants
        for rel, text in tree_files.items()
        if rel.startswith("github/workflows/")
        for job in yaml.safe_load(text)["jobs"].values()
        for step in job["steps"]
    ]
    # Whole, or composed with another script (custody: ran() before the scripts that call it).
    assert any(body in run for run in runs), name


def test_push_script_uses_the_file_names_publish_hands_on() -> None:
    body = script("push_image.sh")
    assert f'"$RUNNER_TEMP/{ci.IMAGE_TARBALL}"' in body
    assert f'"$RUNNER_TEMP/{ci.DIGEST_FILE}"' in body


# --------------------------------------------------------------------------------------------
# Prettier: the application's format check runs over the files the stacks commit
# --------------------------------------------------------------------------------------------


def _prettier_check(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_DIR / "node_modules" / ".bin" / "prettier"), "--check", *map(str, paths)],
        capture_output=True,
        text=True,
    )


def test_committed_files_are_formatted_as_prettier_formats_them() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for stack in STACKS:
            for rel, text in files(stack).items():
                # What `prettier --check .` in the app repository looks at: files it has a
                # parser for (the committed Python package is not its business).
                if (
                    rel.startswith("github/")
                    and rel != "github/settings.yaml"
                    and rel.endswith((".yml", ".yaml", ".json", ".md"))
                ):
                    path = Path(tmp) / stack / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    paths.append(path)
        assert len(paths) >= 5
        done = _prettier_check(paths)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prettier_check_rejects_single_quoted_yaml() -> None:
    """The check above can fail: Prettier wants double quotes where PyYAML's default is single."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.yml"
        path.write_text("a: '22'\n")
        assert _prettier_check([path]).returncode != 0


# --------------------------------------------------------------------------------------------
# The acceptance verdict never reads a failed GitHub API call as "nothing newer"
# --------------------------------------------------------------------------------------------

_FAILING_GH = """#!/bin/sh
# gh as it behaves on a 5xx or a rate limit for reads (exit 1, message on stderr); POSTs are
# recorded so the test sees whether a verdict was written.
case "$*" in
  *"--method POST"*) echo "$*" >> "$GH_CALLS"; exit 0 ;;
  *"--method GET"*deployments*) [ "$FAIL" = list ] && { echo "HTTP 502" >&2; exit 1; }; echo 9 ;;
  *statuses*) [ "$FAIL" = statuses ] && { echo "HTTP 502" >&2; exit 1; }; echo true ;;
esac
"""


@pytest.mark.parametrize("fail", ["list", "statuses"])
def test_accept_fails_when_github_cannot_answer(fail: str, tmp_path: Path) -> None:
    """deployment_accept.sh (after deployment_ran.sh, as the workflow composes them), run as
    GitHub runs a ``bash`` step (``bash --noprofile --norc -eo pipefail``): a failed read of the
    deployments or of a deployment's statuses ends the step without a verdict, instead of
    skipping the "a newer release replaced this one" check and recording success."""
    gh = tmp_path / "gh"
    gh.write_text(_FAILING_GH)
    gh.chmod(0o755)
    calls = tmp_path / "calls"
    body = script("deployment_ran.sh") + "\n" + script("deployment_accept.sh")
    env = {
        "PATH": f"{tmp_path}:/usr/bin:/bin",
        "GH_CALLS": str(calls),
        "FAIL": fail,
        "RESULTS": "e2e=success performance=success",
        "DEPLOYMENT_ID": "5",
        "ENVIRONMENT": "staging",
        "ACCEPTED_VERDICT": "healthy; acceptance passed",
        "GITHUB_REPOSITORY": "acme/shop",
        "RUN_URL": "https://github.com/acme/shop/actions/runs/1",
        "APP_URL": "https://staging.example.com",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", body],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0, done.stdout
    assert not calls.exists(), "a verdict was written although GitHub did not answer"
