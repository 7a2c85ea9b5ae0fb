"""``cluster.access: inCluster`` on the real control plane: the runner scale set's ServiceAccount
(platform stack) bound to the environment's deployer Role (environment stack) can do exactly
the deployer's verbs in its namespace and nothing in another environment's, as the real RBAC
authorizer answers; and the deploy job's kubeconfig script, given a real token of that
ServiceAccount, reaches the API server as that identity (docs/runners.md).

The inCluster render is prod's with its namespace moved to ``webshop-prod-arc``, so that its
RoleBinding (same name as token-mode prod's, which the session applied) lives beside the others;
what is applied is what carries the identity and the permission: the platform's runner namespace
and ServiceAccount, the environment's namespace, Role and RoleBinding. The image-only admission
policy is cluster-scoped under prod's own name and is left to the render tests
(tests/test_runners.py checks it names the runner identity).
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.access import deployer_rules
from components.workflows.common import SCRIPTS_DIR
from render.engine import Rendered, render
from tests.arc_project import ARC_PROD, IN_CLUSTER
from tests.cluster.apply import apply_step, steps
from tests.cluster.conftest import Applied
from tests.cluster.plane import ControlPlane
from tests.cluster.steps import NAMESPACE
from tests.conftest import copy_project, variant

pytestmark = pytest.mark.cluster

OWN: Final = "webshop-prod-arc"
RUNNER_NAMESPACE: Final = "arc-runners-prod"
RUNNER_ACCOUNT: Final = "webshop-prod-runner"
RUNNER_USER: Final = f"system:serviceaccount:{RUNNER_NAMESPACE}:{RUNNER_ACCOUNT}"
APPLIED_KINDS: Final = frozenset({"Namespace", "ServiceAccount", "Role", "RoleBinding"})


def _renders(root: Path) -> tuple[Rendered, Rendered]:
    copy_project(root)
    platform_file = root / "platform" / "Pulumi.prod.yaml"
    document = yaml.safe_load(platform_file.read_text())
    document["config"]["cicd-platform:runners"] = ARC_PROD
    platform_file.write_text(yaml.safe_dump(document, sort_keys=False))
    changes = {**IN_CLUSTER, "cicd:environment.namespace": OWN}
    platform = render("prod", root / "platform")
    environment = render("prod", root, stack_config=variant("prod", changes))
    return platform, environment


@pytest.fixture(scope="module")
def arc_renders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, Rendered]:
    return _renders(tmp_path_factory.mktemp("runner-identity"))


@pytest.fixture(scope="module")
def runner_bound(applied: Applied, arc_renders: tuple[Rendered, Rendered]) -> ControlPlane:
    """The runner identity and its permission applied (the rest of the session as usual)."""
    plane = applied.plane
    platform, environment = arc_renders
    for stack, result in (("platform-prod-arc", platform), ("prod-arc", environment)):
        for step in steps(stack, result):
            if step.obj["kind"] in APPLIED_KINDS:
                apply_step(plane, step, update=False)
    return plane


def _dry_run_pod(plane: ControlPlane, spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "runner-dry-run", "namespace": RUNNER_NAMESPACE},
        "spec": spec,
    }
    return plane.kubectl(
        "create", "--dry-run=server", "--filename=-", stdin=yaml.safe_dump(pod), check=False
    )


def test_the_runner_pod_passes_the_restricted_pod_security_of_its_namespace(
    runner_bound: ControlPlane, arc_renders: tuple[Rendered, Rendered]
) -> None:
    # Given the pod template the platform passes to the scale set chart, when a pod of it is
    # created (server-side dry run) in the runner namespace, then the real PodSecurity admission
    # (restricted, enforced by the namespace's labels) admits it without a warning.
    platform, _ = arc_renders
    (release,) = [
        r for r in platform.of_type("kubernetes:helm.sh/v3:Release")
        if str(r.inputs["chart"]).endswith("/gha-runner-scale-set")
    ]  # fmt: skip
    spec = copy.deepcopy(release.inputs["values"]["template"]["spec"])
    done = _dry_run_pod(runner_bound, spec)
    assert done.returncode == 0, done.stderr
    assert "PodSecurity" not in done.stderr
    # The chart's own runner container (no security context) would be refused there.
    del spec["securityContext"], spec["containers"][0]["securityContext"]
    refused = _dry_run_pod(runner_bound, spec)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr


def can_i(
    plane: ControlPlane, verb: str, resource: str, namespace: str, subresource: str | None = None
) -> bool:
    """The real authorizer's answer for the runner identity (admin impersonating it)."""
    sub = [f"--subresource={subresource}"] if subresource else []
    result = plane.kubectl(
        "auth", "can-i", verb, resource, f"--namespace={namespace}", f"--as={RUNNER_USER}", *sub,
        check=False,
    )  # fmt: skip
    return result.stdout.strip() == "yes"


def _asks() -> list[tuple[str, str, str | None]]:
    """(verb, resource[/name], subresource) for every verb of the deployer Role of prod."""
    asks: list[tuple[str, str, str | None]] = []
    for groups, resources, verbs, names in deployer_rules("Rollout", "webshop"):
        for resource in resources:
            base, _, sub = resource.partition("/")
            qualified = f"{base}.{groups[0]}" if groups[0] else base
            target = f"{qualified}/{names[0]}" if names else qualified
            asks += [(verb, target, sub or None) for verb in verbs]
    return asks


def test_the_runner_identity_has_exactly_the_deployers_verbs_in_its_namespace(
    runner_bound: ControlPlane,
) -> None:
    plane = runner_bound
    allowed = [ask for ask in _asks() if not _can(plane, ask, OWN)]
    assert allowed == [], "the runner identity lacks these deployer verbs"
    refused = [
        ("get", "secrets", None),
        ("list", "secrets", None),
        ("create", "pods", None),
        ("create", "pods", "exec"),
        ("delete", "rollouts.argoproj.io/webshop", None),
        ("patch", "rollouts.argoproj.io/other", None),
        ("create", "serviceaccounts", "token"),
        ("patch", "rolebindings.rbac.authorization.k8s.io", None),
    ]
    assert [ask for ask in refused if _can(plane, ask, OWN)] == []


def _can(plane: ControlPlane, ask: tuple[str, str, str | None], namespace: str) -> bool:
    verb, resource, sub = ask
    return can_i(plane, verb, resource, namespace, sub)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_runner_identity_can_do_nothing_in_another_environment(
    runner_bound: ControlPlane, stack: str
) -> None:
    plane = runner_bound
    namespace = NAMESPACE[stack]
    assert [ask for ask in _asks() if _can(plane, ask, namespace)] == []
    # Nor anything cluster-wide, nor in its own runner namespace (it only runs there).
    assert not can_i(plane, "list", "namespaces", "default")
    assert not can_i(plane, "get", "secrets", RUNNER_NAMESPACE)


def test_the_deploy_jobs_kubeconfig_reaches_the_cluster_as_the_runner(
    runner_bound: ControlPlane, tmp_path: Path
) -> None:
    # Given what a runner pod has (a projected token of its ServiceAccount, the cluster CA and
    # KUBERNETES_SERVICE_HOST/PORT), when the deploy job's kubeconfig step runs, then kubectl
    # talks to the API server as the runner identity, with the deployer's verbs only.
    plane = runner_bound
    token = plane.kubectl(
        "create", "token", RUNNER_ACCOUNT, f"--namespace={RUNNER_NAMESPACE}", "--duration=10m"
    ).stdout.strip()
    pod = tmp_path / "serviceaccount"
    pod.mkdir()
    (pod / "token").write_text(token)
    (pod / "ca.crt").write_bytes(plane.ca_file.read_bytes())
    host, _, port = plane.server.removeprefix("https://").rpartition(":")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(plane.kubectl_path)
    kubeconfig = tmp_path / "kubeconfig"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "KUBECONFIG": str(kubeconfig),
        "NAMESPACE": OWN,
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "SERVICE_ACCOUNT_DIR": str(pod),
    }
    script = SCRIPTS_DIR / "kubeconfig_in_cluster.sh"
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert token not in kubeconfig.read_text()  # a path to the pod's token, never the token

    def kubectl(*args: str) -> str:
        result = plane.kubectl(*args, kubeconfig=kubeconfig, check=False)
        return result.stdout.strip()

    assert kubectl("auth", "whoami", "--output=jsonpath={.status.userInfo.username}") == RUNNER_USER
    assert kubectl("auth", "can-i", "patch", "rollouts.argoproj.io/webshop") == "yes"
    assert kubectl("auth", "can-i", "get", "secrets") == "no"
    assert kubectl("auth", "can-i", "get", "pods", f"--namespace={NAMESPACE['prod']}") == "no"


def test_the_kubeconfig_step_fails_off_the_scale_set(tmp_path: Path) -> None:
    """On any other runner (no ServiceAccount in the pod) the step stops with one clear line."""
    script = SCRIPTS_DIR / "kubeconfig_in_cluster.sh"
    env = {
        "PATH": os.environ["PATH"],
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "NAMESPACE": OWN,
        "SERVICE_ACCOUNT_DIR": str(tmp_path / "none"),
    }
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "must run on the environment's runner scale set" in done.stdout
    assert not (tmp_path / "kubeconfig").exists()
