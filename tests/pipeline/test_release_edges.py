"""Executed scenarios of the release edges of issue 27 (docs/release-edges.md).

Each runs the generated deploy workflows with act on the harness (tests/pipeline/harness.py),
with the same fakes and seeds as tests/pipeline/test_deploy_release.py: the fake kubectl walks
the rendered Rollout's canary on the simulated clock (an abort sends it back to step 0, a retry
starts it again, as Argo Rollouts v1.8.3 does), the fake gh holds GitHub's deployment records.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.workflows.custody import ACCEPTED_VERDICT
from tests.pipeline.harness import (
    REPOSITORY,
    HttpRule,
    Pipeline,
    RunResult,
    Scenario,
    github_values,
    stack_files,
    stack_workflow,
    without_jobs,
)
from tests.pipeline.test_deploy_release import (
    ACCEPTANCE_PENDING,
    FILE,
    IMAGE,
    NEW,
    SIGNED_BY_CI,
    accepted_in,
    deploy_job_status,
    deployments,
    dispatch,
    image,
    kubectl_writes,
    live,
    pipeline,
    running_rollout,
)

pytestmark = pytest.mark.pipeline


# --------------------------------------------------------------------------------------------
# 1. An aborted canary can be retried (action retry), and a plain redeploy says so
# --------------------------------------------------------------------------------------------


def test_an_aborted_canary_is_refused_as_a_redeploy_and_runs_again_with_retry(
    tmp_path: Path,
) -> None:
    pipe = pipeline(tmp_path, "staging", analysis_fails_at_step=(2,))
    first = dispatch(pipe, "staging")
    assert first.jobs["deploy"] == "failure", first.output
    assert live(pipe)["status"]["abort"] is True
    writes = len(kubectl_writes(pipe))

    # The same digest again with action deploy: Argo Rollouts would keep it aborted (no spec
    # change); the run refuses before the cluster and says what to do.
    again = dispatch(pipe, "staging", run_id="2")
    assert again.jobs["deploy"] == "failure", again.output
    assert again.step("deploy", "Refuse to deploy an aborted canary again") == "failure"
    assert any("with action retry and the same release" in e for e in again.annotations("error"))
    assert len(kubectl_writes(pipe)) == writes
    refused = deployments(pipe)[-1]["statuses"][0]
    assert refused["state"] == "failure" and "refused before" in refused["description"]

    # The analysis is fixed (say, its metric source was down): retry runs the canary again.
    pipe.change(replace(pipe.scenario, analysis_fails_at_step=()))
    retried = dispatch(pipe, "staging", action="retry", run_id="3")
    assert retried.jobs["verify"] == "success", retried.output
    assert retried.jobs["deploy"] == "success", retried.output
    assert retried.step("deploy", "Retry the aborted canary") == "success"
    retry_patches = [w for w in kubectl_writes(pipe) if '{"status":{"abort":false}}' in w]
    assert len(retry_patches) == 1
    status = live(pipe)["status"]
    assert status["phase"] == "Healthy" and status["abort"] is False
    assert image(pipe) == f"{IMAGE}@{NEW}"
    # A retry is a new release of the digest: its own GitHub deployment, the aborted one kept.
    first_record, _refused, retry_record = deployments(pipe)
    assert first_record["statuses"][0]["state"] == "failure"
    assert retry_record["payload"]["digest"] == NEW
    assert deploy_job_status(retry_record) == ("in_progress", ACCEPTANCE_PENDING)


def test_retry_refuses_a_canary_that_is_not_aborted(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging")
    assert dispatch(pipe, "staging").jobs["deploy"] == "success"
    writes = len(kubectl_writes(pipe))
    healthy = dispatch(pipe, "staging", action="retry", run_id="2")
    assert healthy.step("deploy", "Retry the aborted canary") == "failure"
    assert any("is not aborted: nothing to retry" in e for e in healthy.annotations("error"))
    assert len(kubectl_writes(pipe)) == writes
    assert live(pipe)["status"]["phase"] == "Healthy"


# --------------------------------------------------------------------------------------------
# 3. Concurrency: the environment is serialized, no waiting run is cancelled
# --------------------------------------------------------------------------------------------


class GitHubConcurrency:
    """GitHub's concurrency rule, played over the rendered workflow files (act models none).

    Assumed behaviour, from GitHub's "Control the concurrency of workflows and jobs"
    (docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/
    control-workflow-concurrency, as stored 2026-12) and the changelog "GitHub Actions concurrency
    groups now allow larger queues" (2026-05-07): in a group at most one job or run is in
    progress; one queued behind it is pending; by default (``queue: single``) an existing pending
    one is cancelled and the new one takes its place; with ``queue: max`` up to 100 wait and start
    in the order they began to wait; ``cancel-in-progress: true`` also cancels the running one.
    The group that serializes is the workflow's, unless that one is per run (it names
    ``github.run_id``: no two runs share it, so it holds nobody back); then the deploy job's. The
    expression forms the deploy workflows use (``inputs.action == 'x' && 'a' || 'b'``,
    ``github.workflow``, ``github.run_id``) are evaluated; anything else fails the test rather than
    being guessed.
    """

    _CHOICE = re.compile(r"\$\{\{ inputs\.(\w+) == '(\w+)' && '(\w+)' \|\| '(\w+)' \}\}")

    def __init__(self, workflow: dict[str, Any]) -> None:
        found = workflow.get("concurrency")
        if found is None or "${{ github.run_id }}" in str(found["group"]):
            found = workflow["jobs"]["deploy"].get("concurrency")
        assert found, "nothing serializes the deploy job"
        self.spec: dict[str, Any] = found
        self.workflow = str(workflow["name"])
        self.running: dict[str, str] = {}
        self.pending: dict[str, list[str]] = {}
        self.cancelled: list[str] = []
        self.started: list[str] = []

    def _group(self, inputs: dict[str, str]) -> str:
        def choose(match: re.Match[str]) -> str:
            name, value, then, otherwise = match.groups()
            return then if inputs[name] == value else otherwise

        group = self._CHOICE.sub(choose, str(self.spec["group"]))
        group = group.replace("${{ github.workflow }}", self.workflow)
        assert "${{" not in group, f"expression not modelled: {group}"
        return group.lower()  # group names are case-insensitive

    def queue(self, run: str, inputs: dict[str, str]) -> None:
        group = self._group(inputs)
        if group not in self.running:
            self.running[group] = run
            self.started.append(run)
            return
        if self.spec.get("cancel-in-progress") is True:
            self.cancelled.append(self.running[group])
            self.running[group] = run
            self.started.append(run)
            return
        waiting = self.pending.setdefault(group, [])
        if self.spec.get("queue") != "max" and waiting:
            self.cancelled.extend(waiting)
            waiting.clear()
        assert len(waiting) < 100
        waiting.append(run)

    def finish(self, run: str) -> None:
        (group,) = [g for g, r in self.running.items() if r == run]
        del self.running[group]
        if self.pending.get(group):
            nxt = self.pending[group].pop(0)
            self.running[group] = nxt
            self.started.append(nxt)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_three_dispatches_while_one_waits_for_approval_all_deploy_in_order(stack: str) -> None:
    """Run 1's deploy job waits for its reviewers (days, it can be); runs 2 and 3 are dispatched
    meanwhile. Before, the workflow-level group kept one pending run: run 3 cancelled run 2,
    silently. Now every release waits its turn, and an abort still starts at once."""
    github = GitHubConcurrency(yaml.safe_load(stack_workflow(stack, FILE[stack])))
    release = {"action": "deploy", "release": NEW}
    github.queue("1", release)
    github.queue("2", release)
    github.queue("3", {**release, "action": "promote"})
    github.queue("abort", {**release, "action": "abort"})
    assert github.started == ["1", "abort"]
    github.finish("1")
    assert github.cancelled == [], "a release waiting for the environment was cancelled"
    github.finish("2")
    assert github.started == ["1", "abort", "2", "3"]


def test_the_dev_deploy_job_queues_every_ci_run_for_the_environment() -> None:
    """Three CI runs on develop finish while dev deploys: each dev-deploy run's deploy job waits
    its turn (the backwards check then skips what is older than what runs)."""
    workflow = yaml.safe_load(stack_files("dev")[".github/workflows/dev-deploy.yml"])
    github = GitHubConcurrency(workflow)
    for run in ("41", "42", "43"):
        github.queue(run, {})
    github.finish("41")
    github.finish("42")
    assert github.cancelled == [] and github.started == ["41", "42", "43"]


# --------------------------------------------------------------------------------------------
# 2. dev -> staging order; 4. dev never goes backwards
# --------------------------------------------------------------------------------------------

DEV_IMAGE_DIGEST = {"1": "sha256:" + "a" * 64, "2": "sha256:" + "b" * 64, "3": "sha256:" + "d" * 64}
C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40
HISTORY = {C1: [], C2: [C1], C3: [C2]}
"""develop's history: C1 <- C2 <- C3 (the fake gh's compare API walks it)."""


def dev_deployment(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "webshop", "namespace": "webshop-dev", "generation": 1},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "webshop", "image": image}]}},
        },
    }


def dev_pipeline(
    tmp_path: Path,
    running: str,
    github: dict[str, Any],
    *,
    integration_exit: int | None = None,
    extra_objects: tuple[dict[str, Any], ...] = (),
) -> Pipeline:
    """dev-deploy.yml over a repository whose commit really exists; ``integration_exit`` set:
    the app's integration tests (a node one-liner) exit with it, else they are dropped, and
    the accept job that records their verdict with them."""
    scenario = Scenario(
        http=(HttpRule(r"^https://webshop\.(dev\.|staging\.)?acme\.example/"),),
        kube_objects=(dev_deployment(running), *extra_objects),
        signatures={NEW: SIGNED_BY_CI},
        github=github,
    )
    pipe = Pipeline(tmp_path, scenario, app=None)
    workflow = stack_files("dev")[".github/workflows/dev-deploy.yml"]
    if integration_exit is None:
        jobs = yaml.safe_load(workflow)["jobs"]
        workflow = without_jobs(workflow, *(j for j in ("integration-test", "accept") if j in jobs))
    else:
        pipe.add_files(app_with_script("test:integration", integration_exit))
    pipe.add_workflow("dev-deploy.yml", workflow)
    pipe.add_workflow(FILE["staging"], stack_workflow("staging", FILE["staging"]))
    return pipe


def app_with_script(name: str, exit_code: int) -> dict[str, str]:
    """package.json + lockfile of an app whose ``npm run NAME`` exits with ``exit_code``."""
    package = {"name": "acme-shop", "version": "1.4.2", "private": True}
    return {
        "package.json": json.dumps(
            {**package, "scripts": {name: f"node -e 'process.exit({exit_code})' --"}}
        ),
        "package-lock.json": json.dumps(
            {
                **package,
                "lockfileVersion": 3,
                "requires": True,
                "packages": {"": {"name": "acme-shop", "version": "1.4.2"}},
            }
        ),
    }


def dev_run(pipe: Pipeline, ci_run: str, commit: str, digest: str) -> RunResult:
    """dev-deploy.yml for CI run ``ci_run`` of ``commit`` on develop, which published ``digest``."""
    artifact = pipe.state / "artifacts" / ci_run / "image-digest"
    artifact.mkdir(parents=True, exist_ok=True)
    (artifact / "digest.txt").write_text(digest + "\n")
    variables, environments = github_values("dev", None, {"KUBECONFIG": "apiVersion: v1\n"})
    return pipe.run(
        "workflow_run",
        "dev-deploy.yml",
        payload={
            "action": "completed",
            "workflow_run": {
                "id": int(ci_run),
                "name": "CI",
                "event": "push",
                "conclusion": "success",
                "head_branch": "develop",
                "head_sha": commit,
                "head_repository": {"full_name": REPOSITORY},
            },
        },
        variables=variables,
        environments=environments,
        run_id=f"{ci_run}0",
    )


def dev_image(pipe: Pipeline) -> str:
    spec = pipe.kube_object("Deployment", "webshop")["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


def records(pipe: Pipeline, environment: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((pipe.state / "github.json").read_text())
    return [d for d in data["deployments"] if d["environment"] == environment]


@pytest.mark.parametrize("passes", [True, False], ids=["tests-pass", "tests-fail"])
def test_dev_verdict_includes_its_integration_tests_and_staging_requires_it(
    tmp_path: Path, passes: bool
) -> None:
    """Before, dev marked its deployment success before the integration tests ran, and staging
    only asked for a green CI run: a digest whose integration tests failed in dev reached staging.
    Now dev's accept job records the verdict after them, and staging asks dev's verdict with the
    rule prod asks staging's."""
    pipe = dev_pipeline(
        tmp_path,
        "ghcr.io/acme/webshop:1.4.1",
        {"ci_runs": []},
        integration_exit=0 if passes else 1,
        extra_objects=(running_rollout("staging"),),
    )
    commit = pipe.sha
    pipe.change(replace(pipe.scenario, signatures={NEW: {**SIGNED_BY_CI, "commit": commit}}))
    dev = dev_run(pipe, "41", commit, NEW)
    assert dev.jobs["deploy"] == "success", dev.output
    assert dev.jobs["integration-test"] == ("success" if passes else "failure"), dev.output
    (record,) = records(pipe, "development")
    chronological = [(s["state"], s["description"]) for s in reversed(record["statuses"])]
    # queued, in_progress, the deploy job's "tests pending", then the accept job's verdict.
    assert chronological[2] == ("in_progress", "healthy; acceptance pending: integration-test")
    if passes:
        assert chronological[-1] == ("success", ACCEPTED_VERDICT)
    else:
        assert chronological[-1][0] == "failure"
        assert "integration-test (failure)" in chronological[-1][1]
    assert dev_image(pipe) == f"{IMAGE}@{NEW}"

    staging = dispatch(pipe, "staging", run_id="50")
    if passes:
        assert staging.jobs["verify"] == "success", staging.output
    else:
        assert staging.jobs["verify"] == "failure", staging.output
        assert staging.jobs["deploy"] == "skipped"
        assert any("to development" in e and "not accepted" in e
                   for e in staging.annotations("error", "verify")), staging.notes  # fmt: skip


def test_dev_skips_an_older_commit_than_it_runs_and_deploys_a_newer_one(tmp_path: Path) -> None:
    """dev runs C2's image. A late CI run of C1 (an ancestor) arrives, out of order or re-run:
    before, it replaced the newer image. Now it is skipped with a notice, the run is not a
    failure, and nothing is recorded or changed; C3 (a descendant) then deploys."""
    running = f"{IMAGE}@{DEV_IMAGE_DIGEST['2']}"
    github = {
        "deployments": [accepted_in("development", C2, DEV_IMAGE_DIGEST["2"], 5)],
        "commits": HISTORY,
    }
    pipe = dev_pipeline(tmp_path, running, github)
    late = dev_run(pipe, "41", C1, DEV_IMAGE_DIGEST["1"])
    assert late.returncode == 0, late.output
    assert late.jobs["deploy"] == "success", late.output
    assert dev_image(pipe) == running
    assert not [c for c in pipe.calls("kubectl") if "set" in c["argv"]]
    assert len(records(pipe, "development")) == 1  # no deployment opened for the skip
    assert any(
        f"commit {C1} is not newer than {C2}" in n for n in late.annotations("notice", "deploy")
    ), late.notes
    assert late.jobs["notify"] == "success"

    newer = dev_run(pipe, "43", C3, DEV_IMAGE_DIGEST["3"])
    assert newer.jobs["deploy"] == "success", newer.output
    assert dev_image(pipe) == f"{IMAGE}@{DEV_IMAGE_DIGEST['3']}"
    assert records(pipe, "development")[-1]["statuses"][0] == {
        "state": "in_progress",
        "description": "healthy; acceptance pending: integration-test",
    }
    # The same digest again (a re-run of the CI run that published it): already running.
    again = dev_run(pipe, "43", C3, DEV_IMAGE_DIGEST["3"])
    assert again.jobs["deploy"] == "success"
    assert any("already runs" in n for n in again.annotations("notice", "deploy")), again.notes


def test_dev_fails_red_on_a_diverged_history_instead_of_freezing(tmp_path: Path) -> None:
    """dev runs C2's image; develop was force-pushed, so C4 (parent C1) does not descend from
    C2 and every later commit compares as diverged. A green skip would freeze dev for good
    without anyone noticing: the deploy job fails, says what to do, and changes nothing."""
    c4 = "4" * 40
    running = f"{IMAGE}@{DEV_IMAGE_DIGEST['2']}"
    github = {
        "deployments": [accepted_in("development", C2, DEV_IMAGE_DIGEST["2"], 5)],
        "commits": {**HISTORY, c4: [C1]},
    }
    pipe = dev_pipeline(tmp_path, running, github)
    rewritten = dev_run(pipe, "44", c4, "sha256:" + "e" * 64)
    assert rewritten.jobs["deploy"] == "failure", rewritten.output
    assert dev_image(pipe) == running
    assert not [c for c in pipe.calls("kubectl") if "set" in c["argv"]]
    assert len(records(pipe, "development")) == 1  # no deployment opened
    assert any("have diverged" in e for e in rewritten.annotations("error", "deploy")), (
        rewritten.notes
    )
