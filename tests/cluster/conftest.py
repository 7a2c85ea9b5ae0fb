"""Fixtures of the ``cluster`` tier: one control plane per session, every stack applied once.

``applied`` is a first ``pulumi up`` of every stack in the order a platform engineer runs them:
the platform stacks (the Argo Rollouts CRDs of their Helm release), then dev, staging and prod.
Each resource's refusal is recorded, not raised, so that one test lists all of them.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from render.engine import PROJECT_DIR, Rendered, render
from tests.cluster.apply import apply_render, rollouts_crds, server_side_apply
from tests.cluster.plane import ControlPlane, start_control_plane, start_rollouts_controller
from tests.cluster.steps import NAMESPACE as NAMESPACE
from tests.conftest import STACKS, STACKS_DIR, project_path, render_variant, rendered

PLATFORM_DIR: Final = PROJECT_DIR / "platform"
PLATFORM_OF: Final = {"dev": "nonprod", "staging": "nonprod", "prod": "prod"}
PRECONDITIONS: Final = ("monitoring",)
"""Namespaces the platform stack expects the cluster to have (Prometheus/Grafana live there,
installed outside this project: ``cicd-platform:network.monitoringNamespace``)."""

SERVICE_MONITOR_CRD: Final = project_path(
    "tests", "fixtures", "prometheus-operator", "servicemonitor-crd.yaml"
)
"""The ServiceMonitor CRD a cluster whose platform says ``monitoring.discovery:
prometheus-operator`` already has (prometheus-operator v0.93.0, installed outside this
project with the cluster's Prometheus)."""


@cache
def platform_render(stack: str) -> Rendered:
    return render(stack, PLATFORM_DIR, stacks_dir=STACKS_DIR / "platform")


def chart_version(result: Rendered, release: str) -> str:
    (found,) = [r for r in result.resources if r.name == release]
    return str(found.inputs["version"])


@dataclass
class Applied:
    """What the first apply of each stack answered."""

    plane: ControlPlane
    refusals: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    state: set[str] = field(default_factory=set)
    """Pulumi's state, as far as the tier needs it: which resources exist (``stack/name``)."""


LOGS_KEPT: Final = PROJECT_DIR / "build" / "cluster-tier-logs"
"""Where the components' logs of a session with a failed test are kept (the temporary folder
is removed): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and the Argo
Rollouts controller, one file each, the newest session only."""


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The session's control plane: started once, stopped at the end (its own processes only).
    If a test failed, the components' logs are copied to :data:`LOGS_KEPT` first."""
    folder = Path(tempfile.mkdtemp(prefix="cluster-tier-"))
    try:
        plane = start_control_plane(folder)  # stops what it started if it fails half-way
        try:
            yield plane
        finally:
            plane.stop()
            if request.session.testsfailed:
                shutil.rmtree(LOGS_KEPT, ignore_errors=True)
                LOGS_KEPT.mkdir(parents=True)
                for log in folder.glob("*.log"):
                    shutil.copy2(log, LOGS_KEPT / log.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def applied(control_plane: ControlPlane) -> Applied:
    plane = control_plane
    result = Applied(plane)
    for name in PRECONDITIONS:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        server_side_apply(plane, namespace, "cluster-admin")
    (service_monitors,) = [
        doc for doc in yaml.safe_load_all(SERVICE_MONITOR_CRD.read_text()) if doc is not None
    ]
    for cluster in ("nonprod", "prod"):
        platform = platform_render(cluster)
        crds = [
            *rollouts_crds(chart_version(platform, "argo-rollouts-release")),
            service_monitors,
        ]
        for crd in crds:
            owner = "helm" if crd is not service_monitors else "prometheus-operator"
            outcome = server_side_apply(plane, crd, owner)
            assert outcome.returncode == 0, outcome.stderr
        for crd in crds:
            wait_for(f"CRD {crd['metadata']['name']} established",
                     lambda name=crd["metadata"]["name"]: _established(plane, name))  # fmt: skip
        if cluster == "nonprod":
            start_rollouts_controller(plane)  # the platform's Helm release runs it
        key = f"platform-{cluster}"
        result.refusals[key], result.skipped[key] = apply_render(plane, key, platform, result.state)
    for stack in STACKS:
        result.refusals[stack], result.skipped[stack] = apply_render(
            plane, stack, rendered(stack), result.state
        )
    return result


def _established(plane: ControlPlane, name: str) -> bool:
    conditions = (plane.get("crd", name).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def wait_for(what: str, check: object, seconds: float = 60.0) -> None:
    """Poll ``check()`` until it returns true (controllers are asynchronous)."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds}s")


def deployer_token(plane: ControlPlane, stack: str) -> str:
    """The deployer's real token: what the token controller wrote into its Secret."""
    namespace = NAMESPACE[stack]
    token: list[str] = []

    def filled() -> bool:
        secret = plane.get("secret", "webshop-deployer-token", f"--namespace={namespace}")
        value = (secret.get("data") or {}).get("token")
        if value:
            token.append(base64.b64decode(value).decode())
        return bool(value)

    wait_for(f"the token of {namespace}'s deployer", filled)
    return token[0]


@pytest.fixture(scope="session")
def deployer_kubeconfig(applied: Applied) -> dict[str, Path]:
    """Per stack: a kubeconfig holding the deployer's real ServiceAccount token."""
    return {
        stack: applied.plane.kubeconfig_for(
            f"deployer-{stack}", deployer_token(applied.plane, stack), NAMESPACE[stack]
        )
        for stack in STACKS
    }


def dump(obj: object) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


CANARY_VARIANT: Final[dict[str, dict[str, Any]]] = {
    "staging": {
        "cicd:canary.analysis": {"enabled": False},
        "cicd:canary.steps": [{"weight": 50, "pause": "3s"}, {"weight": 100}],
    },
    "prod": {
        "cicd:canary.analysis": {"enabled": False},
        "cicd:canary.steps": [
            {"weight": 10, "pause": "2s"},
            {"weight": 25, "pause": "2s"},
            {"weight": 50},
            {"weight": 100},
        ],
    },
}
"""Pulumi.staging.yaml's and Pulumi.prod.yaml's canary plans with pauses of seconds, analysis
off (see the docstring of tests/cluster/test_canary.py). prod keeps its manual pause before 100%."""

PROD_MANUAL_PAUSE: Final = 5
"""Index of prod's manual pause in the Rollout's steps: setWeight 10, pause, setWeight 25, pause,
setWeight 50, **pause {}**, setWeight 100."""


def rollout(plane: ControlPlane, stack: str) -> dict[str, Any]:
    return plane.get("rollout", "webshop", f"--namespace={NAMESPACE[stack]}")


def controller_took_the_services(plane: ControlPlane, stack: str) -> bool:
    return all(
        "rollouts-pod-template-hash" in (plane.get("service", name, f"--namespace={NAMESPACE[stack]}")
                                         ["spec"].get("selector") or {})
        for name in ("webshop", "webshop-canary")
    )  # fmt: skip


def apply_canary_variant(applied: Applied) -> None:
    """``pulumi up`` of staging and prod with :data:`CANARY_VARIANT`: the Rollouts take the
    short plan; the AnalysisTemplate the variant no longer declares is deleted, as Pulumi would.
    Nothing is refused: the Services keep the controller's selector (their selector is the
    stack's on creation only, components/workload.py)."""
    plane = applied.plane
    for stack, changes in CANARY_VARIANT.items():
        wait_for(f"the controller points {stack}'s Services",
                 lambda stack=stack: controller_took_the_services(plane, stack))  # fmt: skip
        refusals, _ = apply_render(plane, stack, render_variant(stack, changes), applied.state)
        assert refusals == [], "\n".join(refusals)
        plane.kubectl("delete", "analysistemplates.argoproj.io", "webshop-health",
                      f"--namespace={NAMESPACE[stack]}", "--ignore-not-found")  # fmt: skip
        live = rollout(plane, stack)
        # (the CRD's schema defaults an empty ``analysis: {analysisRunMetadata: {}}``)
        assert not live["spec"]["strategy"]["canary"].get("analysis", {}).get("templates")


@pytest.fixture(scope="session")
def canary_stacks(applied: Applied) -> Applied:
    """The stacks with :data:`CANARY_VARIANT` applied once (see :func:`apply_canary_variant`).
    A test that applies a stack's own render again (test_container_settings.py does, for
    staging) brings back its 2-minute pause and its analysis: a module that needs the variant
    after such a test applies it again."""
    apply_canary_variant(applied)
    return applied
