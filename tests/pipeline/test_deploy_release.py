"""Executed scenarios of stage-deploy.yml and prod-deploy.yml (issues 12 and 16).

Each scenario runs the generated workflow with act on the harness (tests/pipeline/harness.py):
the fake kubectl walks the rendered Rollout's canary steps on the simulated clock, the fake
cosign knows who really signed each digest, the fake gh holds GitHub's deployment records.
"""

from __future__ import annotations

import copy
import hashlib
import json
import signal
import subprocess
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.workflows.common import READ_FAILURES_TOLERATED
from components.workflows.custody import ACCEPTED_VERDICT
from render.engine import render
from render.tree import kubernetes_objects
from tests.conftest import variant
from tests.pipeline.harness import (
    REPOSITORY,
    GitHubEnvironment,
    HttpRule,
    Pipeline,
    Response,
    RunResult,
    Scenario,
    github_values,
    stack_workflow,
)

pytestmark = pytest.mark.pipeline

IMAGE = "ghcr.io/acme/webshop"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
COMMIT = "c" * 40
CI = f"https://github.com/{REPOSITORY}/.github/workflows/ci.yml@refs/heads/develop"
ISSUER = "https://token.actions.githubusercontent.com"
FILE = {"staging": "stage-deploy.yml", "prod": "prod-deploy.yml"}
ENVIRONMENT = {"staging": "staging", "prod": "production"}
URL = {"staging": "https://webshop.staging.acme.example", "prod": "https://webshop.acme.example"}
SIGNED_BY_CI = {"identity": CI, "issuer": ISSUER, "commit": COMMIT, "attestations": ["spdxjson"]}
PASSED_CI = {"ci_runs": [{"head_sha": COMMIT, "branch": "develop", "conclusion": "success"}]}


def accepted_in(environment: str, commit: str, digest: str, deployment_id: int) -> dict[str, Any]:
    """A deployment of ``digest`` to ``environment`` that ran and passed its acceptance."""
    return {
        "id": deployment_id,
        "environment": environment,
        "sha": commit,
        "task": "deploy",
        "payload": {"digest": digest},
        "statuses": [
            {"state": "success", "description": ACCEPTED_VERDICT},
            {"state": "in_progress", "description": ""},
        ],
    }


IN_DEV: dict[str, Any] = {**PASSED_CI, "deployments": [accepted_in("development", COMMIT, NEW, 6)]}
"""What staging requires (issue 27): NEW accepted in development, integration tests included."""
IN_STAGING: dict[str, Any] = {
    **PASSED_CI,
    "deployments": [
        {
            "id": 7,
            "environment": "staging",
            "sha": COMMIT,
            "task": "deploy",
            "payload": {"digest": NEW},
            "statuses": [
                {"state": "success", "description": ACCEPTED_VERDICT},
                {"state": "in_progress", "description": ""},
            ],
        }
    ],
}
HEALTHY = (HttpRule(r"/healthz$", (Response(200, '{"status":"ok"}'),)),)
UNHEALTHY = (HttpRule(r"/healthz$", (Response(500, "boom"),)),)


def running_rollout(stack: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rendered Rollout as the cluster holds it after pulumi up: the seeded image added."""
    result = render(stack, stack_config=variant(stack, changes or {}))
    (rollout,) = [o for o in kubernetes_objects(result).values() if o["kind"] == "Rollout"]
    live = copy.deepcopy(rollout)
    live["metadata"]["generation"] = 1
    live["spec"]["template"]["spec"]["containers"][0]["image"] = f"{IMAGE}@{OLD}"
    return live


def pipeline(
    tmp_path: Path,
    stack: str,
    *,
    http: tuple[HttpRule, ...] = HEALTHY,
    signatures: dict[str, Any] | None = None,
    github: dict[str, Any] | None = None,
    analysis_fails_at_step: tuple[int, ...] = (),
    changes: dict[str, Any] | None = None,
    registry_tags: dict[str, str] | None = None,
) -> Pipeline:
    scenario = Scenario(
        registry_tags=registry_tags or {},
        http=http,
        kube_objects=(running_rollout(stack, changes),),
        signatures={NEW: SIGNED_BY_CI} if signatures is None else signatures,
        github=((IN_DEV if stack == "staging" else IN_STAGING) if github is None else github),
        analysis_fails_at_step=analysis_fails_at_step,
    )
    result = Pipeline(tmp_path, scenario, app=None)
    result.add_workflow(FILE[stack], stack_workflow(stack, FILE[stack], changes))
    return result


@cache
def _written(stack: str) -> tuple[dict[str, str], dict[str, GitHubEnvironment]]:
    """What the stack writes to GitHub: repository variables, its environment's variables."""
    return github_values(stack)


def dispatch(
    pipe: Pipeline,
    stack: str,
    action: str = "deploy",
    release: str = NEW,
    run_id: str = "1",
    switch: str = "true",
    environment_switch: str = "true",
    ref: str | None = None,
) -> RunResult:
    repository, environments = _written(stack)
    ((environment, own),) = environments.items()
    return pipe.run(
        "workflow_dispatch",
        FILE[stack],
        ref=ref or ("refs/heads/main" if stack == "prod" else "refs/heads/develop"),
        payload={"inputs": {"release": release, "action": action}},
        variables={**repository, f"{stack.upper()}_DEPLOY_ENABLED": switch},
        environments={
            environment: GitHubEnvironment(
                {**own.variables, "DEPLOY_ENABLED": environment_switch},
                {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"},
            )
        },
        run_id=run_id,
    )


def ran(result: RunResult, job: str, step: str) -> bool:
    """act does not report skipped steps: a step that did not run is absent."""
    return any(s.job == job and s.step.startswith(step) for s in result.steps)


def live(pipe: Pipeline) -> dict[str, Any]:
    return pipe.kube_object("Rollout", "webshop")


def image(pipe: Pipeline) -> str:
    return str(live(pipe)["spec"]["template"]["spec"]["containers"][0]["image"])


def deployments(pipe: Pipeline) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((pipe.state / "github.json").read_text())
    return [d for d in data["deployments"] if d["id"] >= 1000]


ACCEPTANCE_PENDING = "healthy; acceptance pending: e2e, performance, security-scan"


def deploy_job_status(record: dict[str, Any]) -> tuple[str, str]:
    """The status staging's deploy job wrote (GitHub lists statuses newest first: queued by
    verify, in_progress when the job starts, then the job's own; then the acceptance verdict).

    A healthy release is only ``in_progress`` until the acceptance jobs decide. These scenarios
    have no release commit in the repository, so e2e cannot check it out and the verdict is a
    failure; the acceptance scenarios at the end of this file run the jobs for real.
    """
    chronological = list(reversed(record["statuses"]))
    return chronological[2]["state"], chronological[2]["description"]


def kubectl_writes(pipe: Pipeline) -> list[list[str]]:
    return [
        c["argv"] for c in pipe.calls("kubectl") if any(v in c["argv"] for v in ("patch", "set"))
    ]


# --------------------------------------------------------------------------------------------
# Issue 12
# --------------------------------------------------------------------------------------------


def test_1_staging_canary_completes_within_the_workflow_limits(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging")
    started = pipe.clock()
    result = dispatch(pipe, "staging")
    assert result.jobs["verify"] == "success", result.output
    assert result.jobs["deploy"] == "success", result.output
    assert live(pipe)["status"]["phase"] == "Healthy"
    assert image(pipe) == f"{IMAGE}@{NEW}"
    # The 2m pause was waited on the clock, within the derived wait of 540 s.
    assert 120 <= pipe.clock() - started < 540
    (record,) = deployments(pipe)
    assert record["environment"] == "staging" and record["payload"]["digest"] == NEW
    assert deploy_job_status(record) == ("in_progress", ACCEPTANCE_PENDING)


def test_2_failed_analysis_aborts_and_fails_the_run_with_traffic_on_stable(
    tmp_path: Path,
) -> None:
    pipe = pipeline(tmp_path, "staging", analysis_fails_at_step=(2,))
    result = dispatch(pipe, "staging")
    assert result.jobs["deploy"] == "failure"
    status = live(pipe)["status"]
    assert status["abort"] is True and status["phase"] == "Degraded"
    assert status["canary"]["weights"]["canary"]["weight"] == 0
    assert status["stableRS"] == _hash_of_running(pipe, OLD)
    assert result.step("deploy", "Abort the canary this run started") == "success"
    assert deployments(pipe)[0]["statuses"][0]["state"] == "failure"
    # e2e, k6 and the security scan do not run against a release that did not complete.
    assert result.jobs["e2e"] == "skipped" and result.jobs["security-scan"] == "skipped"


def _hash_of_running(pipe: Pipeline, digest: str) -> str:
    rs = [
        c for c in pipe.calls("kubectl") if "replicasets" in c["argv"]
    ]  # the stable RS the workflow looked up
    assert rs, "the stable image was not read from the ReplicaSets"
    selector = rs[0]["argv"][rs[0]["argv"].index("--selector") + 1]
    return str(selector.split("=", 1)[1])


def test_3_4_prod_pauses_for_a_person_then_rolls_back_fast_on_bad_health(
    tmp_path: Path,
) -> None:
    pipe = pipeline(tmp_path, "prod", http=UNHEALTHY)
    # Run 1: the canary walks 10% and 25% on its timed pauses, then stops at 50% for a person.
    first = dispatch(pipe, "prod")
    assert first.jobs["deploy"] == "success", first.output
    status = live(pipe)["status"]
    assert status["phase"] == "Paused" and status["currentStepIndex"] == 5
    assert not [w for w in kubectl_writes(pipe) if "pauseConditions" in " ".join(w)]
    assert any("paused for a person" in n for n in first.annotations("notice", "deploy"))
    assert not ran(first, "deploy", "Check the app's health endpoint")
    (record,) = deployments(pipe)
    assert record["statuses"][0]["state"] == "in_progress"
    # Run 2: a person promotes it; full promotion, then the health check fails: rollback.
    before_promote = pipe.clock()
    second = dispatch(pipe, "prod", action="promote", run_id="2")
    assert second.jobs["deploy"] == "failure", second.output
    assert second.step("deploy", "Promote the paused canary") == "success"
    assert second.step("deploy", "Roll back to the stable image") == "success"
    assert second.step("deploy", "Wait for the rollback") == "success"
    assert image(pipe) == f"{IMAGE}@{OLD}"
    assert live(pipe)["status"]["phase"] == "Healthy"
    # No new canary: the rollback skipped every step (rollbackWindow), so no pause was waited.
    assert live(pipe)["status"]["currentStepIndex"] == 7
    rollback_at = next(
        c["time"] for c in pipe.calls("kubectl") if f"{IMAGE}@{OLD}" in " ".join(c["argv"])
    )
    assert pipe.clock() - rollback_at < 60
    assert pipe.clock() - before_promote < 600
    assert record["id"] == deployments(pipe)[0]["id"]  # the same deployment, now failed
    final = deployments(pipe)[0]["statuses"][0]
    assert final["state"] == "failure" and "rolled back" in final["description"]


def _prod_canary_of_new_with_old_promotable(tmp_path: Path) -> Pipeline:
    """Prod paused on NEW's canary, while OLD is signed by CI and was deployed to staging too:
    a refusal to act on OLD can then only come from the cluster check."""
    old_in_staging = copy.deepcopy(IN_STAGING)
    old_in_staging["deployments"].append(
        {**old_in_staging["deployments"][0], "id": 8, "payload": {"digest": OLD}}
    )
    pipe = pipeline(
        tmp_path, "prod", signatures={NEW: SIGNED_BY_CI, OLD: SIGNED_BY_CI}, github=old_in_staging
    )
    assert dispatch(pipe, "prod").jobs["deploy"] == "success"
    return pipe


def test_4_the_promote_action_refuses_a_release_that_is_not_the_canary(tmp_path: Path) -> None:
    pipe = _prod_canary_of_new_with_old_promotable(tmp_path)
    result = dispatch(pipe, "prod", action="promote", release=OLD, run_id="2")
    assert result.jobs["verify"] == "success"
    assert result.jobs["deploy"] == "failure"
    assert result.step("deploy", "Promote the paused canary") == "failure"
    assert any("nothing of this release to promote" in e for e in result.annotations("error"))
    assert live(pipe)["status"]["phase"] == "Paused"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_5_deploy_switched_off_changes_nothing(tmp_path: Path, stack: str) -> None:
    pipe = pipeline(tmp_path, stack)
    result = dispatch(pipe, stack, switch="false", environment_switch="false")
    assert set(result.jobs.values()) == {"skipped"}, result.jobs
    assert pipe.calls("kubectl") == [] and pipe.calls("gh") == []
    # Repository switch on but the environment's off: the environment job refuses first.
    again = dispatch(pipe, stack, environment_switch="false", run_id="2")
    assert again.jobs["deploy"] == "failure"
    assert kubectl_writes(pipe) == []
    assert image(pipe) == f"{IMAGE}@{OLD}"


# --------------------------------------------------------------------------------------------
# Issue 16
# --------------------------------------------------------------------------------------------


def _refused(pipe: Pipeline, result: RunResult, words: str) -> None:
    assert result.jobs["verify"] == "failure", result.output
    assert result.jobs["deploy"] == "skipped"
    assert pipe.calls("kubectl") == []
    assert any(words in e for e in result.annotations("error", "verify")), result.notes
    assert image(pipe) == f"{IMAGE}@{OLD}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_16_a_digest_signed_by_ci_deploys_with_the_identity_checked(
    tmp_path: Path, stack: str
) -> None:
    pipe = pipeline(tmp_path, stack, changes={"cicd:deploy.enabled": True})
    result = dispatch(pipe, stack)
    assert result.jobs["verify"] == "success", result.output
    verified = [c for c in pipe.calls("cosign") if c["argv"][0].startswith("verify")]
    assert {c["argv"][0] for c in verified} == {"verify", "verify-attestation"}
    assert {(c["identity"], c["issuer"]) for c in verified} == {(CI, ISSUER)}
    assert {c["ref"] for c in verified} == {f"{IMAGE}@{NEW}"}
    # The package is private: the registry login comes before cosign reads the signatures,
    # also when the release is given as a digest (no tag to resolve).
    assert any(c["argv"][:1] == ["login"] for c in pipe.calls("docker"))
    assert image(pipe) == f"{IMAGE}@{NEW}"
    (record,) = deployments(pipe)
    assert record["environment"] == ENVIRONMENT[stack]
    assert record["payload"]["source_commit"] == COMMIT


def test_16_a_tag_is_resolved_once_and_only_its_digest_is_used(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging", registry_tags={f"{IMAGE}:1.5.0": NEW})
    result = dispatch(pipe, "staging", release="1.5.0")
    assert result.jobs["deploy"] == "success", result.output
    looked_up = [
        c["argv"][3] for c in pipe.calls("docker") if c["argv"][:2] == ["buildx", "imagetools"]
    ]
    # the tag once; after that only the digest (verify reads its revision label by digest)
    assert looked_up == [f"{IMAGE}:1.5.0", f"{IMAGE}@{NEW}"]
    assert {c["ref"] for c in pipe.calls("cosign") if "ref" in c} == {f"{IMAGE}@{NEW}"}
    assert image(pipe) == f"{IMAGE}@{NEW}"
    assert not any(":1.5.0" in " ".join(c["argv"]) for c in pipe.calls("kubectl"))


def test_16_an_unsigned_digest_is_refused(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging", signatures={})
    _refused(pipe, dispatch(pipe, "staging"), "is not signed by")


def test_16_a_digest_signed_by_another_workflow_is_refused(tmp_path: Path) -> None:
    elsewhere = {**SIGNED_BY_CI, "identity": CI.replace("ci.yml", "release.yml")}
    pipe = pipeline(tmp_path, "staging", signatures={NEW: elsewhere})
    _refused(pipe, dispatch(pipe, "staging"), "is not signed by")


def test_16_a_digest_never_deployed_to_staging_is_refused_in_prod(tmp_path: Path) -> None:
    failed_in_staging = copy.deepcopy(IN_STAGING)
    failed_in_staging["deployments"][0]["statuses"] = [{"state": "failure"}]
    pipe = pipeline(tmp_path, "prod", github=failed_in_staging)
    _refused(pipe, dispatch(pipe, "prod"), "never deployed successfully to staging")


def test_16_a_staging_deployment_a_newer_one_made_inactive_still_counts(tmp_path: Path) -> None:
    # GitHub marks an environment's older successful deployments inactive when a newer one
    # succeeds (auto_inactive): prod must read the verdict before that. Another tool's deployment
    # with a string payload in the same list must not break the lookup either.
    superseded = copy.deepcopy(IN_STAGING)
    superseded["deployments"][0]["statuses"].insert(0, {"state": "inactive"})
    superseded["deployments"].append(
        {
            "id": 8,
            "environment": "staging",
            "sha": COMMIT,
            "task": "deploy",
            "payload": "deployed by another tool",
            "statuses": [{"state": "success"}],
        }
    )
    pipe = pipeline(tmp_path, "prod", github=superseded, changes={"cicd:deploy.enabled": True})
    result = dispatch(pipe, "prod")
    assert result.jobs["verify"] == "success", result.output
    assert image(pipe) == f"{IMAGE}@{NEW}"


def _staging_record(deployment_id: int, *states: tuple[str, str]) -> dict[str, Any]:
    """A staging deployment of NEW with ``states`` (state, description), newest first."""
    return {
        **IN_STAGING["deployments"][0],
        "id": deployment_id,
        "statuses": [{"state": state, "description": text} for state, text in states],
    }


def test_16_staging_success_without_the_acceptance_verdict_is_refused(tmp_path: Path) -> None:
    """What the deploy job of a workflow from before the acceptance gate wrote (an old branch,
    a re-run of an old run): success as soon as the rollout was healthy, nothing tested."""
    before_the_gate = {
        **PASSED_CI,
        "deployments": [_staging_record(7, ("success", "healthy"), ("in_progress", ""))],
    }
    pipe = pipeline(tmp_path, "prod", github=before_the_gate)
    _refused(pipe, dispatch(pipe, "prod"), "(7) is not accepted: success (healthy)")


def test_16_a_newer_staging_deployment_of_the_digest_decides(tmp_path: Path) -> None:
    """An accepted deployment stops counting once a newer deployment of the same digest ran and
    failed acceptance; a newer one that never ran (rejected at approval) has no say."""
    accepted = _staging_record(7, ("success", ACCEPTED_VERDICT), ("in_progress", ""))
    failed = _staging_record(
        8, ("failure", "deployed, but acceptance failed: e2e (failure)"), ("in_progress", "")
    )
    never_ran = _staging_record(9, ("error", "not deployed: deploy job failure"), ("queued", ""))
    withdrawn = tmp_path / "withdrawn"
    withdrawn.mkdir()
    pipe = pipeline(withdrawn, "prod", github={**PASSED_CI, "deployments": [accepted, failed]})
    _refused(pipe, dispatch(pipe, "prod"), "(8) is not accepted: failure")
    kept = tmp_path / "kept"
    kept.mkdir()
    pipe = pipeline(kept, "prod", github={**PASSED_CI, "deployments": [accepted, never_ran]})
    result = dispatch(pipe, "prod")
    assert result.jobs["verify"] == "success", result.output
    assert image(pipe) == f"{IMAGE}@{NEW}"


def test_a_staging_dispatch_from_an_unlisted_branch_opens_no_deployment(tmp_path: Path) -> None:
    """The verify job's guard follows approval.branches (develop, release/*): a dispatch from a
    feature branch stops before it verifies anything or opens a deployment record."""
    pipe = pipeline(tmp_path, "staging")
    result = dispatch(pipe, "staging", ref="refs/heads/feature-x")
    assert result.jobs.get("verify", "skipped") == "skipped", result.output
    assert result.jobs.get("deploy", "skipped") == "skipped"
    # No gh call at all: no deployment record opened (nor closed).
    assert pipe.calls("gh") == [] and pipe.calls("cosign") == [] and pipe.calls("kubectl") == []
    release = dispatch(pipe, "staging", ref="refs/heads/release/1.4", run_id="2")
    assert release.jobs["verify"] == "success", release.output


def test_16_staging_refuses_a_digest_never_accepted_in_dev(tmp_path: Path) -> None:
    """Issue 27: staging asks the rule prod asks (one function), of development: a green CI run
    alone (PASSED_CI) no longer lets a digest into staging."""
    pipe = pipeline(tmp_path, "staging", github=PASSED_CI)
    _refused(pipe, dispatch(pipe, "staging"), "never deployed successfully to development")


def test_6_a_cancelled_run_aborts_the_canary_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person cancels the run while the canary waits at 10%: its cancelled() step aborts."""
    pipe = pipeline(tmp_path, "prod")
    real_run = subprocess.run
    midway: list[bool] = []

    def canary_started() -> bool:
        calls = pipe.calls()
        patched = [
            i
            for i, c in enumerate(calls)
            if c["tool"] == "kubectl" and "/spec/template/spec/containers/0/image" in str(c["argv"])
        ]
        return bool(patched) and any(c["tool"] == "sleep" for c in calls[patched[0] :])

    def act_cancelled_midway(command: list[str], **kwargs: Any) -> Any:
        if not str(command[0]).endswith("/act"):
            return real_run(command, **kwargs)
        kwargs.pop("check", None)
        timeout = kwargs.pop("timeout", 900)
        kwargs.pop("capture_output", None)
        # Output to files, not pipes: nobody reads a pipe while waiting, and a full pipe would
        # stall act.
        out_path, err_path = tmp_path / "act-cancel.out", tmp_path / "act-cancel.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            act = subprocess.Popen(command, stdout=out, stderr=err, **kwargs)
            deadline = time.monotonic() + timeout
            while act.poll() is None and not canary_started() and time.monotonic() < deadline:
                time.sleep(0.2)
            midway.append(act.poll() is None and canary_started())
            act.send_signal(signal.SIGINT)  # what GitHub's "Cancel workflow" does to the run
            act.wait(timeout=timeout)
        stdout, stderr = out_path.read_text(), err_path.read_text()
        return subprocess.CompletedProcess(command, act.returncode, stdout, stderr)

    monkeypatch.setattr(subprocess, "run", act_cancelled_midway)
    result = dispatch(pipe, "prod")
    monkeypatch.setattr(subprocess, "run", real_run)
    assert midway == [True], "act finished before the cancel"
    assert result.step("deploy", "Abort the canary this run started") == "success", result.log
    status = live(pipe)["status"]
    assert status["abort"] is True
    assert status["canary"]["weights"]["canary"]["weight"] == 0
    assert deployments(pipe)[0]["statuses"][0]["state"] == "error"


def test_1_prod_canary_completes_within_the_workflow_limits(tmp_path: Path) -> None:
    """Prod: run 1 walks to the manual pause within its 1200 s wait, run 2 finishes in 240 s."""
    pipe = pipeline(tmp_path, "prod")
    started = pipe.clock()
    first = dispatch(pipe, "prod")
    assert first.jobs["deploy"] == "success", first.output
    assert 600 <= pipe.clock() - started < 1200  # two 5m pauses, then the manual one
    promoted = pipe.clock()
    second = dispatch(pipe, "prod", action="promote", run_id="2")
    assert second.jobs["deploy"] == "success", second.output
    assert pipe.clock() - promoted < 240
    assert live(pipe)["status"]["phase"] == "Healthy"
    new_hash = hashlib.sha256(f"{IMAGE}@{NEW}".encode()).hexdigest()[:10]
    assert live(pipe)["status"]["stableRS"] == new_hash  # the fake's pod-template hash
    assert image(pipe) == f"{IMAGE}@{NEW}"
    (record,) = deployments(pipe)
    # queued (verify), in_progress (the deploy starts), in_progress (paused for a person),
    # success (promoted): the promote continues that deployment without marking it again.
    assert [s["state"] for s in record["statuses"]] == [
        "success",
        "in_progress",
        "in_progress",
        "queued",
    ]


def test_promote_continues_the_paused_deployment_not_a_newer_one_that_never_ran(
    tmp_path: Path,
) -> None:
    """A second dispatch of the same digest rejected at approval leaves a newer deployment that
    never ran: the promote must finish the paused one, or it stays in_progress for ever."""
    pipe = pipeline(tmp_path, "prod")
    assert dispatch(pipe, "prod").jobs["deploy"] == "success"
    data = json.loads((pipe.state / "github.json").read_text())
    (paused,) = [d for d in data["deployments"] if d["id"] >= 1000]
    rejected = {
        **paused,
        "id": paused["id"] + 1,
        "statuses": [
            {"state": "error", "description": "not deployed: deploy job failure"},
            {"state": "queued", "description": "waiting for approval"},
        ],
    }
    data["deployments"].append(rejected)
    (pipe.state / "github.json").write_text(json.dumps(data))
    result = dispatch(pipe, "prod", action="promote", run_id="2")
    assert result.jobs["deploy"] == "success", result.output
    first, second = deployments(pipe)
    assert first["statuses"][0] == {"state": "success", "description": "healthy"}
    assert second["statuses"] == rejected["statuses"]


# --------------------------------------------------------------------------------------------
# Release safety (left open by the SRE review): abort, rollback wait, transient API errors
# --------------------------------------------------------------------------------------------

SIGSTORE_DOWN = {"cosign": {"verify": 1}}
"""Every ``cosign verify``/``verify-attestation`` fails, as in a Sigstore outage."""


def test_abort_stops_a_canary_while_sigstore_is_down_and_a_deploy_is_refused(
    tmp_path: Path,
) -> None:
    pipe = pipeline(tmp_path, "prod")
    assert dispatch(pipe, "prod").jobs["deploy"] == "success"
    assert live(pipe)["status"]["phase"] == "Paused"
    (record,) = deployments(pipe)
    pipe.change(replace(pipe.scenario, exit_codes=SIGSTORE_DOWN))
    # The same outage refuses a deploy: verification is not optional for what goes in.
    refused = dispatch(pipe, "prod", run_id="2")
    assert refused.jobs["verify"] == "failure" and refused.jobs["deploy"] == "skipped"
    assert any("is not signed by" in e for e in refused.annotations("error", "verify"))
    # The abort reads neither Sigstore nor the registry, and still goes through the environment
    # job (its approval rules) to stop the canary.
    aborted = dispatch(pipe, "prod", action="abort", run_id="3")
    assert aborted.jobs["verify"] == "success", aborted.output
    assert aborted.jobs["deploy"] == "success", aborted.output
    assert aborted.step("deploy", "Abort the paused canary") == "success"
    assert not [c for c in aborted.calls if c["tool"] in ("cosign", "docker")]
    assert not ran(aborted, "verify", "Install cosign")
    status = live(pipe)["status"]
    assert status["abort"] is True and status["canary"]["weights"]["canary"]["weight"] == 0
    assert status["stableRS"] == _hash_of_running(pipe, OLD)
    (after,) = deployments(pipe)
    assert after["id"] == record["id"]  # the release's own deployment, now closed
    assert after["statuses"][0]["state"] == "failure"
    assert "aborted by a person" in after["statuses"][0]["description"]


def test_abort_takes_a_digest_not_a_tag(tmp_path: Path) -> None:
    """Resolving a tag needs the registry; an abort reads nothing from it."""
    pipe = pipeline(tmp_path, "staging", registry_tags={f"{IMAGE}:1.5.0": NEW})
    result = dispatch(pipe, "staging", action="abort", release="1.5.0")
    assert result.jobs["verify"] == "failure" and result.jobs["deploy"] == "skipped"
    assert any("takes the canary's image digest" in e for e in result.annotations("error"))
    assert pipe.calls("docker") == [] and pipe.calls("kubectl") == []


def test_abort_refuses_when_the_canary_is_another_release(tmp_path: Path) -> None:
    """A person asks to abort OLD while NEW, someone else's newer release, is the canary."""
    pipe = _prod_canary_of_new_with_old_promotable(tmp_path)
    result = dispatch(pipe, "prod", action="abort", release=OLD, run_id="2")
    assert result.jobs["deploy"] == "failure"
    assert result.step("deploy", "Abort the paused canary") == "failure"
    assert any("refusing to abort another release" in e for e in result.annotations("error"))
    status = live(pipe)["status"]
    assert not status.get("abort") and status["phase"] == "Paused"
    assert image(pipe) == f"{IMAGE}@{NEW}"


def test_abort_refuses_a_release_already_promoted_to_stable(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging")
    assert dispatch(pipe, "staging").jobs["deploy"] == "success"
    assert live(pipe)["status"]["phase"] == "Healthy"
    result = dispatch(pipe, "staging", action="abort", run_id="2")
    assert result.step("deploy", "Abort the paused canary") == "failure"
    assert any("is the stable release, not a canary" in e for e in result.annotations("error"))
    assert not live(pipe)["status"].get("abort")
    assert live(pipe)["status"]["phase"] == "Healthy"


def test_a_rollback_that_stops_at_a_manual_pause_fails_and_says_so(tmp_path: Path) -> None:
    """Outside ``rollbackWindow`` (here a Rollout that lacks it, as one applied before the stack
    set it) going back to the stable digest walks the canary steps again and stops at the manual
    pause: traffic stays split, so the rollback wait must not count that as done."""
    changes: dict[str, Any] = {"cicd:canary.steps": [{"weight": 20}, {"weight": 100}]}
    rollout = running_rollout("prod", changes)
    del rollout["spec"]["rollbackWindow"]
    pipe = Pipeline(
        tmp_path,
        Scenario(
            http=UNHEALTHY,
            kube_objects=(rollout,),
            signatures={NEW: SIGNED_BY_CI},
            github=IN_STAGING,
        ),
        app=None,
    )
    pipe.add_workflow(FILE["prod"], stack_workflow("prod", FILE["prod"], changes))
    assert dispatch(pipe, "prod").jobs["deploy"] == "success"
    result = dispatch(pipe, "prod", action="promote", run_id="2")
    assert result.step("deploy", "Roll back to the stable image") == "success", result.output
    assert live(pipe)["status"]["phase"] == "Paused"  # the simulation: the rollback is paused
    assert image(pipe) == f"{IMAGE}@{OLD}"
    assert result.step("deploy", "Wait for the rollback") == "failure"
    assert result.jobs["deploy"] == "failure"
    assert any(
        "stopped at a manual pause" in e and "instead of becoming healthy" in e
        for e in result.annotations("error", "deploy")
    ), result.notes
    final = deployments(pipe)[0]["statuses"][0]
    assert final["state"] == "failure"
    assert "rollback" in final["description"] and "is not healthy" in final["description"]


ROLLOUT_READ = "get rollout webshop --output json"
"""The read the deploy job makes of the Rollout: 1st the stable image, 2nd the check that it is
not an aborted canary of this release (issue 27), 3rd the image patch, then one per wait-loop
pass."""


def test_transient_api_errors_during_the_wait_do_not_abort_the_release(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging")
    pipe.change(replace(pipe.scenario, flaky={"kubectl": {ROLLOUT_READ: (5, 6)}}))
    result = dispatch(pipe, "staging")
    assert result.jobs["deploy"] == "success", result.output
    reads = [c for c in pipe.calls("kubectl") if ROLLOUT_READ in " ".join(c["argv"])]
    patched = next(i for i, c in enumerate(pipe.calls("kubectl")) if "patch" in c["argv"])
    assert pipe.calls("kubectl").index(reads[4]) > patched  # the failures came mid-wait
    assert len(reads) > 6  # and the wait went on reading after them
    warnings = result.annotations("warning", "deploy")
    assert [w for w in warnings if "reading rollout webshop failed" in w] == [
        "reading rollout webshop failed (1 in a row): trying again",
        "reading rollout webshop failed (2 in a row): trying again",
    ]
    assert live(pipe)["status"]["phase"] == "Healthy" and not live(pipe)["status"].get("abort")
    assert image(pipe) == f"{IMAGE}@{NEW}"
    assert deploy_job_status(deployments(pipe)[0]) == ("in_progress", ACCEPTANCE_PENDING)


def test_an_api_that_stays_unreachable_fails_the_release(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, "staging")
    pipe.change(replace(pipe.scenario, flaky={"kubectl": {ROLLOUT_READ: tuple(range(4, 200))}}))
    result = dispatch(pipe, "staging")
    assert result.jobs["deploy"] == "failure"
    assert result.step("deploy", "Wait until the rollout is healthy or paused") == "failure"
    reads = [c for c in pipe.calls("kubectl") if ROLLOUT_READ in " ".join(c["argv"])]
    assert len(reads) == 3 + READ_FAILURES_TOLERATED + 1  # gave up on the first one too many
    assert any(
        f"{READ_FAILURES_TOLERATED + 1} reads in a row failed" in e
        for e in result.annotations("error", "deploy")
    )
    # No success is claimed; the canary this run started is aborted (a patch, not a read).
    assert result.step("deploy", "Abort the canary this run started") == "success"
    assert live(pipe)["status"]["abort"] is True
    assert deployments(pipe)[0]["statuses"][0]["state"] == "failure"
    assert result.jobs["e2e"] == "skipped" and result.jobs["security-scan"] == "skipped"


# --------------------------------------------------------------------------------------------
# Staging's acceptance decides what prod may take
# --------------------------------------------------------------------------------------------

SECURE_HEADERS = (
    HttpRule(
        r"webshop\.staging\.acme\.example$",
        (
            Response(
                200, "strict-transport-security: max-age=63072000\nx-content-type-options: nosniff"
            ),
        ),
    ),
)


def _accepting_pipeline(tmp_path: Path, e2e_passes: bool) -> Pipeline:
    """Staging and prod workflows over a repository whose release commit really exists, so the
    acceptance jobs (e2e from that commit, k6, the image scan, security headers) run."""
    pipe = pipeline(tmp_path, "staging", http=HEALTHY + SECURE_HEADERS)
    exit_code = 0 if e2e_passes else 1
    pipe.add_files(
        {
            "package.json": json.dumps(
                {
                    "name": "acme-shop",
                    "version": "1.4.2",
                    "private": True,
                    "scripts": {"test:e2e": f"node -e 'process.exit({exit_code})' --"},
                }
            ),
            "package-lock.json": json.dumps(
                {
                    "name": "acme-shop",
                    "version": "1.4.2",
                    "lockfileVersion": 3,
                    "requires": True,
                    "packages": {"": {"name": "acme-shop", "version": "1.4.2"}},
                }
            ),
        }
    )
    pipe.add_workflow(FILE["prod"], stack_workflow("prod", FILE["prod"]))
    commit = pipe.sha
    pipe.change(
        replace(
            pipe.scenario,
            signatures={NEW: {**SIGNED_BY_CI, "commit": commit}},
            github={
                "ci_runs": [{"head_sha": commit, "branch": "develop", "conclusion": "success"}],
                "deployments": [accepted_in("development", commit, NEW, 6)],
            },
        )
    )
    return pipe


def test_staging_success_waits_for_acceptance_and_prod_takes_the_accepted_release(
    tmp_path: Path,
) -> None:
    """Also: a stale abort of the accepted release is refused and leaves its verdict alone
    (before, the refused run recorded 'release failed; canary aborted' over it)."""
    pipe = _accepting_pipeline(tmp_path, e2e_passes=True)
    result = dispatch(pipe, "staging")
    for job in ("deploy", "e2e", "performance", "security-scan", "accept"):
        assert result.jobs[job] == "success", (job, result.output)
    (record,) = deployments(pipe)
    accepted = [
        ("success", ACCEPTED_VERDICT),
        ("in_progress", "healthy; acceptance pending: e2e, performance, security-scan"),
    ]
    assert [(s["state"], s["description"]) for s in record["statuses"][:2]] == accepted
    stale = dispatch(pipe, "staging", action="abort", run_id="2")
    assert stale.step("deploy", "Abort the paused canary") == "failure"
    (record,) = deployments(pipe)
    assert [(s["state"], s["description"]) for s in record["statuses"][:2]] == accepted
    prod = dispatch(pipe, "prod", run_id="3")
    assert prod.jobs["verify"] == "success", prod.output


def test_acceptance_of_a_release_another_one_replaced_is_refused(tmp_path: Path) -> None:
    """'Re-run failed jobs' on run A after release B was deployed re-runs A's tests (against
    B, at the environment's URL) and A's accept job: the verdict must not call A accepted. The
    accept job's own script, run against GitHub's records as they are then."""
    pending = ("in_progress", ACCEPTANCE_PENDING)
    a_failed = ("failure", "deployed, but acceptance failed: e2e (failure); not promotable")
    records = {
        "deployments": [
            _staging_record(7, a_failed, pending, ("in_progress", "")),
            {**_staging_record(8, pending, ("in_progress", "")), "payload": {"digest": OLD}},
            # GitHub's own deployment of the environment job: no digest, not a release.
            {**_staging_record(9, ("success", ""), ("in_progress", "")), "payload": {}},
        ]
    }
    pipe = pipeline(tmp_path, "staging", github=records)
    accept = yaml.safe_load(stack_workflow("staging", FILE["staging"]))["jobs"]["accept"]
    (step,) = accept["steps"]
    env = {
        **{k: v for k, v in step["env"].items() if "${{" not in v},
        "DEPLOYMENT_ID": "7",
        "RESULTS": "e2e=success performance=success security-scan=success",
        "GITHUB_REPOSITORY": "acme/webshop",
        "PATH": f"{pipe.bin}:/usr/bin:/bin",
    }

    def run_accept() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = run_accept()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "deployment 8 replaced this release in staging" in done.stdout
    data = json.loads((pipe.state / "github.json").read_text())
    latest = data["deployments"][0]["statuses"][0]
    assert latest["state"] == "failure" and "not accepted" in latest["description"]

    # Without the newer release (only GitHub's own record after it), the re-run accepts A.
    data["deployments"] = [d for d in data["deployments"] if d["id"] != 8]
    (pipe.state / "github.json").write_text(json.dumps(data))
    done = run_accept()
    assert done.returncode == 0, done.stdout + done.stderr
    latest = json.loads((pipe.state / "github.json").read_text())["deployments"][0]["statuses"][0]
    assert latest == {"state": "success", "description": ACCEPTED_VERDICT}


def test_a_release_that_fails_acceptance_in_staging_is_refused_by_prod(tmp_path: Path) -> None:
    """Before, the deploy job marked staging `success` as soon as the rollout was healthy, and
    prod's promotion check trusted it while e2e was still failing."""
    pipe = _accepting_pipeline(tmp_path, e2e_passes=False)
    result = dispatch(pipe, "staging")
    assert result.jobs["deploy"] == "success" and result.jobs["e2e"] == "failure"
    assert result.jobs["accept"] == "failure"
    (record,) = deployments(pipe)
    final = record["statuses"][0]
    assert final["state"] == "failure"
    assert "acceptance failed: e2e (failure)" in final["description"]
    prod = dispatch(pipe, "prod", run_id="2")
    assert prod.jobs["verify"] == "failure"
    assert prod.jobs["deploy"] == "skipped"
