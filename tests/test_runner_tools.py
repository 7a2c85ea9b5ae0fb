"""The deploy job on a self-hosted runner first checks the runner carries every tool its steps
call (components/workflows/runner_tools.py, docs/runners.md); on GitHub-hosted images it does not.

Given a runner form, when the stack renders, then the job in the environment starts with the
check or not; and the generated check, run by the real bash with a PATH that lacks gh, stops in
one line naming gh and docs/runners.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.workflows.runner_tools import called_commands, needed_tools
from components.workflows.spec import RunsOn
from render.engine import Rendered, render
from render.tree import tree
from tests.arc_project import in_cluster_render
from tests.conftest import project_path, variant

CHECK: Final = "Check the runner has the tools this job calls"
DEPLOY_FILE: Final = {
    "dev": "dev-deploy.yml",
    "staging": "stage-deploy.yml",
    "prod": "prod-deploy.yml",
}
NOT_INSTALLED_HERE: Final = frozenset({"gh", "cosign", "trivy"})
"""Programs the scripts call that are not on this test machine's PATH: gh (GitHub-hosted images
carry it), cosign and trivy (CI jobs on GitHub-hosted runners, after their setup actions)."""


def deploy_steps(result: Rendered, stack: str) -> list[dict[str, Any]]:
    document = yaml.safe_load(tree(result)[f"github/workflows/{DEPLOY_FILE[stack]}"])
    steps: list[dict[str, Any]] = document["jobs"]["deploy"]["steps"]
    return steps


def _with_runner(stack: str, runner: dict[str, Any]) -> Rendered:
    return render(
        stack, project_path(), stack_config=variant(stack, {"cicd:deploy.runner": runner})
    )


# ------------------------------------------------------------------------------------------------
# The lexer: what a script calls
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        ('x="$(kubectl get x | jq -r .a)"\necho "$x"', ("kubectl", "jq")),
        ('if ! curl -f "$u" > /dev/null 2>&1; then sleep 1; fi', ("curl", "sleep")),
        ('case "$K" in\n  Rollout | Deployment) gh api x ;;\n  *) date ;;\nesac', ("gh", "date")),
        (
            'args=(--repository "$R" -f x)\nargs+=(--window 3)\npython -m m "${args[@]}"',
            ("python",),
        ),
        ('ran() { gh api "$1"; }\nif ran 3; then echo ok; fi', ("gh",)),
        (
            "cat > p <<'EOF'\n#!/bin/sh\ncurl -s x | jq .\nEOF\nchmod +x p",
            ("cat", "curl", "jq", "chmod"),
        ),
        ("# gh is not called here\necho 'jq | curl' \"a; sed\"", ()),
        (
            'd=$(( $(date +%s) + 3 ))\nfor i in $(seq 1 3); do tr a b <<<"$i"; done',
            ("date", "seq", "tr"),
        ),
        ("jq --raw-output '\n  .a as $i\n  | any(.b[]?; .c == 1)' <<<\"$x\"", ("jq",)),
    ],
)
def test_the_lexer_finds_the_commands_a_script_calls(
    script: str, commands: tuple[str, ...]
) -> None:
    assert called_commands(script) == commands


def test_every_word_found_in_a_rendered_step_is_a_real_program() -> None:
    # A misread word (a case pattern, an array element, a jq filter) would be asked for on every
    # self-hosted runner and fail every release: every word found must be a program.
    found: set[str] = set()
    for stack in ("dev", "staging", "prod"):
        for name, text in tree(render(stack, project_path())).items():
            if not name.startswith("github/workflows/"):
                continue
            for job in (yaml.safe_load(text).get("jobs") or {}).values():
                for step in job.get("steps", ()):
                    if "run" in step:
                        found.update(called_commands(step["run"]))
    assert {"gh", "jq", "curl", "kubectl"} <= found
    unknown = sorted(w for w in found if shutil.which(w) is None and w not in NOT_INSTALLED_HERE)
    assert unknown == []


# ------------------------------------------------------------------------------------------------
# Where the check is rendered
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "runner"),
    [
        ("dev", {"labels": ["self-hosted", "linux", "x64"]}),
        ("staging", {"group": "deployers"}),
        ("prod", {"group": "deployers", "labels": ["linux"]}),
    ],
)
def test_a_self_hosted_deploy_job_first_checks_its_tools(
    stack: str, runner: dict[str, Any]
) -> None:
    steps = deploy_steps(_with_runner(stack, runner), stack)
    assert steps[0]["name"] == CHECK
    tools = steps[0]["env"]["TOOLS"].split()
    assert {"bash", "curl", "gh", "jq"} <= set(tools)
    # kubectl comes from the Install kubectl step, after the check: it is not asked for.
    assert "kubectl" not in tools
    assert [s["name"] for s in steps].count(CHECK) == 1


def test_the_in_cluster_deploy_job_first_checks_its_tools() -> None:
    steps = deploy_steps(in_cluster_render(), "prod")
    assert steps[0]["name"] == CHECK
    assert {"bash", "curl", "gh", "jq"} <= set(steps[0]["env"]["TOOLS"].split())


@pytest.mark.parametrize("runner", [None, {"labels": ["ubuntu-24.04-arm"]}])
def test_a_github_hosted_deploy_job_has_no_check(runner: dict[str, Any] | None) -> None:
    for stack in ("dev", "prod"):
        result = render(stack, project_path()) if runner is None else _with_runner(stack, runner)
        assert CHECK not in [s["name"] for s in deploy_steps(result, stack)]


def test_runs_on_says_whether_the_runner_is_self_hosted() -> None:
    from components.config.runner import RunnerConfig
    from components.stack import runs_on

    def hosted(**fields: Any) -> bool:
        return runs_on(RunnerConfig.model_validate(fields)).self_hosted

    assert not hosted()
    assert not hosted(labels=["ubuntu-24.04-arm"])
    assert hosted(labels=["self-hosted"])
    assert hosted(group="g")
    # A scale set named like a GitHub image is still the team's own runner.
    assert hosted(scaleSet="ubuntu-24-04")
    assert RunsOn().self_hosted is False


def test_needed_tools_leaves_out_what_an_earlier_action_installs() -> None:
    from components.workflows.common import kube, setup_kubectl

    probe = kube("probe", "kubectl get pods | jq .")
    assert needed_tools((setup_kubectl(), probe)) == ("bash", "jq")
    assert needed_tools((probe, setup_kubectl())) == ("bash", "jq", "kubectl")


# ------------------------------------------------------------------------------------------------
# The check, executed
# ------------------------------------------------------------------------------------------------


def _run_check(step: dict[str, Any], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={**step["env"], "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _bin_dir(root: Path, tools: list[str], without: str) -> Path:
    root.mkdir()
    for tool in tools:
        if tool == without:
            continue
        found = shutil.which(tool) or shutil.which("true")
        assert found is not None
        os.symlink(found, root / tool)
    return root


def test_a_runner_without_gh_stops_the_job_in_one_line(tmp_path: Path) -> None:
    (step, *_rest) = deploy_steps(in_cluster_render(), "prod")
    tools = step["env"]["TOOLS"].split()
    # Given a runner whose PATH has every tool but gh (the official runner image's case),
    missing = _run_check(step, _bin_dir(tmp_path / "without-gh", tools, without="gh"))
    # then the check fails with one line naming gh and where to read what the image needs.
    assert missing.returncode == 1
    assert missing.stdout.splitlines() == [
        f"::error::this self-hosted runner lacks gh, which this job's steps call (it needs: "
        f"{' '.join(tools)}); use a runner image that has them (docs/runners.md)"
    ]
    # And with gh there too, it passes in silence.
    complete = _run_check(step, _bin_dir(tmp_path / "complete", tools, without=""))
    assert (complete.returncode, complete.stdout, complete.stderr) == (0, "", "")
