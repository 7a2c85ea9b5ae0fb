"""The deploy workflows, executed with act, against the tier's real control plane.

dev-deploy.yml, stage-deploy.yml and prod-deploy.yml run whole (tests/pipeline/harness.py, act
in host mode) with the **real kubectl 1.36.3 and the real ``kubectl-argo-rollouts`` plugin
v1.8.3** on PATH (:class:`~tests.pipeline.harness.RealTools`) instead of the fake kubectl. The
environment's ``KUBECONFIG`` secret is a kubeconfig holding the deployer's real ServiceAccount
token (minted by the token controller, CA inlined, as the secret a platform engineer stores); the
workflow's own "Write the deployer kubeconfig" step writes it, and every kubectl call of every
step is answered by the real API server, admitted or refused by the stacks' RBAC and admission
policy, and acted on by the real Argo Rollouts controller (started by the session fixture) and
kube-controller-manager, with kwok's pods becoming Ready. What stays fake is what this tier
cannot run: GitHub (gh, deployment records), Sigstore (cosign), the registry (docker), the app's
health endpoint (curl), and the simulated clock of ``date`` (each ``sleep`` also sleeps
:data:`SLEEP_SECONDS` of wall time, so a wait loop polls the real controller every 2 s; its
deadline counts polls).

The stacks are applied with the canary variant of tests/cluster/conftest.py (the same steps and
weights, pauses of seconds, canary analysis switched off: why, in test_canary.py's docstring);
the workflows are rendered from the same variant, so their timeouts are the ones that variant
derives. Every status asserted here is the controller's: read as the admin, and as the plugin
reads it (``kubectl argo rollouts status``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.cluster.conftest import (
    CANARY_VARIANT,
    LOGS_KEPT,
    PROD_MANUAL_PAUSE,
    Applied,
    apply_canary_variant,
    deployer_token,
    rollout,
    wait_for,
)
from tests.cluster.plane import ControlPlane
from tests.cluster.steps import NAMESPACE
from tests.cluster.test_controller_rbac import refusals
from tests.conftest import real_tool
from tests.pipeline.harness import (
    REPOSITORY,
    GitHubEnvironment,
    HttpRule,
    Pipeline,
    RealTools,
    Response,
    RunResult,
    Scenario,
    github_values,
    stack_files,
    without_jobs,
)

pytestmark = pytest.mark.cluster

IMAGE: Final = "ghcr.io/acme/webshop"
COMMIT: Final = "c" * 40
CI: Final = f"https://github.com/{REPOSITORY}/.github/workflows/ci.yml@refs/heads/develop"
SIGNED_BY_CI: Final = {
    "identity": CI,
    "issuer": "https://token.actions.githubusercontent.com",
    "commit": COMMIT,
    "attestations": ["spdxjson"],
}
ACCEPTED_VERDICT: Final = "healthy; acceptance passed"
PREVIOUS: Final = {"dev": "", "staging": "development", "prod": "staging"}
"""The GitHub environment whose accepted deployment each stack requires (docs/release-edges.md)."""
FILE: Final = {"dev": "dev-deploy.yml", "staging": "stage-deploy.yml", "prod": "prod-deploy.yml"}
HEALTHY: Final = (
    HttpRule(r"/healthz$", (Response(200, '{"status":"ok"}'),)),
    HttpRule(r"discord\.test", (Response(204),)),
)
UNHEALTHY: Final = (HttpRule(r"/healthz$", (Response(500, "boom"),)),)
ACCEPTANCE_JOBS: Final = ("e2e", "performance", "security-scan", "security-alert", "accept")
"""stage-deploy.yml's jobs after a healthy deploy (tests, k6, scan, verdict): they claim nothing
about the cluster and run in the pipeline tier (tests/pipeline/test_deploy_release.py)."""


SLEEP_SECONDS: Final = 2.0
"""Wall time of each ``sleep`` a step runs (the simulated clock still advances by what it asks):
a wait loop's ``sleep 10`` polls every 2 s, so the waits the variant derives (staging 423 s: 42
polls, prod 604 s: 60 polls, a rollback 240 s: 24 polls) leave at least 84, 120 and 48 s of wall
time to the real controllers, several times the 10-30 s they took here."""


def digest(name: str) -> str:
    return f"sha256:{hashlib.sha256(name.encode()).hexdigest()}"


@pytest.fixture(scope="session")
def real_tools(applied: Applied) -> RealTools:
    plugin = real_tool(
        "kubectl-argo-rollouts", install="python tools/gotools.py kubectl-argo-rollouts"
    )
    binaries = {"kubectl": applied.plane.kubectl_path, "kubectl-argo-rollouts": plugin}
    return RealTools(binaries, sleep_seconds=SLEEP_SECONDS)


@pytest.fixture(scope="session")
def kubeconfig_secret(applied: Applied) -> dict[str, str]:
    """Per stack: the environment's ``KUBECONFIG`` secret, a self-contained kubeconfig (CA
    inlined) with the deployer's real token, as a platform engineer stores it in GitHub."""
    plane = applied.plane
    ca = base64.b64encode(plane.ca_file.read_bytes()).decode()
    secrets = {}
    for stack, namespace in NAMESPACE.items():
        user = f"webshop-deployer-{stack}"
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "tier", "cluster": {"server": plane.server,
                                             "certificate-authority-data": ca}}
            ],
            "users": [{"name": user, "user": {"token": deployer_token(plane, stack)}}],
            "contexts": [
                {"name": user, "context": {"cluster": "tier", "user": user,
                                           "namespace": namespace}}
            ],
            "current-context": user,
        }  # fmt: skip
        secrets[stack] = yaml.safe_dump(document, sort_keys=False)
    return secrets


@pytest.fixture(scope="module")
def canary_variant(canary_stacks: Applied) -> Applied:
    """The canary variant, applied again for this module: test_container_settings.py, which
    runs between test_canary.py and this module, applies staging's own render (its 2-minute
    pause and its analysis come back; with them the analysis, which cannot measure anything
    here, aborted this module's staging canary)."""
    apply_canary_variant(canary_stacks)
    return canary_stacks


def changes(stack: str) -> dict[str, Any]:
    return dict(CANARY_VARIANT.get(stack, {}))


class Release:
    """One stack's deploy workflow over a repository, a simulated GitHub, and the real cluster."""

    def __init__(
        self,
        tmp_path: Path,
        stack: str,
        tools: RealTools,
        secret: str,
        *,
        http: tuple[HttpRule, ...] = HEALTHY,
        releases: tuple[str, ...] = (),
        variant: dict[str, Any] | None = None,
    ) -> None:
        self.stack = stack
        self.secret = secret
        self.changes = changes(stack) if variant is None else variant
        """The stack config changes the workflow is rendered from (the applied variant's)."""
        github: dict[str, Any] = {
            "ci_runs": [{"head_sha": COMMIT, "branch": "develop", "conclusion": "success"}],
            "deployments": [
                {
                    "id": 7 + index,
                    "environment": PREVIOUS[stack],
                    "sha": COMMIT,
                    "task": "deploy",
                    "payload": {"digest": release},
                    "statuses": [
                        {"state": "success", "description": ACCEPTED_VERDICT},
                        {"state": "in_progress", "description": ""},
                    ],
                }
                for index, release in enumerate(releases)
            ],
        }
        scenario = Scenario(
            http=http,
            signatures={release: SIGNED_BY_CI for release in releases},
            github=github,
        )
        self.pipe = Pipeline(tmp_path, scenario, app=None, real=tools)
        files = stack_files(stack, self.changes)
        workflow = files[f".github/workflows/{FILE[stack]}"]
        if stack == "dev":
            # the app's own tests, and the verdict that waits for them (pipeline tier)
            workflow = without_jobs(workflow, "integration-test", "accept")
        elif stack == "staging":
            workflow = without_jobs(workflow, *ACCEPTANCE_JOBS)
        self.pipe.add_workflow(FILE[stack], workflow)

    def github(self) -> tuple[dict[str, str], dict[str, GitHubEnvironment]]:
        repository, environments = github_values(self.stack, self.changes)
        ((environment, own),) = environments.items()
        switch = {f"{self.stack.upper()}_DEPLOY_ENABLED": "true"}
        return {**repository, **switch}, {
            environment: GitHubEnvironment(
                {**own.variables, "DEPLOY_ENABLED": "true"}, {"KUBECONFIG": self.secret}
            )
        }

    def dispatch(self, action: str, release: str, run_id: str, **options: Any) -> RunResult:
        variables, environments = self.github()
        return self.pipe.run(
            "workflow_dispatch",
            FILE[self.stack],
            ref="refs/heads/main" if self.stack == "prod" else "refs/heads/develop",
            payload={"inputs": {"release": release, "action": action}},
            variables=variables,
            environments=environments,
            run_id=run_id,
            **options,
        )

    def deployments(self) -> list[dict[str, Any]]:
        data: dict[str, Any] = json.loads((self.pipe.state / "github.json").read_text())
        return [d for d in data["deployments"] if d["id"] >= 1000]


def spec_image(plane: ControlPlane, stack: str) -> str:
    return str(rollout(plane, stack)["spec"]["template"]["spec"]["containers"][0]["image"])


def status(plane: ControlPlane, stack: str) -> dict[str, Any]:
    found: dict[str, Any] = rollout(plane, stack).get("status") or {}
    return found


def weights(plane: ControlPlane, stack: str) -> tuple[int, int]:
    found = (status(plane, stack).get("canary") or {}).get("weights") or {}
    return int(found["canary"]["weight"]), int(found["stable"]["weight"])


def stable_image(plane: ControlPlane, stack: str) -> str:
    """The image of the stable ReplicaSet the controller names (status.stableRS)."""
    stable_rs = status(plane, stack)["stableRS"]
    sets = plane.get("replicasets", f"--namespace={NAMESPACE[stack]}",
                     f"--selector=rollouts-pod-template-hash={stable_rs}")  # fmt: skip
    (found,) = sets["items"]
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def plugin_status(plane: ControlPlane, tools: RealTools, stack: str) -> str:
    """What the Argo Rollouts plugin says: ``kubectl argo rollouts status --watch=false``
    (pkg/kubectl-argo-rollouts/cmd/status/status.go, v1.8.3: the status and its message)."""
    plugin = Path(tools.binaries["kubectl-argo-rollouts"])
    env = {**os.environ, "KUBECONFIG": str(plane.admin_kubeconfig),
           "PATH": f"{plugin.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}  # fmt: skip
    result = subprocess.run(
        [plane.kubectl_path, "argo", "rollouts", "status", "webshop",
         f"--namespace={NAMESPACE[stack]}", "--watch=false"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    return (result.stdout + result.stderr).strip()


def diagnosis(plane: ControlPlane, stack: str, result: RunResult) -> str:
    ns = f"--namespace={NAMESPACE[stack]}"
    found = plane.kubectl("get", "rollout,deployment,replicasets,pods", ns, "--output=wide",
                          check=False)  # fmt: skip
    return (
        f"jobs: {result.jobs}\nsteps: {[(s.job, s.step, s.result) for s in result.steps]}\n"
        f"output:\n{result.output[-6000:]}\n{found.stdout}{found.stderr}\n"
        f"rollouts-controller log:\n{plane.log_tail('rollouts-controller', 30)}\n"
        f"(every component's whole log: {LOGS_KEPT} once the session ends)"
    )


# --------------------------------------------------------------------------------------------
# dev: a Deployment
# --------------------------------------------------------------------------------------------


def test_dev_deploy_rolls_the_deployment_out_to_ready_pods(
    applied: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    """dev-deploy.yml after CI run 41 published a digest: the deploy job sets the image with the
    deployer's token, ``kubectl rollout status`` waits for the real controllers, the health check
    passes, and the GitHub deployment records success."""
    plane = applied.plane
    release = digest("dev-release")
    dev = Release(tmp_path, "dev", real_tools, kubeconfig_secret["dev"])
    artifact = dev.pipe.state / "artifacts" / "41" / "image-digest"
    artifact.mkdir(parents=True)
    (artifact / "digest.txt").write_text(release + "\n")
    variables, environments = dev.github()
    ci_run = {
        "id": 41, "name": "CI", "event": "push", "conclusion": "success",
        "head_branch": "develop", "head_sha": dev.pipe.sha,
        "head_repository": {"full_name": REPOSITORY},
    }  # fmt: skip
    result = dev.pipe.run(
        "workflow_run",
        FILE["dev"],
        payload={"action": "completed", "workflow_run": ci_run},
        secrets={"DISCORD_WEBHOOK_URL": "https://discord.test/api/webhooks/1/abc"},
        variables=variables,
        environments=environments,
        run_id="42",
    )
    assert result.jobs["deploy"] == "success", diagnosis(plane, "dev", result)
    deployment = plane.get("deployment", "webshop", "--namespace=webshop-dev")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{release}"
    # The controllers rolled it out: every replica updated and Ready (kwok's pods).
    wanted = deployment["spec"]["replicas"]
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    assert deployment["status"].get("updatedReplicas") == wanted
    assert deployment["status"].get("readyReplicas") == wanted
    pods = plane.get("pods", "--namespace=webshop-dev")["items"]
    running = [
        p for p in pods
        if p["spec"]["containers"][0]["image"] == f"{IMAGE}@{release}"
        and any(c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", []))
    ]  # fmt: skip
    assert len(running) == wanted
    (record,) = dev.deployments()
    assert record["statuses"][0]["state"] == "in_progress"  # the accept job decides, not deploy
    assert "acceptance pending" in record["statuses"][0]["description"]


# --------------------------------------------------------------------------------------------
# staging and prod: canaries driven by the real Argo Rollouts controller
# --------------------------------------------------------------------------------------------


def test_staging_canary_reaches_healthy(
    canary_variant: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    plane = canary_variant.plane
    release = digest("staging-release")
    staging = Release(tmp_path, "staging", real_tools, kubeconfig_secret["staging"],
                      releases=(release,))  # fmt: skip
    result = staging.dispatch("deploy", release, "1")
    assert result.jobs["deploy"] == "success", diagnosis(plane, "staging", result)
    assert result.step("deploy", "Check the app's health endpoint") == "success"
    final = status(plane, "staging")
    assert final["phase"] == "Healthy" and final["stableRS"] == final["currentPodHash"]
    assert final["currentStepIndex"] == 3  # setWeight 50, pause 3s, setWeight 100: all done
    assert stable_image(plane, "staging") == f"{IMAGE}@{release}"
    assert weights(plane, "staging") == (0, 100)
    assert plugin_status(plane, real_tools, "staging") == "Healthy"
    (record,) = staging.deployments()
    assert record["statuses"][0]["state"] == "in_progress"  # acceptance decides, not deploy
    assert "acceptance pending" in record["statuses"][0]["description"]


def _deploy_to_the_manual_pause(
    plane: ControlPlane, prod: Release, release: str, run_id: str
) -> None:
    result = prod.dispatch("deploy", release, run_id)
    assert result.jobs["deploy"] == "success", diagnosis(plane, "prod", result)
    assert any("paused for a person" in n for n in result.annotations("notice", "deploy"))
    paused = status(plane, "prod")
    assert paused["phase"] == "Paused" and paused["currentStepIndex"] == PROD_MANUAL_PAUSE
    assert [c["reason"] for c in paused["pauseConditions"]] == ["CanaryPauseStep"]
    # 50% once the canary ReplicaSet reports available pods (rollout/trafficrouting.go, v1.8.3)
    wait_for("50% on the canary", lambda: weights(plane, "prod") == (50, 50), seconds=90)
    assert prod.deployments()[0]["statuses"][0]["state"] == "in_progress"


def test_prod_stops_at_its_manual_pause_and_the_promote_action_continues_it(
    canary_variant: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    plane = canary_variant.plane
    before = stable_image(plane, "prod")
    release = digest("prod-promote-me")
    prod = Release(tmp_path, "prod", real_tools, kubeconfig_secret["prod"], releases=(release,))
    _deploy_to_the_manual_pause(plane, prod, release, "1")
    assert stable_image(plane, "prod") == before  # still the old release
    assert plugin_status(plane, real_tools, "prod").startswith("Paused - CanaryPauseStep")

    promoted = prod.dispatch("promote", release, "2")
    assert promoted.jobs["deploy"] == "success", diagnosis(plane, "prod", promoted)
    assert promoted.step("deploy", "Promote the paused canary") == "success"
    final = status(plane, "prod")
    assert final["phase"] == "Healthy" and final["currentStepIndex"] == 7
    assert stable_image(plane, "prod") == f"{IMAGE}@{release}"
    assert weights(plane, "prod") == (0, 100)
    assert plugin_status(plane, real_tools, "prod") == "Healthy"
    (record,) = prod.deployments()
    assert record["statuses"][0] == {"state": "success", "description": "healthy"}


def test_prod_abort_action_sends_traffic_back_to_stable(
    canary_variant: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    plane = canary_variant.plane
    before = stable_image(plane, "prod")
    release = digest("prod-abort-me")
    prod = Release(tmp_path, "prod", real_tools, kubeconfig_secret["prod"], releases=(release,))
    _deploy_to_the_manual_pause(plane, prod, release, "1")
    stable_rs = status(plane, "prod")["stableRS"]

    aborted = prod.dispatch("abort", release, "2")
    assert aborted.jobs["deploy"] == "success", diagnosis(plane, "prod", aborted)
    assert aborted.step("deploy", "Abort the paused canary") == "success"
    wait_for("the controller aborts prod's canary",
             lambda: status(plane, "prod").get("phase") == "Degraded", seconds=60)  # fmt: skip
    wait_for("traffic back on stable", lambda: weights(plane, "prod") == (0, 100), seconds=60)
    assert status(plane, "prod")["abort"] is True
    assert status(plane, "prod")["stableRS"] == stable_rs
    assert stable_image(plane, "prod") == before
    said = plugin_status(plane, real_tools, "prod")
    assert said.startswith("Degraded") and "RolloutAborted" in said, said
    (record,) = prod.deployments()
    assert record["statuses"][0]["state"] == "failure"
    assert "aborted by a person" in record["statuses"][0]["description"]


def test_prod_rollback_after_a_failed_health_check(
    canary_variant: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    """Promoted to 100%, then the app's health endpoint fails: the workflow's rollback path
    ("Roll back to the stable image", "Wait for the rollback") puts the image it recorded as
    stable back. Within ``rollbackWindow`` the real controller skips every canary step (no new
    pause for a person) and the Rollout is Healthy on the old release; the run fails and the
    deployment says rolled back."""
    plane = canary_variant.plane
    before = stable_image(plane, "prod")
    release = digest("prod-roll-me-back")
    prod = Release(tmp_path, "prod", real_tools, kubeconfig_secret["prod"], releases=(release,),
                   http=UNHEALTHY)  # fmt: skip
    _deploy_to_the_manual_pause(plane, prod, release, "1")

    promoted = prod.dispatch("promote", release, "2")
    why = diagnosis(plane, "prod", promoted)
    assert promoted.jobs["deploy"] == "failure", why
    assert promoted.step("deploy", "Promote the paused canary") == "success", why
    assert promoted.step("deploy", "Check the app's health endpoint") == "failure", why
    assert promoted.step("deploy", "Roll back to the stable image") == "success", why
    assert promoted.step("deploy", "Wait for the rollback") == "success", why
    final = status(plane, "prod")
    assert final["phase"] == "Healthy" and final["currentStepIndex"] == 7
    assert spec_image(plane, "prod") == before
    assert stable_image(plane, "prod") == before
    assert weights(plane, "prod") == (0, 100)
    (record,) = prod.deployments()
    assert record["statuses"][0]["state"] == "failure"
    assert "rolled back" in record["statuses"][0]["description"]


def test_a_cancelled_prod_run_aborts_the_canary_it_started(
    canary_variant: Applied,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    """A person cancels the run while the canary walks its first steps: act gets SIGINT (what
    GitHub's "Cancel workflow" sends the runner), the job's ``cancelled()`` step aborts the canary
    this run started, and the real controller sends traffic back to stable."""
    plane = canary_variant.plane
    before = stable_image(plane, "prod")
    stable_rs = status(plane, "prod")["stableRS"]
    release = digest("prod-cancel-me")
    prod = Release(tmp_path, "prod", real_tools, kubeconfig_secret["prod"], releases=(release,))
    seen: list[dict[str, Any]] = []

    def canary_started() -> bool:
        """The image is set and the wait step polled at least once without an end state."""
        if spec_image(plane, "prod") != f"{IMAGE}@{release}":
            return False
        if not any(c["tool"] == "sleep" for c in prod.pipe.calls()):
            return False
        seen.append(status(plane, "prod"))
        return True

    result = prod.dispatch("deploy", release, "1", cancel_when=canary_started)
    why = diagnosis(plane, "prod", result)
    assert seen, "the run ended before the canary started: " + why
    assert seen[0].get("phase") != "Healthy", seen[0]
    assert result.step("deploy", "Abort the canary this run started") == "success", why
    wait_for("the controller aborts prod's canary",
             lambda: status(plane, "prod").get("abort") is True, seconds=60)  # fmt: skip
    wait_for("traffic back on stable", lambda: weights(plane, "prod") == (0, 100), seconds=60)
    assert status(plane, "prod")["stableRS"] == stable_rs
    assert stable_image(plane, "prod") == before
    (record,) = prod.deployments()
    assert record["statuses"][0] == {
        "state": "error",
        "description": "run cancelled; canary aborted",
    }


def test_the_controller_was_refused_nothing(canary_stacks: Applied) -> None:
    """Every canary above ran with the controller's own ServiceAccount and the chart's
    ClusterRole (tests/cluster/test_controller_rbac.py): the API server refused it nothing."""
    assert refusals(canary_stacks.plane) == []
