"""Fixtures of the admission tests: a control plane of its own, the policy-controller webhook
registered against it, and the supplychain tier's loopback registry and signers.

The control plane is the ``cluster`` tier's (tests/cluster/plane.py) but a separate instance:
the webhook refuses unsigned pods in every namespace labelled ``policy.sigstore.dev/include``,
which would change what the cluster tier's own tests see if they shared one. The registry, the
cosign wrapper and the test CA are the ``supplychain`` tier's fixtures (imported, not copied).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admission.webhook import Webhook, install
from tests.cluster.plane import ControlPlane, start_control_plane
from tests.conftest import real_tool
from tests.supplychain.conftest import registry, tools, workdir

__all__ = ["admission_plane", "policy_controller", "registry", "tools", "workdir"]


@pytest.fixture(scope="session")
def admission_plane() -> Iterator[ControlPlane]:
    """A control plane for these tests alone (its own processes, stopped at the end)."""
    folder = Path(tempfile.mkdtemp(prefix="admission-tier-"))
    try:
        plane = start_control_plane(folder)
        try:
            yield plane
        finally:
            plane.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def policy_controller(admission_plane: ControlPlane) -> Iterator[Webhook]:
    """The chart's objects applied and the webhook serving (tests/admission/webhook.py)."""
    binary = real_tool(
        "policy-controller-webhook", install="python tools/gotools.py policy-controller-webhook"
    )
    real_tool("openssl", install="apt-get install -y openssl")
    webhook = install(admission_plane, binary, admission_plane.folder / "policy-controller")
    try:
        yield webhook
    finally:
        webhook.stop()
