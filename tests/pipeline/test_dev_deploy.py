"""Scenario 8, executed: CI then dev-deploy.yml on one simulated cluster.

A push-triggered CI run publishes a digest; dev-deploy, started by that run's ``workflow_run``
event, downloads the digest from that run (``run-id``) and rolls the Deployment in the dev
namespace to exactly that image. A PR-triggered CI run starts dev-deploy too (its branch may be
``develop``, as for a release PR develop -> main) and must skip without touching the cluster.

act does not simulate ``concurrency``: the deploy job's group is asserted on the file (only the
job that changes the environment queues, so a skipping run never enters it).

The dev-deploy integration-test job (and the accept job that records its verdict) is dropped
here: it runs the app's tests against APP_URL with Node's own HTTP client, which no fake can
answer offline (tests/pipeline/test_release_edges.py runs both with a stand-in test script).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.pipeline.harness import (
    APP_JOBS,
    HttpRule,
    Pipeline,
    Response,
    Scenario,
    github_values,
    stack_files,
    without_jobs,
)

pytestmark = pytest.mark.pipeline

CHANGES: Final[dict[str, Any]] = {"cicd:pipeline.packages": ["@acme/api", "@acme/shared"]}
OLD_IMAGE: Final = "ghcr.io/acme/webshop:1.4.1"
DEPLOYMENT: Final[dict[str, Any]] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "webshop", "namespace": "webshop-dev", "generation": 1},
    "spec": {
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "webshop", "image": OLD_IMAGE}]}},
    },
}
SCENARIO: Final = Scenario(
    http=(
        HttpRule(r"^https://webshop\.dev\.acme\.example/"),
        HttpRule(r"discord\.test", (Response(204),)),
    ),
    kube_objects=(DEPLOYMENT,),
)
SECRETS: Final = {
    "DISCORD_WEBHOOK_URL": "https://discord.test/api/webhooks/1/abc",
    "SNYK_TOKEN": "snyk-token-for-tests",
}
"""Repository secrets (every job); the kubeconfig is the dev environment's own."""
ENVIRONMENT_SECRETS: Final = {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"}


def _github() -> dict[str, Any]:
    """``Pipeline.run`` arguments: the repository's secrets and variables (DEV_DEPLOY_ENABLED is
    the switch the jobs' ``if:`` reads) and the dev environment's own variables and kubeconfig,
    which only the job that enters the environment sees, as on GitHub."""
    variables, environments = github_values("dev", CHANGES, ENVIRONMENT_SECRETS)
    return {"secrets": SECRETS, "variables": variables, "environments": environments}


def _pipeline(tmp_path: Path, scenario: Scenario = SCENARIO) -> Pipeline:
    files = stack_files("dev", CHANGES)
    files[".github/workflows/ci.yml"] = without_jobs(files[".github/workflows/ci.yml"], *APP_JOBS)
    deploy = files[".github/workflows/dev-deploy.yml"]
    # accept goes with it: its verdict is the integration tests' (tests/pipeline/
    # test_release_edges.py runs both).
    files[".github/workflows/dev-deploy.yml"] = without_jobs(deploy, "integration-test", "accept")
    pipeline = Pipeline(tmp_path, scenario)
    pipeline.add_files(files)
    return pipeline


def _workflow_run(pipeline: Pipeline, ci_run: str, event: str, branch: str) -> dict[str, Any]:
    return {
        "action": "completed",
        "workflow_run": {
            "id": int(ci_run),
            "name": "CI",
            "event": event,
            "conclusion": "success",
            "head_branch": branch,
            "head_sha": pipeline.sha,
            "head_repository": {"full_name": "acme/shop"},
        },
    }


def test_8_dev_deploy_deploys_the_digest_its_ci_run_published(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    ci = pipeline.run("push", "ci.yml", secrets=SECRETS, run_id="41")
    assert ci.jobs["publish"] == "success", ci.log
    digest = pipeline.artifacts("41")["image-digest"]["digest.txt"].strip()

    deploy = pipeline.run(
        "workflow_run",
        "dev-deploy.yml",
        payload=_workflow_run(pipeline, "41", "push", "develop"),
        **_github(),
        run_id="42",
    )
    assert deploy.jobs["deploy"] == "success", deploy.log
    container = pipeline.kube_object("Deployment", "webshop")["spec"]["template"]["spec"]
    assert container["containers"][0]["image"] == f"ghcr.io/acme/webshop@{digest}"
    downloads = [c for c in pipeline.calls("download-artifact") if c["name"] == "image-digest"]
    assert downloads[-1]["run"] == "41"
    assert deploy.jobs["notify"] == "success"
    # Healthy, and the verdict waits for the integration tests (the accept job, issue 27).
    data = json.loads((pipeline.state / "github.json").read_text())
    (record,) = [d for d in data["deployments"] if d["payload"].get("digest") == digest]
    assert record["statuses"][0] == {
        "state": "in_progress",
        "description": "healthy; acceptance pending: integration-test",
    }


def test_8_discord_answering_500_is_a_warning_and_the_deploy_still_succeeds(
    tmp_path: Path,
) -> None:
    """The Discord note reports a deploy that happened; Discord's outage must not turn the run
    red (a red dev-deploy reads as a failed deploy). Same notifier, same rule as CI's."""
    scenario = Scenario(
        http=(
            HttpRule(r"^https://webshop\.dev\.acme\.example/"),
            HttpRule(r"discord\.test", (Response(500, "discord down"),)),
        ),
        kube_objects=(DEPLOYMENT,),
    )
    pipeline = _pipeline(tmp_path, scenario)
    ci = pipeline.run("push", "ci.yml", secrets=SECRETS, run_id="61")
    assert ci.jobs["publish"] == "success", ci.log
    deploy = pipeline.run(
        "workflow_run",
        "dev-deploy.yml",
        payload=_workflow_run(pipeline, "61", "push", "develop"),
        **_github(),
        run_id="62",
    )
    assert deploy.returncode == 0, deploy.log
    assert deploy.jobs["deploy"] == "success", deploy.log
    assert deploy.jobs["notify"] == "success", deploy.log
    assert deploy.step("notify", "Deploy status to Discord") == "success"
    discord = [c for c in pipeline.calls("curl") if "discord" in c["url"]]
    assert discord and {c["status"] for c in discord} == {500}
    assert any(
        "the Discord notification failed" in w for w in deploy.annotations("warning", "notify")
    ), deploy.annotations("warning")


def test_8_dev_deploy_after_a_pull_request_run_skips(tmp_path: Path) -> None:
    """A release PR develop -> main runs CI with head_branch develop: dev-deploy starts, skips."""
    pipeline = _pipeline(tmp_path)
    deploy = pipeline.run(
        "workflow_run",
        "dev-deploy.yml",
        payload=_workflow_run(pipeline, "51", "pull_request", "develop"),
        **_github(),
        run_id="52",
    )
    assert deploy.jobs["deploy"] == "skipped"
    assert deploy.jobs["notify"] == "skipped"
    assert pipeline.calls("kubectl") == []
    image = pipeline.kube_object("Deployment", "webshop")["spec"]["template"]["spec"]
    assert image["containers"][0]["image"] == OLD_IMAGE


def test_8_a_skipping_run_never_enters_the_deploy_concurrency_group() -> None:
    """The group is on the deploy job, not the run (issue 27): a run whose deploy job skips (a
    PR's CI run) never queues for the environment, and deploying runs all keep their place
    (``queue: max``; tests/pipeline/test_release_edges.py plays GitHub's rule)."""
    workflow = yaml.safe_load(stack_files("dev", CHANGES)[".github/workflows/dev-deploy.yml"])
    assert workflow["concurrency"]["group"] == "${{ github.workflow }}-${{ github.run_id }}"
    deploy = workflow["jobs"]["deploy"]
    assert "workflow_run.event == 'push'" in deploy["if"]
    assert deploy["concurrency"] == {
        "group": "deploy-development",
        "cancel-in-progress": False,
        "queue": "max",
    }, json.dumps(deploy["concurrency"])
