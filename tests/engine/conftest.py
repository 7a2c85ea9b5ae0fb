"""Fixtures of the ``engine`` tier: the cluster tier's control plane, then ``pulumi up`` of every
stack through the real Pulumi engine, once per session.

The control plane is started by the cluster tier's own code (tests/cluster/plane.py
``start_control_plane``), imported, not copied, in a fixture of this tier (:func:`engine_plane`).
What the platform's Helm releases would install (their charts cannot be fetched here:
:data:`tests.engine.harness.HELM_RELEASE`) is installed as the cluster tier does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.cluster.apply import rollouts_crds, server_side_apply
from tests.cluster.conftest import (
    PRECONDITIONS,
    SERVICE_MONITOR_CRD,
    chart_version,
    platform_render,
    wait_for,
)
from tests.cluster.plane import (
    ADMIN_TOKEN,
    ControlPlane,
    start_control_plane,
    start_rollouts_controller,
)
from tests.conftest import project_path, real_tool
from tests.engine import harness
from tests.engine.harness import (
    ENVIRONMENT_STACKS,
    HELM_RELEASE,
    PLATFORM_STACKS,
    Run,
    Workspace,
)

ENGINE_GROUP: Final = "engine"
"""The tier's tests share one session (:func:`deployed`) and run in file order: under
``pytest -n 2 --dist loadgroup`` (make check) they all go to one worker."""

CLUSTER_IMAGE_POLICY_CRD: Final = project_path(
    "tests", "fixtures", "policy-controller", "clusterimagepolicy-crd-chart-0.6.5.yaml"
)
"""The ClusterImagePolicy CRD of the policy-controller chart 0.6.5 the platform pins (staging's
and prod's image policies are of that kind)."""


@pytest.fixture(scope="session")
def engine_tools() -> harness.Tools:
    """The CLI and the Kubernetes provider (built on first use, cached by version), and the
    plugin folder. GitHub is off until the GitHub half of issue 25 is merged."""
    pulumi = real_tool("pulumi", install="python tools/gotools.py pulumi")
    provider = real_tool(
        "pulumi-resource-kubernetes", install="python tools/gotools.py pulumi-resource-kubernetes"
    )
    return harness.plugin_bin(Path(pulumi), Path(provider), github_off=True)


@pytest.fixture(scope="session")
def engine_plane() -> Iterator[ControlPlane]:
    """A control plane of the tier's own, started by the cluster tier's ``start_control_plane``.
    Not the cluster tier's ``control_plane`` fixture: a worker that runs both tiers would share
    it, and the cluster tier's ``applied`` writes the same objects under its own field managers,
    which the engine's server-side apply would then conflict with."""
    folder = Path(tempfile.mkdtemp(prefix="engine-plane-"))
    try:
        plane = start_control_plane(folder)  # stops what it started if it fails half-way
        try:
            yield plane
        finally:
            plane.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Deployed:
    """The tier's workspace after the first ``pulumi up`` of every stack, and what each answered."""

    workspace: Workspace
    plane: ControlPlane
    ups: dict[str, Run] = field(default_factory=dict)
    """``platform-nonprod``, ``platform-prod``, ``dev``, ``staging``, ``prod`` -> the first up."""


def _crd_established(plane: ControlPlane, name: str) -> bool:
    conditions = (plane.get("crd", name).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _without_conversion(crd: dict[str, Any]) -> dict[str, Any]:
    """The chart's CRD converts through the policy-controller webhook, which this tier does not
    run (the supplychain tier does); the stacks write the storage version, v1alpha1, so no
    conversion is ever needed here."""
    spec = {key: value for key, value in crd["spec"].items() if key != "conversion"}
    return {**crd, "spec": spec}


def install_what_helm_would(plane: ControlPlane) -> None:
    """The Argo Rollouts CRDs (chart 2.40.5: v1.8.3's manifests/crds) and controller, the
    ClusterImagePolicy CRD and the ServiceMonitor CRD the prod cluster already has."""
    (service_monitors,) = [
        doc for doc in yaml.safe_load_all(SERVICE_MONITOR_CRD.read_text()) if doc is not None
    ]
    (image_policies,) = [
        doc for doc in yaml.safe_load_all(CLUSTER_IMAGE_POLICY_CRD.read_text()) if doc is not None
    ]
    crds = [
        *rollouts_crds(chart_version(platform_render("nonprod"), "argo-rollouts-release")),
        _without_conversion(image_policies),
        service_monitors,
    ]
    for crd in crds:
        outcome = server_side_apply(plane, crd, "helm")
        assert outcome.returncode == 0, outcome.stderr
    for crd in crds:
        name = crd["metadata"]["name"]
        wait_for(f"CRD {name} established", lambda name=name: _crd_established(plane, name))
    start_rollouts_controller(plane)


INGRESS_ADDRESS: Final = "127.0.0.1"


class IngressStatus:
    """Plays the one part of ingress-nginx the engine waits for: publishing an address in the
    status of every Ingress of its class.

    pulumi-kubernetes' Ingress await (provider/pkg/await/ingress.go, v4.24) holds ``pulumi up``
    until ``status.loadBalancer.ingress`` is set; ingress-nginx (kubernetes/ingress-nginx
    internal/ingress/status/status.go) writes there the address of the Service it publishes, for
    the Ingresses of its class (``nginx``, the platform's ``ingressClassName``). The control plane
    runs no ingress controller (nothing would serve traffic on loopback), so this thread writes that
    address through the status subresource, as the controller does, and nothing else.
    """

    def __init__(self, plane: ControlPlane, class_name: str) -> None:
        self.plane = plane
        self.class_name = class_name
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ingress-status", daemon=True)

    def __enter__(self) -> IngressStatus:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        patch = json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": INGRESS_ADDRESS}]}}})
        while not self.stop.wait(1.0):
            listed = self.plane.kubectl(
                "get", "ingress", "--all-namespaces", "--output=json", check=False
            )
            if listed.returncode != 0:
                continue
            for item in json.loads(listed.stdout).get("items", []):
                if item["spec"].get("ingressClassName") != self.class_name:
                    continue
                if (item.get("status") or {}).get("loadBalancer", {}).get("ingress"):
                    continue
                meta = item["metadata"]
                self.plane.kubectl(
                    "patch", "ingress", meta["name"], f"--namespace={meta['namespace']}",
                    "--subresource=status", "--type=merge", f"--patch={patch}", check=False,
                )  # fmt: skip


def helm_release_excludes(stack: str) -> list[str]:
    """``--exclude`` of the platform stack's Helm releases (URNs as its render has them): their
    ``Check`` fetches the chart, so a preview needs them excluded as much as an up."""
    return [f"--exclude={r.urn}" for r in platform_render(stack).of_type(HELM_RELEASE)]


def up_platform(workspace: Workspace, stack: str) -> Run:
    workspace.init_stack("platform", stack)
    return workspace.pulumi(
        "up", "--yes", "--skip-preview", "--stack", stack, *helm_release_excludes(stack),
        project="platform",
    )  # fmt: skip


def up_environment(workspace: Workspace, stack: str) -> Run:
    workspace.init_stack("environment", stack, harness.tier_settings(stack))
    return workspace.pulumi("up", "--yes", "--skip-preview", "--stack", stack)


@pytest.fixture(scope="session")
def deployed(engine_tools: harness.Tools, engine_plane: ControlPlane) -> Iterator[Deployed]:
    """Platform stacks, then dev, staging and prod, each ``pulumi up`` once (the going-live
    order). Fails at the first stack that does not come up, with the engine's output."""
    folder = Path(tempfile.mkdtemp(prefix="engine-tier-"))
    try:
        root = harness.copy_project(folder)
        kube = harness.kubeconfig(
            folder / "kubeconfig", engine_plane.server, engine_plane.ca_file, ADMIN_TOKEN
        )
        workspace = harness.login(engine_tools, root, folder / "backend", kube)
        result = Deployed(workspace, engine_plane)
        for name in PRECONDITIONS:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            server_side_apply(engine_plane, namespace, "cluster-admin")
        for stack in PLATFORM_STACKS:
            result.ups[f"platform-{stack}"] = up_platform(workspace, stack)
        install_what_helm_would(engine_plane)
        with IngressStatus(
            engine_plane, str(platform_render("nonprod").outputs["ingressClassName"])
        ):
            for stack in ENVIRONMENT_STACKS:
                result.ups[stack] = up_environment(workspace, stack)
            yield result
        _print_timings(workspace)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _print_timings(workspace: Workspace) -> None:
    """The tier's costs, one line per CLI run (shown with ``pytest -s``; docs/engine.md)."""
    for run in workspace.timings:
        print(f"engine tier: pulumi {' '.join(run.args[:3])}: {run.seconds:.1f}s")
    total = sum(run.seconds for run in workspace.timings)
    print(
        f"engine tier: {len(workspace.timings)} CLI runs, {total:.0f}s in the CLI, at {time.ctime()}"
    )
