"""The offline render and the real engine declare the same Kubernetes resources with the same inputs.

The render (``python -m render``, the mocks path) is the fast harness of every other test; this is
the check that it tells the truth. For each environment stack, the engine's state after the first
``pulumi up`` (``pulumi stack export``: each resource's ``inputs`` as the provider's ``Check``
returned them, which is what the provider works from) is compared with the render of the same
stack file and the same settings: same Kubernetes resources by type and name, same parents, same
``protect``, and the same inputs once secrets are masked on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pytest

from render.engine import SECRET, Registration
from tests.conftest import render_variant
from tests.engine.conftest import ENGINE_GROUP, Deployed
from tests.engine.harness import ENVIRONMENT_STACKS, tier_settings

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group(ENGINE_GROUP)]

SECRET_SIG: Final = "4dabf18193072939515e22adb298388d"
"""The key of a secret value in Pulumi's state (sdk/go/common/resource/sig)."""

KUBERNETES: Final = "kubernetes:"
STACK_TYPE: Final = "pulumi:pulumi:Stack"


def masked(value: Any) -> Any:
    """``value`` with every secret (the state's signature object) replaced by the render's mark."""
    if isinstance(value, Mapping):
        if SECRET_SIG in value:
            return SECRET
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def provider_normalized(inputs: dict[str, Any]) -> dict[str, Any]:
    """The render's inputs of a Secret as the provider's ``Check`` returns them: ``stringData`` is
    folded into ``data`` (pkg/clients/unstructured.go ``normalizeSecret``) and ``data`` of a
    Secret is always a secret (pkg/provider/provider.go ``annotateSecrets``), pulumi-kubernetes
    v4.24."""
    if inputs.get("kind") != "Secret" or not ({"data", "stringData"} & set(inputs)):
        return inputs
    result = {key: value for key, value in inputs.items() if key != "stringData"}
    result["data"] = SECRET
    return result


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def type_of(urn: str) -> str:
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def _parent(urn: str | None) -> tuple[str, str] | None:
    """The parent's type and name; the stack itself counts as none (the render's convention)."""
    if not urn or type_of(urn) == STACK_TYPE:
        return None
    return type_of(urn), name_of(urn)


def engine_view(resources: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Kubernetes resources of the state: (type, name) -> parent, protect, inputs."""
    return {
        (r["type"], name_of(r["urn"])): {
            "parent": _parent(r.get("parent")),
            "protect": bool(r.get("protect")),
            "inputs": masked(r.get("inputs") or {}),
        }
        for r in resources
        if r["type"].startswith(KUBERNETES) and r.get("custom")
    }


def render_view(resources: list[Registration]) -> dict[tuple[str, str], dict[str, Any]]:
    """The same view of the render."""
    return {
        (r.type, r.name): {
            "parent": (r.parent["type"], r.parent["name"]) if r.parent else None,
            "protect": bool(r.options.get("protect")),
            "inputs": provider_normalized(r.inputs),
        }
        for r in resources
        if r.type.startswith(KUBERNETES) and r.custom
    }


def _config_value(text: str) -> Any:
    """``pulumi config set --path`` stores ``true``/``false`` as booleans."""
    return {"true": True, "false": False}.get(text, text)


@pytest.mark.parametrize("stack", ENVIRONMENT_STACKS)
def test_render_and_engine_declare_the_same_kubernetes_resources(
    deployed: Deployed, stack: str
) -> None:
    """Given a stack brought up by the real engine, when the same stack file is rendered offline
    (with the platform stack the tier names), then both hold the same Kubernetes resources,
    parents, protection and inputs."""
    workspace = deployed.workspace
    engine = engine_view(workspace.resources("environment", stack))
    offline = render_view(
        render_variant(
            stack, {key: _config_value(value) for key, value in tier_settings(stack)}
        ).resources
    )
    assert engine, "the state holds no Kubernetes resource: the comparison would prove nothing"
    assert sorted(engine) == sorted(offline)
    for key, seen in engine.items():
        assert seen == offline[key], f"{stack} {key[0]} {key[1]}"
