"""The real Pulumi engine: ``pulumi up``/``preview``/``destroy`` of every stack against the control
plane, in the going-live order (docs/engine.md says what this checks that the render cannot).

Tests share one session (``deployed``: every stack up once) and run in file order: the later ones
change the cluster (a workflow deploy, a refused destroy).
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from tests.engine.conftest import ENGINE_GROUP, Deployed, helm_release_excludes
from tests.engine.harness import ENVIRONMENT_STACKS, PLATFORM_OF, Workspace, secret_value

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group(ENGINE_GROUP)]

NAMESPACE: Final = {"dev": "webshop-dev", "staging": "webshop-staging", "prod": "webshop-prod"}
STACK_REFERENCE: Final = "pulumi:pulumi:StackReference"
DEPLOYED_IMAGE: Final = "ghcr.io/acme/webshop@sha256:" + "ab" * 32
"""The digest a deploy workflow sets (any digest: kwok runs no image)."""


def _summary(workspace: Workspace, stack: str, *extra: str) -> dict[str, Any]:
    """``pulumi preview --json``'s change summary (op -> count) and steps."""
    preview = workspace.pulumi("preview", "--json", "--stack", stack, *extra).json()
    assert isinstance(preview, dict)
    return preview


def _changes(preview: dict[str, Any]) -> dict[str, int]:
    return {op: n for op, n in (preview.get("changeSummary") or {}).items() if op != "same" and n}


def _workload(deployed: Deployed, stack: str) -> tuple[str, str]:
    outputs = deployed.workspace.pulumi("stack", "output", "--json", "--stack", stack).json()
    return str(outputs["workload"]["kind"]), str(outputs["workload"]["name"])


def test_every_stack_comes_up_and_its_objects_are_live(deployed: Deployed) -> None:
    """Given the platform stacks and then dev, staging and prod, when each ``pulumi up`` runs
    against the control plane, then each exits 0 and the API server holds what it declared."""
    assert set(deployed.ups) == {"platform-nonprod", "platform-prod", *ENVIRONMENT_STACKS}
    for stack in ENVIRONMENT_STACKS:
        namespace = deployed.plane.get("namespace", NAMESPACE[stack])
        assert namespace["metadata"]["labels"]["environment"] == stack
        kind, name = _workload(deployed, stack)
        live = deployed.plane.get(kind.lower(), name, f"--namespace={NAMESPACE[stack]}")
        assert live["metadata"]["name"] == name


def test_preview_after_up_shows_no_changes(deployed: Deployed) -> None:
    """Given every stack just came up, when ``pulumi preview`` runs again, then it plans nothing:
    the providers' diff agrees with what the first up wrote (no perpetual diff)."""
    for project, stack in [("platform", "nonprod"), ("platform", "prod")]:
        preview = deployed.workspace.pulumi(
            "preview", "--json", "--stack", stack, *helm_release_excludes(stack), project=project
        ).json()
        assert _changes(preview) == {}, f"platform {stack}: {preview.get('changeSummary')}"
    for stack in ENVIRONMENT_STACKS:
        preview = _summary(deployed.workspace, stack)
        assert _changes(preview) == {}, f"{stack}: {preview.get('changeSummary')}"


def test_stack_outputs_flow_from_platform_through_a_stack_reference(deployed: Deployed) -> None:
    """Given the environment stacks read their platform stack by ``StackReference``, then the
    reference in each environment's state holds the platform stack's real outputs."""
    for stack in ENVIRONMENT_STACKS:
        platform = PLATFORM_OF[stack]
        platform_outputs = deployed.workspace.pulumi(
            "stack", "output", "--json", "--stack", platform, project="platform"
        ).json()
        (reference,) = [
            r for r in deployed.workspace.resources("environment", stack)
            if r["type"] == STACK_REFERENCE
        ]  # fmt: skip
        assert reference["outputs"]["name"] == f"organization/cicd-platform/{platform}"
        assert (
            reference["outputs"]["outputs"]["ingressNamespace"]
            == (platform_outputs["ingressNamespace"])
        )
        assert (
            reference["outputs"]["outputs"]["rolloutsNamespace"]
            == (platform_outputs["rolloutsNamespace"])
        )


def test_secrets_are_encrypted_in_the_state(deployed: Deployed) -> None:
    """Given every secret was set with ``pulumi config set --secret`` to a known value, then no
    state file of the backend and no stack export holds any of them in plain text, and the
    exports hold ciphertext where the secrets went."""
    workspace = deployed.workspace
    known = {
        secret_value(stack, key)
        for stack in ENVIRONMENT_STACKS
        for key in workspace.secrets_set.get(stack, ())
    }
    assert known, "no secret was set: the check below would prove nothing"
    files = workspace.state_files()
    assert files
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        for value in known:
            assert value not in text, f"{path.name} holds a secret in plain text"
    for stack in ENVIRONMENT_STACKS:
        exported = json.dumps(workspace.export("environment", stack))
        assert "4dabf18193072939515e22adb298388d" in exported  # the secret signature
        assert all(value not in exported for value in known)


def test_a_workflow_deploy_survives_preview_and_up(deployed: Deployed) -> None:
    """Given dev is up, when its deploy workflow sets a new image (the workflow's own ``kubectl``
    command as the deployer would run it), then ``pulumi preview`` plans no change to the
    workload and ``pulumi up`` leaves the deployed image in place."""
    stack = "dev"
    namespace = NAMESPACE[stack]
    kind, name = _workload(deployed, stack)
    assert kind == "Deployment", "dev's example stack deploys a plain Deployment"
    deployed.plane.kubectl(
        "--namespace", namespace, "set", "image", f"deployment/{name}", f"{name}={DEPLOYED_IMAGE}"
    )
    preview = _summary(deployed.workspace, stack)
    assert _changes(preview) == {}, preview.get("changeSummary")
    deployed.workspace.pulumi("up", "--yes", "--skip-preview", "--stack", stack)
    live = deployed.plane.get("deployment", name, f"--namespace={namespace}")
    images = [c["image"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert images == [DEPLOYED_IMAGE]


def test_destroy_of_prod_is_refused_by_protection(deployed: Deployed) -> None:
    """Given prod's namespace and secrets are protected, when ``pulumi destroy`` of prod runs as
    a person runs it (preview first, then the deletes), then the engine refuses it before
    deleting anything: every resource is still in the state and the namespace is live.

    (With ``--skip-preview`` there is no such guard: the engine deletes every unprotected
    resource first and stops at the protected ones; docs/engine.md.)
    """
    workspace = deployed.workspace
    before = sorted(r["urn"] for r in workspace.resources("environment", "prod"))
    run = workspace.pulumi("destroy", "--yes", "--stack", "prod", check=False)
    assert run.returncode != 0
    assert "protected" in (run.stdout + run.stderr)
    after = sorted(r["urn"] for r in workspace.resources("environment", "prod"))
    assert after == before
    namespace = deployed.plane.get("namespace", NAMESPACE["prod"])
    assert namespace["metadata"].get("deletionTimestamp") is None
    kind, name = _workload(deployed, "prod")
    deployed.plane.get(kind.lower(), name, f"--namespace={NAMESPACE['prod']}")
