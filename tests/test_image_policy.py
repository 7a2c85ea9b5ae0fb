"""Signed-image admission: the rendered ClusterImagePolicy, checked against the real CRD schema."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from render.tree import kubernetes_objects
from tests.conftest import render_variant, rendered

CRD = Path(__file__).parent / "fixtures" / "policy-controller" / "clusterimagepolicy-crd.yaml"
CI = "https://github.com/acme/webshop/.github/workflows/ci.yml@refs/heads/develop"


def _strict(schema: Any) -> Any:
    """OpenAPI structural schema as JSON Schema that also rejects unknown fields (typos)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if "properties" in out and "x-kubernetes-preserve-unknown-fields" not in schema:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return jsonschema.Draft7Validator(_strict(spec_schema))


def _errors(obj: dict[str, Any]) -> list[str]:
    """Schema errors of the spec (the CRD's schema gives metadata no structure to check)."""
    return [error.message for error in _validator().iter_errors(obj["spec"])]


def policies(stack: str) -> list[dict[str, Any]]:
    return [
        o for o in kubernetes_objects(rendered(stack)).values() if o["kind"] == "ClusterImagePolicy"
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_admit_only_images_signed_by_ci(stack: str) -> None:
    (policy,) = policies(stack)
    assert policy["apiVersion"] == "policy.sigstore.dev/v1beta1"
    assert _errors(policy) == []
    spec = policy["spec"]
    assert spec["mode"] == "enforce"
    assert spec["images"] == [{"glob": "ghcr.io/acme/webshop**"}]
    (authority,) = spec["authorities"]
    assert authority["keyless"]["identities"] == [
        {"issuer": "https://token.actions.githubusercontent.com", "subject": CI}
    ]
    assert authority["attestations"] == [{"name": "sbom", "predicateType": "spdxjson"}]
    namespace = next(
        o for o in kubernetes_objects(rendered(stack)).values() if o["kind"] == "Namespace"
    )
    assert namespace["metadata"]["labels"]["policy.sigstore.dev/include"] == "true"


def test_dev_has_no_policy_and_config_switches_it() -> None:
    assert policies("dev") == []
    off = render_variant("prod", {"cicd:deploy.imagePolicy": False})
    objects = kubernetes_objects(off).values()
    assert not [o for o in objects if o["kind"] == "ClusterImagePolicy"]
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert "policy.sigstore.dev/include" not in namespace["metadata"]["labels"]


def test_the_schema_check_can_fail() -> None:
    (policy,) = policies("prod")
    typo = copy.deepcopy(policy)
    typo["spec"]["authorities"][0]["keyless"]["identities"][0]["subjet"] = CI
    assert any("subjet" in e for e in _errors(typo))
    wrong_type = copy.deepcopy(policy)
    wrong_type["spec"]["images"] = "ghcr.io/acme/webshop"
    assert _errors(wrong_type)
