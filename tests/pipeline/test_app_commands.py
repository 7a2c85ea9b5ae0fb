"""The shipped stacks' test commands run on the sample app as shipped.

Every job of a deploy workflow that tests the deployed app (dev's integration-test, staging's
e2e, ...) runs its shell steps here, in order, in a copy of tests/pipeline/sample-app, with the
job's ``APP_URL`` pointing at the sample API running on loopback (built with ``tsc --build`` and
started with ``node``, as its Dockerfile does). A command a tool rejects (Vitest refused the
``--base-url`` staging once passed, so every staging release was "not promotable") fails here,
naming the stack, job and step. A k6 script the stack names must exist in the app.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.workflows import pins
from tests.conftest import STACKS, files
from tests.pipeline.harness import SAMPLE_APP
from tests.pipeline.sample_app import npm_env, warm_npm_cache

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

TEST_JOBS: Final = ("integration-test", "e2e")
"""Jobs of the deploy workflows that run the app's own tests against the deployed app."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The sample app installed and built, and the URL of its API running on loopback."""
    root = tmp_path_factory.mktemp("app") / "app"
    shutil.copytree(SAMPLE_APP, root, ignore=shutil.ignore_patterns("node_modules", "dist"))
    warm_npm_cache(SAMPLE_APP)
    env = {**os.environ, **npm_env()}
    env.pop("CI", None)
    for command in (["npm", "ci", "--loglevel=error"], ["npx", "tsc", "--build"]):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        ["node", "apps/api/dist/src/main.js"],
        cwd=root,
        env={**env, "PORT": str(port), "APP_VERSION": "1.4.2"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the sample API did not answer /healthz within 10 s")
        yield root, url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _test_jobs(stack: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, text in files(stack).items():
        if path.startswith("github/workflows/"):
            for job_id, job in yaml.safe_load(text)["jobs"].items():
                if job_id in TEST_JOBS:
                    found.append((path.removeprefix("github/workflows/"), job_id, job))
    return found


def test_every_shipped_stack_has_a_test_job_to_run() -> None:
    """Guards the test below against running nothing: the shipped dev and staging stacks both
    test their deployed app."""
    assert {job for stack in STACKS for _, job, _ in _test_jobs(stack)} == set(TEST_JOBS)


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_test_commands_pass_on_the_sample_app(stack: str, app: tuple[Path, str]) -> None:
    root, url = app
    env = {**os.environ, **npm_env(), "APP_URL": url}
    env.pop("CI", None)
    for workflow, job_id, job in _test_jobs(stack):
        for step in job["steps"]:
            if "run" not in step:
                continue
            done = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            assert done.returncode == 0, (
                f"{stack}: {workflow} job {job_id} step {step['name']!r} failed:\n"
                f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )


def test_the_e2e_tests_fail_without_app_url(app: tuple[Path, str]) -> None:
    """E2E always runs against a deployed app: no APP_URL is a failure, not a silent pass."""
    root, _ = app
    env = {**os.environ, **npm_env()}
    env.pop("APP_URL", None)
    env.pop("CI", None)
    done = subprocess.run(
        ["npm", "run", "test:e2e"], cwd=root, env=env, capture_output=True, check=False
    )
    assert done.returncode != 0


def test_every_k6_script_a_stack_names_is_in_the_app() -> None:
    scripts = {
        (stack, step["with"]["path"])
        for stack in STACKS
        for path, text in files(stack).items()
        if path.startswith("github/workflows/")
        for job_id, job in yaml.safe_load(text)["jobs"].items()
        if job_id == "performance"
        for step in job["steps"]
        if step.get("uses", "").startswith(f"{pins.RUN_K6.repository}@")
    }
    assert scripts, "the shipped staging stack runs a k6 script"
    missing = [
        f"{stack}: {script}"
        for stack, script in sorted(scripts)
        if not (SAMPLE_APP / script).is_file()
    ]
    assert missing == []
