"""Run one step of a rendered deploy workflow, as GitHub runs it, against the tier's cluster.

The step's ``run:`` script is taken verbatim from the rendered workflow file and run the way a
GitHub-hosted runner runs ``shell: bash`` (``bash --noprofile --norc -eo pipefail``), with the
job's and the step's environment; ``${{ }}`` expressions in that environment (repository
variables, earlier steps' outputs, ``runner.temp``) are given by the test, the one thing a runner
would have filled in. kubectl is the tier's 1.36 build and KUBECONFIG is the credential the test
chooses (the deployer's real token), so every request is answered by the real API server.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from tests.conftest import files

KIND: Final = {"dev": "Deployment", "staging": "Rollout", "prod": "Rollout"}
NAMESPACE: Final = {"dev": "webshop-dev", "staging": "webshop-staging", "prod": "webshop-prod"}

DEPLOY_FILE = {
    "dev": "github/workflows/dev-deploy.yml",
    "staging": "github/workflows/stage-deploy.yml",
    "prod": "github/workflows/prod-deploy.yml",
}


@dataclass(frozen=True)
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


def workflow_step(stack: str, step_name: str) -> tuple[dict[str, str], str]:
    """(environment names without values, script) of the named step of the stack's deploy job."""
    workflow: dict[str, Any] = yaml.safe_load(files(stack)[DEPLOY_FILE[stack]])
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("name") == step_name and "run" in step:
                env = {**(job.get("env") or {}), **(step.get("env") or {})}
                return {str(k): str(v) for k, v in env.items()}, str(step["run"])
    raise KeyError(f"{DEPLOY_FILE[stack]} has no run step named {step_name!r}")


def run_step(
    stack: str,
    step_name: str,
    kubectl: str,
    kubeconfig: Path,
    values: Mapping[str, str],
) -> StepRun:
    """Run the step with ``values`` for its ``${{ }}`` environment entries (every one must be
    given: a step run with a missing value would test nothing)."""
    env_spec, script = workflow_step(stack, step_name)
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    missing = []
    for name, value in env_spec.items():
        if "${{" in value:
            if name not in values and name != "KUBECONFIG":
                missing.append(name)
            env[name] = values.get(name, "")
        else:
            env[name] = value
    if missing:
        raise KeyError(f"step {step_name!r} needs values for {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="step-") as folder:
        bin_dir = Path(folder) / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").symlink_to(kubectl)
        output = Path(folder) / "output"
        output.touch()
        summary = Path(folder) / "summary"
        summary.touch()
        env.update(
            KUBECONFIG=str(kubeconfig),
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(summary),
            PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
        )
    return StepRun(result.returncode, result.stdout, result.stderr, outputs)


def deploy_step(kubectl: str, kubeconfig: Path, stack: str, name: str, **values: str) -> StepRun:
    """A step of the stack's deploy job with the repository variables the stack sets."""
    base = {
        "NAMESPACE": NAMESPACE[stack],
        "WORKLOAD_NAME": "webshop",
        "WORKLOAD_KIND": KIND[stack],
        "IMAGE": "ghcr.io/acme/webshop",
        "APP_URL": "http://unused",
    }
    return run_step(stack, name, kubectl, kubeconfig, {**base, **values})
