"""Staging's and prod's canaries driven by the real Argo Rollouts controller (v1.8.3).

The deployer's own step scripts (its real token, the workflows' scripts as rendered) change the
image, wait, promote and abort; the controller started by the session fixture moves the canary
through its steps, scales the ReplicaSets (kwok makes their pods Ready), points the Services and
sets the NGINX canary Ingress's weight. Every status field asserted here is the controller's.

Test stack variant (:data:`CANARY_VARIANT`): the stacks' own steps and weights, pauses
shortened to seconds, and ``canary.analysis.enabled: false``. The analysis is switched off, not
faked: its Prometheus metric needs a Prometheus (the cluster tier has none; the prometheus tier
runs the real queries) and its ``web`` metric GETs ``/healthz`` on the canary Service's cluster
DNS name, which neither resolves nor serves anything here (kwok's pods run no process). With the
analysis on, both metrics error and the controller aborts every canary after
``consecutiveErrorLimit``; that path is the analysis tier's to prove, not this one's.

Nothing is written by hand in the controller's place.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.apply import apply_render
from tests.cluster.conftest import (
    CANARY_VARIANT,
    PROD_MANUAL_PAUSE,
    Applied,
    controller_took_the_services,
    rollout,
    wait_for,
)
from tests.cluster.plane import ControlPlane
from tests.cluster.steps import NAMESPACE, StepRun, deploy_step
from tests.conftest import render_variant

pytestmark = pytest.mark.cluster

WAIT = {"TIMEOUT_SECONDS": "150", "ACCEPT_PAUSE": "true", "READ_FAILURES_TOLERATED": "3"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_applying_again_after_the_controller_took_the_services(
    canary_stacks: Applied, stack: str
) -> None:
    """A later ``pulumi up`` of an unchanged stack, once the controller has pointed the stable
    and canary Services at its ReplicaSets (it always has, after the first reconcile), must be
    accepted without forcing anything. Before the Services' selector became the stack's on
    creation only, both were refused: ``conflict with "rollouts-controller" using v1:
    .spec.selector`` (the selector is one atomic field, ``+mapType=atomic`` in k8s.io/api core/v1
    types.go, so the controller's added rollouts-pod-template-hash took all of it)."""
    plane = canary_stacks.plane
    assert controller_took_the_services(plane, stack)
    refusals, _ = apply_render(
        plane, stack, render_variant(stack, CANARY_VARIANT[stack]), canary_stacks.state
    )
    assert refusals == [], "\n".join(refusals)


def status(plane: ControlPlane, stack: str) -> dict[str, Any]:
    found: dict[str, Any] = rollout(plane, stack).get("status") or {}
    return found


def release(stack: str, name: str) -> str:
    """A release image as each stack names them: a tag in staging, a digest in prod."""
    if stack == "prod":
        return f"ghcr.io/acme/webshop@sha256:{hashlib.sha256(name.encode()).hexdigest()}"
    return f"ghcr.io/acme/webshop:{name}"


def run(applied: Applied, kubeconfig: Path, stack: str, name: str, **values: str) -> StepRun:
    result = deploy_step(applied.plane.kubectl_path, kubeconfig, stack, name, **values)
    assert result.returncode == 0, (
        f"{name}:\n{result.stdout}\n{result.stderr}\n{diagnosis(applied.plane, stack)}"
    )
    return result


def diagnosis(plane: ControlPlane, stack: str) -> str:
    """What the controller saw, for a failure message: the Rollout's status, the ReplicaSets and
    pods, and the end of the controller's log."""
    ns = f"--namespace={NAMESPACE[stack]}"
    found = plane.kubectl("get", "rollout,replicasets,pods,ingress", ns, "--output=wide",
                          check=False)  # fmt: skip
    return (
        f"status: {json.dumps(status(plane, stack))}\n{found.stdout}{found.stderr}\n"
        f"rollouts-controller log:\n{plane.log_tail('rollouts-controller', 40)}\n"
        f"kube-controller-manager log:\n{plane.log_tail('kube-controller-manager', 30)}\n"
        f"kwok log:\n{plane.log_tail('kwok', 15)}\n"
        f"pods: {json.dumps([(p['metadata']['name'], p['status'].get('conditions')) for p in plane.get('pods', ns)['items']])}"
    )


def stable_image(applied: Applied, kubeconfig: Path, stack: str) -> str:
    """What the workflow's "Record the stable image" step reads: the stable ReplicaSet's image."""
    return run(applied, kubeconfig, stack, "Record the stable image").outputs["image"]


def weights(plane: ControlPlane, stack: str) -> tuple[int, int]:
    """(canary, stable) traffic weights as the controller reports them (status.canary.weights)."""
    found = (status(plane, stack).get("canary") or {}).get("weights") or {}
    return int(found["canary"]["weight"]), int(found["stable"]["weight"])


def canary_ingress_weight(plane: ControlPlane, stack: str) -> str:
    """The NGINX canary Ingress the controller made from the stable one (``<rollout>-<stable
    ingress>-canary``, rollout/trafficrouting/nginx/nginx.go, v1.8.3) and its weight."""
    ingress = plane.get("ingress", "webshop-webshop-canary", f"--namespace={NAMESPACE[stack]}")
    return str(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])


def deploy_until_paused_or_healthy(
    applied: Applied, kubeconfig: Path, stack: str, image: str
) -> StepRun:
    """The deploy run's "Set the new image" and "Wait until the rollout is healthy or paused"."""
    run(applied, kubeconfig, stack, "Set the new image", NEW_IMAGE=image)
    return run(applied, kubeconfig, stack, "Wait until the rollout is healthy or paused",
               PROMOTED_FROM="", **WAIT)  # fmt: skip


def test_staging_canary_reaches_healthy(
    canary_stacks: Applied, deployer_kubeconfig: dict[str, Path]
) -> None:
    """staging: 50%, a timed pause, 100%: the controller completes it without anyone."""
    plane, kubeconfig = canary_stacks.plane, deployer_kubeconfig["staging"]
    image = release("staging", "2.1.0")
    waited = deploy_until_paused_or_healthy(canary_stacks, kubeconfig, "staging", image)
    assert waited.outputs.get("state") == "healthy"
    final = status(plane, "staging")
    assert final["phase"] == "Healthy"
    assert final["currentStepIndex"] == 3  # past setWeight 50, pause, setWeight 100
    assert final["stableRS"] == final["currentPodHash"]
    assert stable_image(canary_stacks, kubeconfig, "staging") == image
    assert weights(plane, "staging") == (0, 100)  # the canary is the stable now


def test_prod_stops_at_its_manual_pause_and_promote_continues_it(
    canary_stacks: Applied, deployer_kubeconfig: dict[str, Path]
) -> None:
    plane, kubeconfig = canary_stacks.plane, deployer_kubeconfig["prod"]
    before = stable_image(canary_stacks, kubeconfig, "prod")
    image = release("prod", "promote-me")
    waited = deploy_until_paused_or_healthy(canary_stacks, kubeconfig, "prod", image)
    assert waited.outputs == {"state": "paused", "step": str(PROD_MANUAL_PAUSE)}
    paused = status(plane, "prod")
    assert paused["phase"] == "Paused"
    assert [c["reason"] for c in paused["pauseConditions"]] == ["CanaryPauseStep"]
    # The controller sends 50% only once the canary ReplicaSet reports available pods
    # (rollout/trafficrouting.go, v1.8.3); under load kube-controller-manager reports them late.
    wait_for("50% on the canary", lambda: weights(plane, "prod") == (50, 50), seconds=90)
    assert canary_ingress_weight(plane, "prod") == "50"
    assert stable_image(canary_stacks, kubeconfig, "prod") == before  # still the old release

    promoted = run(canary_stacks, kubeconfig, "prod", "Promote the paused canary",
                   NEW_IMAGE=image)  # fmt: skip
    assert promoted.outputs == {"step": str(PROD_MANUAL_PAUSE)}
    waited = run(canary_stacks, kubeconfig, "prod", "Wait until the rollout is healthy or paused",
                 PROMOTED_FROM=promoted.outputs["step"], **WAIT)  # fmt: skip
    assert waited.outputs.get("state") == "healthy"
    final = status(plane, "prod")
    assert final["phase"] == "Healthy" and final["currentStepIndex"] == 7
    assert stable_image(canary_stacks, kubeconfig, "prod") == image


@pytest.mark.parametrize(
    "step_name", ["Abort the paused canary", "Abort the canary this run started"]
)
def test_abort_sends_traffic_back_to_stable(
    canary_stacks: Applied, deployer_kubeconfig: dict[str, Path], step_name: str
) -> None:
    """Either abort step at prod's manual pause: the controller scales the canary's weight to 0,
    the stable ReplicaSet keeps serving the release it served, and the Rollout is Degraded (the
    wait step's failure, so a later run knows)."""
    plane, kubeconfig = canary_stacks.plane, deployer_kubeconfig["prod"]
    before = stable_image(canary_stacks, kubeconfig, "prod")
    stable_rs = status(plane, "prod")["stableRS"]
    image = release("prod", f"abort-me-{step_name}")
    waited = deploy_until_paused_or_healthy(canary_stacks, kubeconfig, "prod", image)
    assert waited.outputs.get("state") == "paused"
    wait_for("50% on the canary", lambda: weights(plane, "prod") == (50, 50), seconds=90)

    run(canary_stacks, kubeconfig, "prod", step_name, NEW_IMAGE=image)

    def aborted() -> bool:
        now = status(plane, "prod")
        return now.get("abort") is True and now.get("phase") == "Degraded"

    wait_for("the controller aborts prod's canary", aborted, seconds=60)
    wait_for("traffic back on stable", lambda: weights(plane, "prod") == (0, 100), seconds=60)
    assert canary_ingress_weight(plane, "prod") == "0"
    assert status(plane, "prod")["stableRS"] == stable_rs
    assert stable_image(canary_stacks, kubeconfig, "prod") == before
    # The workflow's own wait sees the abort and fails, as the run that follows an abort must.
    failed = deploy_step(plane.kubectl_path, kubeconfig, "prod",
                         "Wait until the rollout is healthy or paused", PROMOTED_FROM="",
                         **WAIT)  # fmt: skip
    assert failed.returncode != 0 and "failed" in failed.stdout + failed.stderr


def test_retry_policy_admits_the_deployer_restarting_its_aborted_canary(
    canary_stacks: Applied, deployer_kubeconfig: dict[str, Path]
) -> None:
    """Issue 27: an aborted canary can be retried. With the deployer's real token and the real
    admission policy: a plain redeploy of the aborted digest is refused by the workflow's check,
    the retry's status patch (``abort: false``) is admitted for the aborted canary, the controller
    runs the canary's steps again to prod's manual pause, and taking an abort back together with
    any other status change is refused by the server. Ends promoted, as the stack left it."""
    plane, kubeconfig = canary_stacks.plane, deployer_kubeconfig["prod"]
    ns = f"--namespace={NAMESPACE['prod']}"
    image = release("prod", "retry-me")
    waited = deploy_until_paused_or_healthy(canary_stacks, kubeconfig, "prod", image)
    assert waited.outputs.get("state") == "paused"
    run(canary_stacks, kubeconfig, "prod", "Abort the paused canary", NEW_IMAGE=image)
    wait_for("the controller aborts prod's canary",
             lambda: status(plane, "prod").get("abortedAt") is not None, seconds=60)  # fmt: skip
    assert status(plane, "prod")["currentStepIndex"] == 0  # what a retry starts again from

    redeploy = deploy_step(plane.kubectl_path, kubeconfig, "prod",
                           "Refuse to deploy an aborted canary again", NEW_IMAGE=image)  # fmt: skip
    assert redeploy.returncode != 0 and "action retry" in redeploy.stdout, redeploy.stdout

    sneaky = plane.kubectl(
        "patch", "rollout", "webshop", ns, "--subresource=status", "--type=merge",
        '--patch={"status":{"abort":false,"currentStepIndex":6}}',
        kubeconfig=kubeconfig, check=False,
    )  # fmt: skip
    assert sneaky.returncode != 0 and "ValidatingAdmissionPolicy" in sneaky.stderr, sneaky.stderr

    run(canary_stacks, kubeconfig, "prod", "Retry the aborted canary", NEW_IMAGE=image,
        RETRY_WAIT_SECONDS="60")  # fmt: skip
    again = run(canary_stacks, kubeconfig, "prod", "Wait until the rollout is healthy or paused",
                PROMOTED_FROM="", **WAIT)  # fmt: skip
    assert again.outputs == {"state": "paused", "step": str(PROD_MANUAL_PAUSE)}
    assert not status(plane, "prod").get("abort")

    promoted = run(canary_stacks, kubeconfig, "prod", "Promote the paused canary",
                   NEW_IMAGE=image)  # fmt: skip
    done = run(canary_stacks, kubeconfig, "prod", "Wait until the rollout is healthy or paused",
               PROMOTED_FROM=promoted.outputs["step"], **WAIT)  # fmt: skip
    assert done.outputs.get("state") == "healthy"
    assert stable_image(canary_stacks, kubeconfig, "prod") == image
    # Nothing aborted now: a retry of the stable release is refused by the workflow's check.
    refused = deploy_step(plane.kubectl_path, kubeconfig, "prod", "Retry the aborted canary",
                          NEW_IMAGE=image, RETRY_WAIT_SECONDS="5")  # fmt: skip
    assert refused.returncode != 0 and "not aborted" in refused.stdout, refused.stdout
