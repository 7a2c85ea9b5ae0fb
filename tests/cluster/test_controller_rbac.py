"""The Argo Rollouts controller's own RBAC (issue 22).

The tier runs the controller with a token of its own ServiceAccount, bound to the ClusterRole the
chart gives it (tests/cluster/plane.py ``ROLLOUTS_CONTROLLER_RULES``), so every canary of
test_canary.py and test_workflows.py is driven with exactly those permissions. The platform
stack installs the controller through Helm chart argo-rollouts 2.40.5 (components/platform.py)
and adds no RBAC of its own: what the controller gets in a real cluster is the chart's
ClusterRole, which the fast test here holds the render to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Applied, platform_render
from tests.cluster.plane import (
    ROLLOUTS_NAMESPACE,
    ROLLOUTS_SERVICE_ACCOUNT,
    ControlPlane,
)

CHART_VERSION = "2.40.5"
"""The chart whose ClusterRole ROLLOUTS_CONTROLLER_RULES restates: a new pin means reading the
new chart's ``argo-rollouts.controller.roleRules`` again."""

RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def _values(cluster: str) -> dict[str, Any]:
    (release,) = [
        r for r in platform_render(cluster).resources if r.name == "argo-rollouts-release"
    ]
    assert release.inputs["version"] == CHART_VERSION, "re-read the chart's ClusterRole"
    values: dict[str, Any] = release.inputs.get("values") or {}
    return values


@pytest.mark.parametrize("cluster", ["nonprod", "prod"])
def test_the_platform_stack_leaves_the_controller_the_charts_rbac(cluster: str) -> None:
    """No value that would drop or replace the chart's ServiceAccount, ClusterRole or binding
    (chart 2.40.5 values.yaml: ``clusterInstall``, ``controller.createClusterRole``,
    ``serviceAccount.create``/``name``, ``providerRBAC``), and no RBAC object of the stack's own
    naming the controller's ServiceAccount or living in its namespace."""
    values = _values(cluster)
    assert values.get("clusterInstall", True) is True
    assert (values.get("controller") or {}).get("createClusterRole", True) is True
    account = values.get("serviceAccount") or {}
    assert account.get("create", True) is True and "name" not in account
    assert "providerRBAC" not in values
    own: list[str] = []
    for resource in platform_render(cluster).resources:
        kind = resource.type.rsplit(":", 1)[-1]
        if kind not in RBAC_KINDS:
            continue
        metadata = resource.inputs.get("metadata") or {}
        subjects = resource.inputs.get("subjects") or []
        if metadata.get("namespace") == ROLLOUTS_NAMESPACE or any(
            s.get("name") == ROLLOUTS_SERVICE_ACCOUNT for s in subjects
        ):
            own.append(f"{kind} {resource.name}")
    assert own == []


def _controller_kubeconfig(plane: ControlPlane) -> Path:
    (found,) = plane.folder.glob("kubeconfig-system_serviceaccount_argo-rollouts_*")
    return found


def refusals(plane: ControlPlane) -> list[str]:
    """Lines of the controller's log where the API server refused it."""
    log = (plane.folder / "rollouts-controller.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "forbidden" in line.lower()]


@pytest.mark.cluster
def test_the_controller_runs_as_its_service_account_with_the_charts_role(
    canary_stacks: Applied,
) -> None:
    """Who the controller is, what it may do, and that it was refused nothing while it drove
    test_canary.py's canaries (which run before this module)."""
    plane = canary_stacks.plane
    kubeconfig = _controller_kubeconfig(plane)
    whoami = plane.kubectl("auth", "whoami", "--output=jsonpath={.status.userInfo.username}",
                           kubeconfig=kubeconfig).stdout  # fmt: skip
    assert whoami == f"system:serviceaccount:{ROLLOUTS_NAMESPACE}:{ROLLOUTS_SERVICE_ACCOUNT}"

    def can_i(*ask: str) -> bool:
        result = plane.kubectl("auth", "can-i", *ask, "--namespace=webshop-prod",
                               kubeconfig=kubeconfig, check=False)  # fmt: skip
        return result.stdout.strip() == "yes"

    assert can_i("patch", "rollouts.argoproj.io/status")
    assert can_i("create", "replicasets.apps")
    assert can_i("patch", "services")
    assert can_i("create", "ingresses.networking.k8s.io")
    assert not can_i("create", "pods")
    assert not can_i("delete", "secrets")
    assert not can_i("patch", "deployments.apps")
    assert not can_i("create", "rolebindings.rbac.authorization.k8s.io")
    assert not can_i("impersonate", "users")
    assert refusals(plane) == []
