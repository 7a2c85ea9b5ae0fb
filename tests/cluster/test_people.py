"""People's access, asked of the real authoriser (issue 22, item 4): for each group a stack
binds, ``kubectl auth can-i`` as a member of that group (admin impersonation: a
SelfSubjectAccessReview evaluated with exactly that user's groups, ``system:authenticated``
included as the server adds it).

Every group may read what a release needs to be understood; no group may read a Secret,
impersonate, mint a token, exec/attach/port-forward, create pods or delete the guardrails
(NetworkPolicies, the PodDisruptionBudget, the admission policy and its binding).
"""

from __future__ import annotations

import pytest

from tests.cluster.conftest import NAMESPACE, Applied
from tests.cluster.plane import ControlPlane
from tests.conftest import stack_config

pytestmark = pytest.mark.cluster

NEVER = (
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("get", "secrets/webshop-deployer-token"),
    ("impersonate", "users"),
    ("impersonate", "groups"),
    ("impersonate", "serviceaccounts"),
    ("create", "serviceaccounts", "token"),
    ("create", "pods"),
    ("create", "pods", "exec"),
    ("create", "pods", "attach"),
    ("create", "pods", "portforward"),
    ("create", "deployments.apps"),
    ("create", "jobs.batch"),
    ("update", "deployments.apps/webshop"),
    ("delete", "networkpolicies.networking.k8s.io/default-deny-all"),
    ("patch", "networkpolicies.networking.k8s.io/default-deny-all"),
    ("delete", "poddisruptionbudgets.policy/webshop"),
    ("delete", "validatingadmissionpolicies.admissionregistration.k8s.io"),
    ("delete", "validatingadmissionpolicybindings.admissionregistration.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "roles.rbac.authorization.k8s.io/webshop-deployer"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
    ("bind", "roles.rbac.authorization.k8s.io"),
)

READS = (
    ("get", "pods"),
    ("list", "pods"),
    ("get", "pods", "log"),
    ("list", "events"),
    ("list", "replicasets.apps"),
    ("get", "services"),
)

OPERATES = (
    ("delete", "pods"),
    ("create", "pods", "eviction"),
)


def groups(stack: str) -> list[tuple[str, str]]:
    """(role, group) of every people binding the stack's config asks for."""
    access = stack_config(stack).get("cicd:access", {})
    return [(role, g) for role in ("viewer", "operator") for g in access.get(f"{role}Groups", [])]


CASES = [
    (stack, role, group) for stack in ("dev", "staging", "prod") for role, group in groups(stack)
]


def can(plane: ControlPlane, stack: str, group: str, verb: str, what: str, sub: str = "") -> bool:
    """``what`` is ``resource[.group][/name]``; ``sub`` a subresource (``kubectl auth can-i``
    reads ``pods/exec`` as the pod named exec, hence the separate flag)."""
    result = plane.kubectl(
        "auth", "can-i", verb, what, f"--namespace={NAMESPACE[stack]}",
        *([f"--subresource={sub}"] if sub else []),
        "--as=alice@acme.example", f"--as-group={group}", check=False,
    )  # fmt: skip
    return result.stdout.strip() == "yes"


def test_every_people_binding_is_checked() -> None:
    assert {role for _, role, _ in CASES} == {"viewer", "operator"}


@pytest.mark.parametrize(("stack", "role", "group"), CASES)
def test_group_role(applied: Applied, stack: str, role: str, group: str) -> None:
    plane = applied.plane
    operator = any(r == "operator" for r, g in groups(stack) if g == group)
    missing = [" ".join(a) for a in READS if not can(plane, stack, group, *a)]
    assert missing == [], f"{group} cannot read what a release needs"
    granted = [" ".join(a) for a in NEVER if can(plane, stack, group, *a)]
    assert granted == [], f"{group} ({role}) in {stack} may do what nobody may"
    operations = {" ".join(a): can(plane, stack, group, *a) for a in OPERATES}
    assert operations == {key: operator for key in operations}
    # Only in the stack's own namespace.
    for other in set(NAMESPACE) - {stack}:
        if group not in {g for _, g in groups(other)}:
            assert not can(plane, other, group, "get", "pods")


def test_anonymous_reads_nothing(applied: Applied) -> None:
    for stack in NAMESPACE:
        assert not can(applied.plane, stack, "system:unauthenticated", "get", "pods")
