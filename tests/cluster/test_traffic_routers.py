"""Each traffic router's render against the real API server, its real CRDs and the real controller.

The CRDs are the projects' own, from their Go modules at pinned versions (tools/crds.py):
Traefik v3.7.13 (traefik.io), Gateway API v1.6.3 (standard channel), cert-manager v1.21.2
(Certificate). For every router (traefik, gatewayApi, none; nginx is the shipped stacks',
applied by the session fixture), staging (a canary) and dev (no canary) are rendered from a
project copy whose nonprod platform names the router (tests/test_traffic_routers.py), each in a
namespace of its own, and applied the way pulumi-kubernetes does (tests/cluster/apply.py): every
object must be accepted by the API server's validation of its CRD schema.

With traefik, the real Argo Rollouts controller (v1.8.3) then drives the weights: a second
controller instance, started with the flags the platform stack gives it under traefik
(``--traefik-api-group``/``--traefik-api-version``, components/traffic_router.py) and an
``--instance-id`` so that it and the session's controller each keep to their own Rollouts,
writes the TraefikService's weights when the canary reaches its ``setWeight`` step. The
``argo-rollouts.argoproj.io/controller-instance-id`` label is the one thing the tests add to a
rendered Rollout, for that isolation alone; and they leave out the two admission-policy objects
named after the app and environment (:data:`SHARED_KINDS`), which the session's stacks hold.

Each test fails without what it guards (checked by hand): without the ``ignore_changes`` on the
TraefikService's list, the re-apply is refused (``conflict with "rollouts-controller" ...
.spec.weighted.services``); without the Traefik flags, the controller fails on
``traefik.containo.us`` and the Rollout never becomes Healthy.

The Gateway API plugin (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi) is not run: the
Go module proxy refuses that module (``403 Forbidden``, "This module version is not available"),
so its binary cannot be built here; the HTTPRoute it would weight is validated by its CRD only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.traffic_router import TRAEFIK_CONTROLLER_ARGS
from render.engine import Rendered, render
from tests.cluster.apply import NOT_APPLIED, apply_render, server_side_apply
from tests.cluster.conftest import Applied, _established, wait_for
from tests.cluster.plane import ControlPlane, start_rollouts_controller
from tests.test_traffic_routers import project_with_router
from tools.crds import crds

pytestmark = pytest.mark.cluster

ROUTER_NAMESPACE: Final = {"traefik": "traefik", "gatewayApi": "gateway-api", "none": "none"}
INSTANCE_ID: Final = "traffic-routers"
INSTANCE_LABEL: Final = "argo-rollouts.argoproj.io/controller-instance-id"
UNRECONCILED: Final = "not-reconciled"
"""The instance id of the Rollouts applied only to be validated: no controller runs with it, so
neither the session's controller (which has no Traefik flags and no Gateway API plugin) nor the
traefik instance below reconciles them."""
CRD_OWNERS: Final = {
    "traefik-crds": "traefik",
    "gateway-api-crds": "gateway-api",
    "cert-manager-crds": "cert-manager",
}


@pytest.fixture(scope="module")
def router_plane(applied: Applied) -> ControlPlane:
    """The session's control plane with the routers' CRDs installed, as their charts do."""
    plane = applied.plane
    installed = []
    for name, owner in CRD_OWNERS.items():
        for crd in crds(name):
            outcome = server_side_apply(plane, crd, owner)
            assert outcome.returncode == 0, outcome.stderr
            installed.append(crd["metadata"]["name"])
    for crd_name in installed:
        wait_for(f"CRD {crd_name} established",
                 lambda crd_name=crd_name: _established(plane, crd_name))  # fmt: skip
    return plane


SHARED_KINDS: Final = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
"""Cluster-scoped objects named after the app and environment, not the namespace: the session's
own staging and dev hold them already (tests/cluster/test_apply.py applies them), and no router
changes them, so the router renders leave them out rather than fight over them."""


def for_the_tier(result: Rendered, instance_id: str = UNRECONCILED) -> Rendered:
    """The render without :data:`SHARED_KINDS`, its Rollout labelled for controller
    ``instance_id``."""
    kept = [r for r in result.resources if r.inputs.get("kind") not in SHARED_KINDS]
    for resource in kept:
        if resource.inputs.get("kind") == "Rollout":
            resource.inputs["metadata"]["labels"][INSTANCE_LABEL] = instance_id
    return dataclasses.replace(result, resources=kept)


def stack_in_namespace(root: Path, stack: str, namespace: str) -> None:
    """Move ``stack`` of the project copy to ``namespace`` (cluster-scoped objects are named
    after it, so nothing is shared with the session's stacks)."""
    path = root / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["cicd:environment"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(data))


def router_renders(
    root: Path,
    router: str,
    staging: dict[str, Any] | None = None,
    suffix: str = "",
    instance_id: str = UNRECONCILED,
) -> dict[str, Rendered]:
    """staging's and dev's renders under ``router``, in ``webshop-<stack>-<router><suffix>``,
    ready for the tier (:func:`for_the_tier`)."""
    project_with_router(root, router, staging)
    renders = {}
    for stack in ("staging", "dev"):
        stack_in_namespace(root, stack, f"webshop-{stack}-{ROUTER_NAMESPACE[router]}{suffix}")
        renders[stack] = for_the_tier(render(stack, root), instance_id)
    return renders


@pytest.mark.parametrize("router", ["traefik", "gatewayApi", "none"])
def test_every_object_of_each_router_passes_the_real_crds(
    router_plane: ControlPlane, applied: Applied, router: str, tmp_path: Path
) -> None:
    """Given the router's render, when it is applied, then the API server accepts every object:
    the route kinds against Traefik's, Gateway API's and cert-manager's own CRD schemas."""
    for stack, result in router_renders(tmp_path, router).items():
        key = f"{router}-{stack}"
        refusals, skipped = apply_render(router_plane, key, result, applied.state)
        assert refusals == [], "\n".join(refusals)
        assert set(skipped) <= set(NOT_APPLIED)
    namespace = f"webshop-staging-{ROUTER_NAMESPACE[router]}"
    kinds = {
        "traefik": ("traefikservices.traefik.io", "ingressroutes.traefik.io",
                    "certificates.cert-manager.io"),
        "gatewayApi": ("httproutes.gateway.networking.k8s.io",),
        "none": ("ingresses.networking.k8s.io",),
    }[router]  # fmt: skip
    for kind in kinds:
        router_plane.get(kind, "webshop", f"--namespace={namespace}")


def test_the_crds_refuse_what_their_schema_refuses(router_plane: ControlPlane) -> None:
    """The check above can fail: the same CRDs refuse a negative backend weight (Gateway API:
    ``minimum: 0``) and a TraefikService entry without a name (``required: [name]``)."""
    bad_route = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"rules": [{"backendRefs": [{"name": "x", "port": 80, "weight": -1}]}]},
    }  # fmt: skip
    bad_service = {
        "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"weighted": {"services": [{"port": 80, "weight": 1}]}},
    }  # fmt: skip
    for obj in (bad_route, bad_service):
        outcome = server_side_apply(router_plane, obj, "test")
        assert outcome.returncode != 0, f"{obj['kind']} accepted"
        assert "Invalid value" in outcome.stderr or "Required value" in outcome.stderr


CANARY_AT_HALF: Final = {
    "enabled": True,
    "analysis": {"enabled": False},
    "steps": [{"weight": 50}, {"weight": 100}],
}
"""A canary that stops at 50% until promoted, without analysis (the tier has no Prometheus and
kwok's pods serve nothing; tests/cluster/test_canary.py says why)."""


@pytest.fixture(scope="module")
def traefik_controller(router_plane: ControlPlane) -> Iterator[ControlPlane]:
    """A second Argo Rollouts controller with the traefik router's flags, for labelled Rollouts."""
    process = start_rollouts_controller(
        router_plane,
        name="rollouts-controller-traefik",
        args=(f"--instance-id={INSTANCE_ID}", *TRAEFIK_CONTROLLER_ARGS),
    )
    yield router_plane
    process.terminate()
    process.wait(timeout=15)


def weights(plane: ControlPlane, namespace: str) -> dict[str, int]:
    service = plane.get("traefikservices.traefik.io", "webshop", f"--namespace={namespace}")
    return {s["name"]: s.get("weight") for s in service["spec"]["weighted"]["services"]}


def test_the_controller_writes_the_traefik_weights(
    traefik_controller: ControlPlane, applied: Applied, tmp_path: Path
) -> None:
    """Given staging under traefik, when a new image reaches the canary's 50% step, then the real
    controller has set the TraefikService to 50/50; and a ``pulumi up`` of the unchanged stack
    during that canary is accepted and leaves the controller's weights alone."""
    plane = traefik_controller
    changes = {"cicd:canary": CANARY_AT_HALF}
    result = router_renders(
        tmp_path, "traefik", changes, suffix="-canary", instance_id=INSTANCE_ID
    )["staging"]
    namespace = "webshop-staging-traefik-canary"
    key = "traefik-canary"
    refusals, _ = apply_render(plane, key, result, applied.state)
    assert refusals == [], "\n".join(refusals)

    def phase() -> str:
        live = plane.get("rollout", "webshop", f"--namespace={namespace}")
        return str((live.get("status") or {}).get("phase"))

    wait_for("the first revision Healthy", lambda: phase() == "Healthy", 120)
    assert weights(plane, namespace) == {"webshop": 100, "webshop-canary": 0}
    plane.kubectl(
        "patch", "rollout", "webshop", f"--namespace={namespace}", "--type=json",
        '--patch=[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
        '"value": "ghcr.io/acme/webshop:1.4.3"}]',
    )  # fmt: skip
    wait_for("the controller's 50/50 split",
             lambda: weights(plane, namespace) == {"webshop": 50, "webshop-canary": 50},
             120)  # fmt: skip
    assert phase() == "Paused"
    refusals, _ = apply_render(plane, key, result, applied.state)
    assert refusals == [], "\n".join(refusals)
    assert weights(plane, namespace) == {"webshop": 50, "webshop-canary": 50}
