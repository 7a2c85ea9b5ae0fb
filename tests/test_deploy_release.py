"""Releases that complete and rollbacks that restore, as the render shows them (issues 12, 16).

One source: the canary config becomes the Rollout's steps, its progress deadline and rollback
window, the workflow's waits and the job's timeout. The executed behaviour of the scripts is in
tests/pipeline/.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.config import deploy_switch_variable
from render.engine import Rendered
from render.tree import kubernetes_objects, tree
from tests.conftest import config_problems, files, render_variant, rendered
from tests.workflow_refs import source

DEPLOY_FILE = {"dev": "dev-deploy.yml", "staging": "stage-deploy.yml", "prod": "prod-deploy.yml"}


def workflow(result: Rendered | str, stack: str) -> dict[str, Any]:
    tree_files = files(result) if isinstance(result, str) else tree(result)
    data: dict[str, Any] = yaml.safe_load(tree_files[f"github/workflows/{DEPLOY_FILE[stack]}"])
    return data


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"] if s["name"] == name]
    assert len(found) == 1, name
    return found[0]


def rollout(result: Rendered) -> dict[str, Any]:
    (obj,) = [o for o in kubernetes_objects(result).values() if o["kind"] == "Rollout"]
    return obj


# --------------------------------------------------------------------------------------------
# 1. One source for steps and timing; config that cannot fit is rejected
# --------------------------------------------------------------------------------------------


def test_prod_timing_is_derived_from_the_steps() -> None:
    spec = rollout(rendered("prod"))["spec"]
    assert spec["progressDeadlineSeconds"] == 180  # canary.stepDeadline default 3m
    assert spec["progressDeadlineAbort"] is True
    assert spec["rollbackWindow"] == {"revisions": 2}
    deploy = workflow("prod", "prod")["jobs"]["deploy"]
    # Up to the manual pause at 50%: 5m + 5m of pauses and three weight steps of up to 3m,
    # plus a minute of polling slack. The old fixed 600 s could never fit the 10 minutes.
    wait = step(deploy, "Wait until the rollout is healthy or paused")
    assert wait["env"]["TIMEOUT_SECONDS"] == str(300 + 300 + 3 * 180 + 60)
    assert step(deploy, "Wait for the rollback")["env"]["TIMEOUT_SECONDS"] == str(180 + 60)
    assert deploy["timeout-minutes"] == 60


def test_a_change_to_the_steps_moves_the_workflow_with_it() -> None:
    longer = render_variant("prod", {"cicd:canary.steps[0].pause": "15m"})
    assert rollout(longer)["spec"]["strategy"]["canary"]["steps"][1] == {
        "pause": {"duration": "15m"}
    }
    deploy = workflow(longer, "prod")["jobs"]["deploy"]
    wait = step(deploy, "Wait until the rollout is healthy or paused")
    assert wait["env"]["TIMEOUT_SECONDS"] == str(900 + 300 + 3 * 180 + 60)
    staging = workflow("staging", "staging")["jobs"]["deploy"]
    wait = step(staging, "Wait until the rollout is healthy or paused")
    assert wait["env"]["TIMEOUT_SECONDS"] == str(120 + 2 * 180 + 60)


def test_a_timeout_shorter_than_the_steps_is_rejected() -> None:
    assert config_problems("prod", {"cicd:deploy.rolloutTimeout": "10m"}) == [
        "Pulumi.prod.yaml: cicd:deploy.rolloutTimeout must be at least 1200s: the canary steps "
        "between manual pauses take up to that (pauses plus 3m per weight step) (got 10m)"
    ]
    # Long enough is accepted and used as is.
    ok = render_variant("prod", {"cicd:deploy.rolloutTimeout": "25m"})
    wait = step(
        workflow(ok, "prod")["jobs"]["deploy"], "Wait until the rollout is healthy or paused"
    )
    assert wait["env"]["TIMEOUT_SECONDS"] == "1500"


def test_a_job_timeout_shorter_than_the_wait_is_rejected() -> None:
    (line,) = config_problems("prod", {"cicd:deploy.jobTimeoutMinutes": 30})
    assert line.startswith("Pulumi.prod.yaml: cicd:deploy.jobTimeoutMinutes must be at least 33:")
    assert line.endswith("(got 30)")
    (line,) = config_problems(
        "prod", {"cicd:canary.steps[0].pause": "1h", "cicd:deploy.jobTimeoutMinutes": 60}
    )
    assert "cicd:deploy.jobTimeoutMinutes must be at least 88" in line


# --------------------------------------------------------------------------------------------
# 3, 4, 6. Rollback, manual pause, cancel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_environment_job_records_stable_then_rolls_back_or_aborts(stack: str) -> None:
    release = workflow(stack, stack)
    jobs = release["jobs"]
    deploy = jobs["deploy"]
    names = [s["name"] for s in deploy["steps"]]
    assert names.index("Record the stable image") < names.index("Set the new image")
    record = step(deploy, "Record the stable image")["run"]
    assert ".status.stableRS" in record and "rollouts-pod-template-hash=$hash" in record
    rollout_branch = record.split("Deployment)")[0]
    # Rollout: the image of the stable ReplicaSet's template, never the Rollout's own spec.
    assert rollout_branch.count(".spec.template") == 1
    assert "[.items[].spec.template.spec.containers[]" in rollout_branch
    rollback = step(deploy, "Roll back to the stable image")
    assert source(release, "deploy", rollback["env"]["NEW_IMAGE"]) == (
        "step Record the stable image: output image"
    )
    health = step(deploy, "Check the app's health endpoint")
    assert f"steps.{health['id']}.outcome == 'failure'" in rollback["if"]
    abort = step(deploy, "Abort the canary this run started")
    assert abort["if"].startswith("(failure() || cancelled()) && ")
    wait = step(deploy, "Wait until the rollout is healthy or paused")
    assert f"steps.{wait['id']}.outputs.state != 'healthy'" in abort["if"]
    assert '{"status":{"abort":true}}' in abort["run"]
    # Rollback happens in the approved job: no second job in the environment, no second approval.
    assert [k for k, job in jobs.items() if "environment" in job] == ["deploy"]


def test_the_workflow_never_promotes_a_manual_pause_on_its_own() -> None:
    prod = workflow("prod", "prod")
    deploy = prod["jobs"]["deploy"]
    promoting = [
        s["name"]
        for s in deploy["steps"]
        if '{"status":{"pauseConditions":null}}' in s.get("run", "")
    ]
    assert promoting == ["Promote the paused canary"]
    assert step(deploy, "Promote the paused canary")["if"] == "inputs.action == 'promote'"
    wait = step(deploy, "Wait until the rollout is healthy or paused")
    assert "state=paused" in wait["run"] and '"$NAMESPACE" patch' not in wait["run"]
    assert source(prod, "deploy", wait["env"]["PROMOTED_FROM"]) == (
        "step Promote the paused canary: output step"
    )


# --------------------------------------------------------------------------------------------
# 5. The deploy switch, one contract for every stack
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_deploy_enabled_false_makes_every_workflow_inert(stack: str) -> None:
    variable = deploy_switch_variable(stack)
    off = render_variant(stack, {"cicd:deploy.enabled": False})
    settings = yaml.safe_load(tree(off)["github/settings.yaml"])
    assert settings["repository_variables"][variable] == "false"
    jobs = workflow(off, stack)["jobs"]
    # A job runs only if guarded, or if it needs a job and nothing makes it run past a skip.
    past_skip = {
        "notify": "needs.deploy.result != 'skipped'",
        "security-alert": "needs.security-scan.result == 'failure'",
        "accept": "needs.deploy.result == 'success'",
    }
    for job_id, job in jobs.items():
        condition = job.get("if", "")
        if f"vars.{variable} == 'true'" in condition:
            continue
        assert job.get("needs"), job_id
        if "always()" in condition:
            assert past_skip[job_id] in condition, job_id
        if "environment" in job:
            assert job["steps"][0]["if"] == "vars.DEPLOY_ENABLED != 'true'"
    on = yaml.safe_load(files(stack)["github/settings.yaml"])["repository_variables"]
    assert on == {variable: "false" if stack == "prod" else "true"}


# --------------------------------------------------------------------------------------------
# 8. Prometheus can reach what the analysis measures
# --------------------------------------------------------------------------------------------


def test_prometheus_may_scrape_the_app_where_the_analysis_reads_it() -> None:
    policies = {
        o["metadata"]["name"]: o
        for o in kubernetes_objects(rendered("prod")).values()
        if o["kind"] == "NetworkPolicy"
    }
    scrape = policies["allow-prometheus-scrape"]["spec"]
    assert scrape["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "webshop"}}
    (rule,) = scrape["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [
        {"port": "http", "protocol": "TCP"}
    ]  # by name: docs/field-ownership.md
    moved = render_variant(
        "prod",
        {"cicd:canary.analysis.metricsPort": 9100},
    )
    (rule,) = next(
        o
        for o in kubernetes_objects(moved).values()
        if o["metadata"]["name"] == "allow-prometheus-scrape"
    )["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9100, "protocol": "TCP"}]
    # The monitoring namespace is the platform stack's fact, not repeated in config.
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    # Staging runs the same analysis, so Prometheus scrapes it too; with the ingress-nginx
    # preset the controller is scraped, never the app.
    staging = [o for o in kubernetes_objects(rendered("staging")).values()]
    assert "allow-prometheus-scrape" in {o["metadata"]["name"] for o in staging}
    nginx = render_variant("staging", {"cicd:canary.analysis.metrics": {"preset": "ingress-nginx"}})
    assert "allow-prometheus-scrape" not in {
        o["metadata"]["name"] for o in kubernetes_objects(nginx).values()
    }
    # The scrape rule is Prometheus's only way in: the app port's sources leave it out.
    (app_ingress,) = policies["allow-app-ingress"]["spec"]["ingress"]
    assert {"kubernetes.io/metadata.name": "monitoring"} not in [
        peer.get("namespaceSelector", {}).get("matchLabels") for peer in app_ingress["from"]
    ]


# --------------------------------------------------------------------------------------------
# Issue 16: only signed, verified digests, in promotion order, with a record
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_verification_runs_before_the_environment_job(stack: str) -> None:
    release = workflow(stack, stack)
    jobs = release["jobs"]
    verify = jobs["verify"]
    assert "environment" not in verify and "secrets.KUBECONFIG" not in yaml.safe_dump(verify)
    names = [s["name"] for s in verify["steps"]]
    assert names[:3] == [
        "Resolve the release to one digest",
        "Install cosign",
        "Verify signature and SBOM attestation",
    ]
    signature = step(verify, "Verify signature and SBOM attestation")
    assert signature["env"]["SIGNER_IDENTITY"] == (
        "${{ github.server_url }}/${{ github.repository }}/.github/workflows/ci.yml"
        "@refs/heads/develop"
    )
    assert signature["env"]["OIDC_ISSUER"] == "https://token.actions.githubusercontent.com"
    assert "cosign verify " in signature["run"] and "cosign verify-attestation " in signature["run"]
    assert jobs["deploy"]["needs"] == ["verify"]
    check = step(jobs["deploy"], "Check the verified release")
    assert source(release, "deploy", check["env"]["NEW_IMAGE"]) == (
        "job verify: output image <- step Resolve the release to one digest: output image"
    )
    assert "@sha256:" in check["run"]
    # Both read the previous environment's deployments (issue 27: staging no longer reads CI runs).
    assert verify["permissions"] == {"deployments": "write", "packages": "read"}


def test_promotion_order_comes_from_github_records() -> None:
    """One rule for every pair (issue 27): staging asks development what prod asks staging."""
    checks = {}
    for stack, previous in (("staging", "development"), ("prod", "staging")):
        verify = workflow(stack, stack)["jobs"]["verify"]
        before = step(verify, f"Check it was accepted in {previous}")
        assert before["env"]["PREVIOUS"] == previous
        assert "deployments/$id/statuses" in before["run"]
        assert before["env"]["ACCEPTED_VERDICT"] == "healthy; acceptance passed"
        checks[stack] = before["run"]
    assert checks["staging"] == checks["prod"]


def test_every_release_run_records_a_github_deployment() -> None:
    prod = workflow("prod", "prod")
    jobs = prod["jobs"]
    record = step(jobs["verify"], "Open the GitHub deployment and summarise for the reviewer")
    assert record["env"]["PRODUCTION"] == "true"
    assert "GITHUB_STEP_SUMMARY" in record["run"]
    final = step(jobs["deploy"], "Record the final deployment status")
    assert final["if"] == "always()"
    assert source(prod, "deploy", final["env"]["ROLLBACK"]) == (
        "step Roll back to the stable image: outcome"
    )
    assert jobs["close-deployment"]["needs"] == ["verify", "deploy"]


def test_a_rejected_approval_closes_the_queued_deployment() -> None:
    # A rejected (or timed-out) approval ends the environment job as failure without running a
    # step: the close job must run then too, or the deployment stays queued forever.
    close = workflow("prod", "prod")["jobs"]["close-deployment"]
    assert "needs.deploy.result != 'success'" in close["if"]
    assert "'failure'" not in close["if"]


def test_staging_tests_check_out_the_released_commit() -> None:
    staging = workflow("staging", "staging")
    jobs = staging["jobs"]
    for job in ("e2e", "performance"):
        checkout = jobs[job]["steps"][0]
        # the commit CI's signature names (the verify job's signature check), nothing else
        assert source(staging, job, checkout["with"]["ref"]) == (
            "job deploy: output commit <- job verify: output commit <- "
            "step Verify signature and SBOM attestation: output commit"
        ), job
