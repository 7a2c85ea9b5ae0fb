"""The tier's model of pulumi-kubernetes' apply (tests/cluster/apply.py), checked without a
cluster: the field manager per resource, forcing only Patch resources that ask for it, and
``handleSSAIgnoreFields`` on ``managedFields`` shaped as the API server writes them."""

from __future__ import annotations

from typing import Any

from render.engine import Registration
from tests.cluster.apply import field_manager, ignore_for_update, steps
from tests.conftest import rendered

CONTAINER = {"name": "web", "image": "x/web:1", "ports": [{"containerPort": 80}]}


def workload(image: str = "x/web:1") -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{**CONTAINER, "image": image}]}}}}


def live(image: str, managed: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    obj = workload(image)
    obj["metadata"] = {
        "managedFields": [{"manager": m, "fieldsV1": fields} for m, fields in managed]
    }
    return obj


ATOMIC: dict[str, Any] = {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}
KEYED_IMAGE: dict[str, Any] = {
    "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}}}}
}
KEYED_REST: dict[str, Any] = {
    "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:ports": {}}}}}}
}
PATH = "spec.template.spec.containers"


def test_a_list_only_another_manager_owns_is_dropped() -> None:
    """Rollout after a deploy: kubectl-patch owns the atomic list, Pulumi nothing of it."""
    current = live("x/web:2", [("pulumi-kubernetes-1", {"f:spec": {}}), ("kubectl-patch", ATOMIC)])
    sent = ignore_for_update(workload(), current, "pulumi-kubernetes-1", [PATH])
    assert "containers" not in sent["spec"]["template"]["spec"]


def test_a_shared_list_is_sent_as_it_is_live() -> None:
    """Deployment after a deploy: kubectl-set owns the image, Pulumi the rest."""
    current = live("x/web:2", [("pulumi-kubernetes-1", KEYED_REST), ("kubectl-set", KEYED_IMAGE)])
    sent = ignore_for_update(workload(), current, "pulumi-kubernetes-1", [PATH])
    assert sent["spec"]["template"]["spec"]["containers"][0]["image"] == "x/web:2"


def test_an_indexed_path_is_not_followed() -> None:
    """What made issue 22's item 3: ``containers[0].image`` matches nothing, the input stays."""
    current = live("x/web:2", [("pulumi-kubernetes-1", KEYED_REST), ("kubectl-set", KEYED_IMAGE)])
    sent = ignore_for_update(workload(), current, "pulumi-kubernetes-1", [f"{PATH}[0].image"])
    assert sent["spec"]["template"]["spec"]["containers"][0]["image"] == "x/web:1"


def test_managers_are_per_resource_and_stable() -> None:
    def registration(name: str, annotations: dict[str, str] | None = None) -> Registration:
        inputs = {"metadata": {"name": "x", "annotations": annotations or {}}}
        return Registration(
            type="kubernetes:core/v1:ConfigMap", name=name, parent=None, custom=True,
            inputs=inputs, options={}, urn=f"urn:{name}",
        )  # fmt: skip

    first, second = field_manager("dev", registration("a")), field_manager("dev", registration("b"))
    assert first.startswith("pulumi-kubernetes-") and len(first) == len("pulumi-kubernetes-") + 8
    assert first != second and first == field_manager("dev", registration("a"))
    named = registration("a", {"pulumi.com/patchFieldManager": "mine"})
    assert field_manager("dev", named) == "mine"


def test_only_patch_resources_asking_for_it_are_forced(stack: str) -> None:
    assert not [s for s in steps(stack, rendered(stack)) if s.force]
    assert all("[secret]" not in str(s.obj) for s in steps(stack, rendered(stack)))
