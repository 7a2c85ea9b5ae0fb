"""``python -m render ci-cost``: job levels and installs read from the rendered workflows."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from render.ci_cost import job_levels, workflow_cost
from render.engine import PROJECT_DIR
from tests.conftest import files

FOUR_LEVELS = """\
jobs:
  validate: {steps: [{uses: actions/setup-node@x, with: {node-version: "22"}}, {run: npm ci}]}
  build: {needs: [validate], steps: [{uses: docker/setup-buildx-action@x}]}
  scan: {needs: build, steps: [{uses: actions/download-artifact@x}]}
  publish: {needs: [build, scan], steps: [{uses: actions/download-artifact@x}]}
  notify: {needs: [publish], steps: [{run: echo}]}
"""
"""The shape of ci.yml before issue 27: build after the tests, scan after build."""


def test_levels_count_the_longest_chain_of_needs() -> None:
    cost = workflow_cost("ci.yml", FOUR_LEVELS)
    assert job_levels(yaml.safe_load(FOUR_LEVELS)["jobs"]) == {
        "validate": 1,
        "build": 2,
        "scan": 3,
        "publish": 4,
        "notify": 5,
    }
    assert (cost.key_job, cost.key_level, cost.levels) == ("publish", 4, 5)
    installs = {job.job: job.installs for job in cost.jobs}
    assert installs["validate"] == ("node", "npm ci")
    assert installs["publish"] == ("artifact download",)
    assert not any(job.npm_cache for job in cost.jobs)


def test_the_dev_stack_reaches_a_pushed_digest_in_two_levels() -> None:
    """build and its Trivy scan run beside the tests; publish is the second level; the image
    is downloaded once; only jobs that publish nothing use the npm cache."""
    cost = workflow_cost("ci.yml", files("dev")["github/workflows/ci.yml"])
    assert (cost.key_job, cost.key_level) == ("publish", 2)
    jobs = {job.job: job for job in cost.jobs}
    downloads = [j.job for j in cost.jobs for what in j.installs if what == "artifact download"]
    assert downloads == ["publish"]
    assert {j.job for j in cost.jobs if j.npm_cache} == {"validate", "test", "integration"}
    assert jobs["snyk"].installs[0].startswith("npx snyk@")
    release = workflow_cost("release.yml", files("dev")["github/workflows/release.yml"])
    assert (release.key_job, release.key_level) == ("release", 1)
    assert "node" not in release.jobs[0].installs


@pytest.mark.subprocess
def test_the_command_prints_levels_and_installs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "render", "ci-cost", "dev"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "  ci.yml: 2 job level(s) to publish; 3 level(s) in all" in done.stdout
    assert "    L1 validate: installs node, npm ci (npm cache)" in done.stdout
