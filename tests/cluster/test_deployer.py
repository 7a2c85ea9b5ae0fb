"""The deployer with its real ServiceAccount token: every kubectl command the deploy workflows
run is allowed (their own step scripts, run as written), everything else is refused by RBAC or
by the image-only admission policy (issue 22, items 2 and 5).

The canary steps (set image, wait, promote, abort) run against the real Argo Rollouts
controller in test_canary.py; nothing here writes a controller's status by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import NAMESPACE, Applied, dump
from tests.cluster.plane import ControlPlane
from tests.cluster.steps import KIND, StepRun, deploy_step

pytestmark = pytest.mark.cluster


def step(plane: ControlPlane, kubeconfig: Path, stack: str, name: str, **values: str) -> StepRun:
    return deploy_step(plane.kubectl_path, kubeconfig, stack, name, **values)


@pytest.mark.parametrize(
    "step_name",
    ["Promote the paused canary", "Abort the paused canary"],
)
def test_promote_and_abort_refuse_another_release(
    applied: Applied, deployer_kubeconfig: dict[str, Path], step_name: str
) -> None:
    """Promote and abort act on the canary of this run's release only: with another image named,
    they stop before any write (the controller-driven runs are in test_canary.py)."""
    plane = applied.plane
    run = step(plane, deployer_kubeconfig["prod"], "prod", step_name,
               NEW_IMAGE="ghcr.io/acme/webshop:0.0.1-not-this-release")  # fmt: skip
    assert run.returncode != 0
    assert "the canary runs" in run.stdout + run.stderr


def test_dev_deploy_and_wait_steps_run_as_the_deployer(
    applied: Applied, deployer_kubeconfig: dict[str, Path]
) -> None:
    """dev-deploy.yml's set-image and wait steps: ``kubectl set image`` then ``kubectl rollout
    status`` (a field-selected watch) until the new ReplicaSet's kwok pods are Ready."""
    plane = applied.plane
    kubeconfig = deployer_kubeconfig["dev"]
    run = step(plane, kubeconfig, "dev", "Set the new image",
               NEW_IMAGE="ghcr.io/acme/webshop:2.0.0")  # fmt: skip
    assert run.returncode == 0, run.stderr
    run = step(plane, kubeconfig, "dev", "Wait until the rollout is healthy or paused",
               TIMEOUT_SECONDS="90", PROMOTED_FROM="", ACCEPT_PAUSE="true",
               READ_FAILURES_TOLERATED="3")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.outputs.get("state") == "healthy"


def can_i(plane: ControlPlane, kubeconfig: Path, ask: tuple[str, ...], namespace: str) -> bool:
    """``kubectl auth can-i`` with the deployer's token. ``ask`` is (verb, resource[/name]) or
    (verb, resource, subresource): ``pods/exec`` alone would be read as the pod named exec."""
    verb, what, *sub = ask
    result = plane.kubectl(
        "auth", "can-i", verb, what, f"--namespace={namespace}",
        *[f"--subresource={s}" for s in sub], kubeconfig=kubeconfig, check=False,
    )  # fmt: skip
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_deployer_is_refused_everything_else(
    applied: Applied, deployer_kubeconfig: dict[str, Path], stack: str
) -> None:
    plane = applied.plane
    kubeconfig = deployer_kubeconfig[stack]
    ns = f"--namespace={NAMESPACE[stack]}"
    resource = "deployments" if KIND[stack] == "Deployment" else "rollouts.argoproj.io"
    refused: list[tuple[str, ...]] = [
        ("get", "secrets"),
        ("list", "secrets"),
        ("create", "pods"),
        ("create", "pods", "exec"),
        ("create", "pods", "attach"),
        ("create", "pods", "portforward"),
        ("create", "serviceaccounts", "token"),
        ("impersonate", "users"),
        ("impersonate", "serviceaccounts"),
        ("create", resource),
        ("delete", f"{resource}/webshop"),
        ("patch", f"{resource}/payments"),
        ("patch", "roles.rbac.authorization.k8s.io/webshop-deployer"),
        ("patch", "rolebindings.rbac.authorization.k8s.io/webshop-deployer"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("delete", "networkpolicies.networking.k8s.io/default-deny-all"),
        ("delete", "validatingadmissionpolicies.admissionregistration.k8s.io"),
    ]
    # The question itself can say yes: what the workflows do is allowed.
    assert can_i(plane, kubeconfig, ("patch", f"{resource}/webshop"), NAMESPACE[stack])
    if KIND[stack] == "Rollout":
        status = ("get", f"{resource}/webshop", "status")
        assert can_i(plane, kubeconfig, status, NAMESPACE[stack])
    allowed = [" ".join(a) for a in refused if can_i(plane, kubeconfig, a, NAMESPACE[stack])]
    assert allowed == []
    for other in set(NAMESPACE.values()) - {NAMESPACE[stack]}:
        assert not can_i(plane, kubeconfig, ("patch", f"{resource}/webshop"), other)
    # A real read of a Secret, with the real token, is refused by the server.
    result = plane.kubectl("get", "secret", "webshop-registry", ns, kubeconfig=kubeconfig,
                           check=False)  # fmt: skip
    assert result.returncode != 0 and "forbidden" in result.stderr.lower()


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "add", "path": "/spec/template/spec/containers/0/command", "value": ["sh"]}],
        [{"op": "replace", "path": "/spec/template/spec/serviceAccountName", "value": "default"}],
        [{"op": "add", "path": "/spec/template/metadata/labels/extra", "value": "x"}],
        [{"op": "replace", "path": "/spec/replicas", "value": 9}],
    ],
    ids=["command", "service-account", "pod-label", "replicas"],
)
@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_admission_policy_refuses_pod_template_changes_beyond_the_image(
    applied: Applied, deployer_kubeconfig: dict[str, Path], stack: str, patch: list[Any]
) -> None:
    plane = applied.plane
    result = plane.kubectl(
        "patch", KIND[stack].lower(), "webshop", f"--namespace={NAMESPACE[stack]}",
        "--type=json", f"--patch={json.dumps(patch)}",
        kubeconfig=deployer_kubeconfig[stack], check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ValidatingAdmissionPolicy" in result.stderr and "deployer" in result.stderr, (
        result.stderr
    )
    # The same change by the admin is admitted (dry run): the policy holds only the deployer.
    admin = plane.kubectl(
        "patch", KIND[stack].lower(), "webshop", f"--namespace={NAMESPACE[stack]}",
        "--type=json", f"--patch={json.dumps(patch)}", "--dry-run=server", check=False,
    )  # fmt: skip
    assert "ValidatingAdmissionPolicy" not in admin.stderr, admin.stderr


def test_deployer_cannot_touch_another_workload(
    applied: Applied, deployer_kubeconfig: dict[str, Path]
) -> None:
    """A second Deployment in dev's namespace (created by the admin) is out of reach."""
    plane = applied.plane
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "payments", "namespace": NAMESPACE["dev"]},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "payments"}},
            "template": {
                "metadata": {"labels": {"app": "payments"}},
                "spec": {"containers": [{"name": "payments", "image": "x.example/p:1"}]},
            },
        },
    }
    plane.kubectl("apply", "--server-side", "--field-manager=test", "--filename=-",
                  stdin=dump(other))  # fmt: skip
    result = plane.kubectl(
        "set", "image", "deployment/payments", "payments=x.example/p:2",
        f"--namespace={NAMESPACE['dev']}", kubeconfig=deployer_kubeconfig["dev"], check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "forbidden" in result.stderr.lower(), result.stderr
