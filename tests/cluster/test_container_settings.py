"""docs/field-ownership.md's manual step, run on the real server: a container setting the stack
no longer applies (its container list is set on creation only) is rolled out by applying the
container list alone under a field manager of its own, and nothing else of the workload moves.

Server-side apply removes the fields a manager owned and left out of its new apply
(k8s.io/apiserver, fieldmanager), so the same apply under Pulumi's own manager would strip the
strategy and replicas; under ``container-settings`` it takes the container list only.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from render.tree import kubernetes_objects
from tests.cluster.apply import apply_render
from tests.cluster.conftest import NAMESPACE, Applied, dump
from tests.conftest import rendered

pytestmark = pytest.mark.cluster

MANAGER = "container-settings"


def _workload(stack: str) -> dict[str, Any]:
    (workload,) = [
        obj
        for obj in kubernetes_objects(rendered(stack)).values()
        if obj["kind"] in ("Deployment", "Rollout")
    ]
    return workload


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_container_setting_rolls_out_under_its_own_manager(applied: Applied, stack: str) -> None:
    plane = applied.plane
    workload = _workload(stack)
    kind, namespace = workload["kind"], NAMESPACE[stack]
    live = plane.get(kind.lower(), "webshop", f"--namespace={namespace}")
    (running,) = live["spec"]["template"]["spec"]["containers"]

    containers = copy.deepcopy(workload["spec"]["template"]["spec"]["containers"])
    containers[0]["image"] = running["image"]
    containers[0]["resources"]["limits"]["memory"] = "321Mi"
    change = {
        "apiVersion": workload["apiVersion"],
        "kind": kind,
        "metadata": {"name": "webshop", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": containers}}},
    }
    plane.kubectl(
        "apply", "--server-side", f"--field-manager={MANAGER}", "--force-conflicts",
        "--filename=-", stdin=dump(change),
    )  # fmt: skip

    after = plane.get(kind.lower(), "webshop", f"--namespace={namespace}")
    (container,) = after["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["memory"] == "321Mi"
    assert container["image"] == running["image"]
    for field in ("replicas", "selector", "strategy"):
        assert after["spec"].get(field) == live["spec"].get(field), field
    assert after["spec"]["template"]["metadata"] == live["spec"]["template"]["metadata"]

    # The next pulumi up is accepted and keeps the rolled-out setting (and the image).
    refusals, _ = apply_render(plane, stack, rendered(stack), applied.state)
    assert refusals == []
    again = plane.get(kind.lower(), "webshop", f"--namespace={namespace}")
    (kept,) = again["spec"]["template"]["spec"]["containers"]
    assert kept["resources"]["limits"]["memory"] == "321Mi"
    assert kept["image"] == running["image"]
    if kind == "Deployment":  # leave the cluster settled for the tests after this one
        plane.kubectl(
            "rollout", "status", "deployment/webshop", f"--namespace={namespace}", "--timeout=90s"
        )
