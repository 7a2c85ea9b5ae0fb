"""A first ``pulumi up`` of every stack against the real API server, then a second one after a
deploy: what server-side apply, admission and field ownership answer (issue 22, items 1 and 3).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from render.tree import kubernetes_objects
from tests.cluster.apply import NOT_APPLIED, apply_render
from tests.cluster.conftest import NAMESPACE, Applied, dump, platform_render, wait_for
from tests.cluster.plane import ControlPlane
from tests.cluster.steps import run_step
from tests.conftest import STACKS, rendered

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("stack", ["platform-nonprod", "platform-prod", *STACKS])
def test_first_apply_is_accepted_whole(applied: Applied, stack: str) -> None:
    """Nothing refused: not the RolloutPatch's conflict on the Rollout's atomic container list,
    not a Secret, not admission. The only kinds left out are the ones NOT_APPLIED explains."""
    assert applied.refusals[stack] == []
    assert set(applied.skipped[stack]) <= set(NOT_APPLIED)


def _policies() -> list[str]:
    names = []
    for stack in STACKS:
        for obj in kubernetes_objects(rendered(stack)).values():
            if obj["kind"] == "ValidatingAdmissionPolicy":
                names.append(obj["metadata"]["name"])
    return names


@pytest.mark.parametrize("policy", _policies())
def test_admission_policy_type_checks_without_warnings(applied: Applied, policy: str) -> None:
    """The API server type-checks each policy's CEL against the schema of what it matches (the
    Rollout CRD's, or apps/v1's): a warning means an expression refers to something that is
    not there, and would fail at admission time instead."""
    plane = applied.plane
    found: dict[str, Any] = {}

    def checked() -> bool:
        live = plane.get("validatingadmissionpolicy", policy)
        found.update(live)
        status = live.get("status") or {}
        return bool(status.get("observedGeneration") == live["metadata"]["generation"])

    wait_for(f"type checking of {policy}", checked)
    warnings = (found["status"].get("typeChecking") or {}).get("expressionWarnings") or []
    assert warnings == [], json.dumps(warnings, indent=2)


def _pod_from(template: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, **template.get("metadata", {})},
        "spec": template["spec"],
    }


@pytest.mark.parametrize("stack", STACKS)
def test_pod_security_admits_the_workload_pods(applied: Applied, stack: str) -> None:
    """The pod the workload's controller would create passes the namespace's ``restricted``
    Pod Security level, its quota and limit range: a server-side dry run of that pod runs the
    same admission chain (with no warning either). For dev's Deployment the real controllers
    create the pods too, and kwok makes them Ready."""
    plane = applied.plane
    namespace = NAMESPACE[stack]
    (workload,) = [
        o
        for o in kubernetes_objects(rendered(stack)).values()
        if o["kind"] in ("Deployment", "Rollout")
    ]
    live = plane.get(workload["kind"].lower(), workload["metadata"]["name"], f"-n={namespace}")
    pod = _pod_from(live["spec"]["template"], namespace, "admission-probe")
    result = plane.kubectl("create", "--dry-run=server", "--filename=-", stdin=dump(pod))
    assert "Warning" not in result.stderr, result.stderr
    if workload["kind"] == "Deployment":
        plane.kubectl(
            "wait", "--for=condition=Available", "--timeout=90s",
            f"--namespace={namespace}", f"deployment/{workload['metadata']['name']}",
        )  # fmt: skip
        pods = plane.get("pods", f"--namespace={namespace}")["items"]
        assert len(pods) == workload["spec"]["replicas"]


def _image(plane: ControlPlane, stack: str) -> tuple[str, dict[str, Any]]:
    kind = "deployment" if stack == "dev" else "rollout"
    live = plane.get(kind, "webshop", f"--namespace={NAMESPACE[stack]}")
    (container,) = live["spec"]["template"]["spec"]["containers"]
    return str(container["image"]), container


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_applying_again_after_a_deploy_keeps_the_deployed_image(
    applied: Applied, deployer_kubeconfig: dict[str, Any], stack: str
) -> None:
    """Issue 22, item 3: the deploy workflow's own "Set the new image" step (its script, the
    deployer's token) moves the image; a later ``pulumi up`` of the same stack is accepted
    without forcing anything and leaves that image, and the rest of the container, in place."""
    plane = applied.plane
    assert applied.refusals[stack] == []
    before, _ = _image(plane, stack)
    deployed = before.rsplit(":", 1)[0].split("@")[0] + ":9.9.9"
    step = run_step(
        stack,
        "Set the new image",
        plane.kubectl_path,
        deployer_kubeconfig[stack],
        {"NAMESPACE": NAMESPACE[stack], "WORKLOAD_NAME": "webshop",
         "WORKLOAD_KIND": "Deployment" if stack == "dev" else "Rollout",
         "IMAGE": before, "APP_URL": "http://unused", "NEW_IMAGE": deployed},
    )  # fmt: skip
    assert step.returncode == 0, step.stderr
    assert _image(plane, stack)[0] == deployed

    refusals, _ = apply_render(plane, stack, rendered(stack), applied.state)
    assert refusals == []
    image, container = _image(plane, stack)
    assert image == deployed
    assert container.get("readinessProbe") and container.get("securityContext")


def test_platform_renders_hold_the_rollouts_release(applied: Applied) -> None:
    """The CRDs come from the chart version the platform stack pins (the tier reads them from the
    controller's module at that chart's app version)."""
    crd = applied.plane.get("crd", "rollouts.argoproj.io")
    assert crd["status"]["acceptedNames"]["kind"] == "Rollout"
    versions = {
        str(r.inputs["version"])
        for cluster in ("nonprod", "prod")
        for r in platform_render(cluster).resources
        if r.name == "argo-rollouts-release"
    }
    assert len(versions) == 1
