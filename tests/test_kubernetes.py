"""Kubernetes side of each environment, asserted on what the offline render produces."""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import pytest

from render.engine import SECRET, Rendered, secret_placeholder
from render.tree import kubernetes_objects
from tests import validators
from tests.conftest import files, render_variant, rendered

NS = {"dev": "webshop-dev", "staging": "webshop-staging", "prod": "webshop-prod"}
VERBS = ("get", "list", "watch", "patch", "create", "update", "delete")

SECRET_INPUTS: Final = {
    "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret": ("value",),
    "github:index/actionsSecret:ActionsSecret": ("value",),
    "github:index/actionsOrganizationSecret:ActionsOrganizationSecret": ("value",),
    "kubernetes:core/v1:Secret": ("data", "stringData"),
}
"""The inputs that carry a secret value, by type token. The policy pack cannot judge them (under
CrossGuard secrets arrive decrypted, unmarked: policy/README.md), so the render's tests do."""


def objects(result: Rendered, kind: str | None = None) -> list[dict[str, Any]]:
    found = list(kubernetes_objects(result).values())
    return [o for o in found if kind is None or o["kind"] == kind]


# The deployer's effective permissions (RBAC and admission): tests/test_access.py.


def test_no_wildcards_and_nothing_cluster_wide(stack: str) -> None:
    result = rendered(stack)
    for role in objects(result, "Role"):
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], role["metadata"]["name"]
    kinds = {o["kind"] for o in objects(result)}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


def test_people_get_own_roles_in_the_namespace_only() -> None:
    """Never the built-in view/edit ClusterRoles (edit reads Secrets, issue 22 item 4)."""
    prod_bindings = {b["metadata"]["name"]: b for b in objects(rendered("prod"), "RoleBinding")}
    assert prod_bindings["people-view"]["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "people-view",
    }
    assert "people-operate" not in prod_bindings  # no human write access to prod by default
    staging = {b["metadata"]["name"]: b for b in objects(rendered("staging"), "RoleBinding")}
    assert [s["name"] for s in staging["people-operate"]["subjects"]] == ["webshop-sre"]
    assert staging["people-operate"]["metadata"]["namespace"] == "webshop-staging"
    assert staging["people-operate"]["roleRef"]["kind"] == "Role"
    roles = {r["metadata"]["name"] for r in objects(rendered("staging"), "Role")}
    assert {"people-view", "people-operate"} <= roles
    without = render_variant("staging", {"cicd:access.operatorGroups": []})
    assert "people-operate" not in {b["metadata"]["name"] for b in objects(without, "RoleBinding")}
    assert "people-operate" not in {r["metadata"]["name"] for r in objects(without, "Role")}


def test_namespace_labels_and_pod_security(stack: str) -> None:
    (namespace,) = objects(rendered(stack), "Namespace")
    labels = namespace["metadata"]["labels"]
    level = "baseline" if stack == "dev" else "restricted"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == level
    assert labels["environment"] == stack
    assert labels["app.kubernetes.io/part-of"] == "webshop"
    assert namespace["metadata"]["name"] == NS[stack]


def test_quota_limits_and_network_policy() -> None:
    result = rendered("prod")
    (quota,) = objects(result, "ResourceQuota")
    assert quota["spec"]["hard"]["limits.cpu"] == "16"
    assert quota["spec"]["hard"]["pods"] == "50"
    (limits,) = objects(result, "LimitRange")
    assert limits["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "256Mi"}
    policies = {p["metadata"]["name"]: p["spec"] for p in objects(result, "NetworkPolicy")}
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    sources = [
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for peer in policies["allow-app-ingress"]["ingress"][0]["from"]
    ]
    # The ingress controller, the canary analysis (both from the platform stack), and None:
    # pods of this namespace. Prometheus is not a source of the app port: it has its own rule.
    assert sources == ["ingress-nginx", "argo-rollouts", None]
    assert {p["port"] for p in policies["allow-dns-egress"]["egress"][0]["ports"]} == {53}
    dev_sources = objects(rendered("dev"), "NetworkPolicy")
    dev_ingress = next(p for p in dev_sources if p["metadata"]["name"] == "allow-app-ingress")
    assert len(dev_ingress["spec"]["ingress"][0]["from"]) == 2  # no canary controller in dev


def _rules_from(result: Rendered, namespace: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(policy name, ports) of every ingress rule that admits pods of ``namespace``."""
    return [
        (policy["metadata"]["name"], rule.get("ports", []))
        for policy in objects(result, "NetworkPolicy")
        for rule in policy["spec"].get("ingress", [])
        if any(
            peer.get("namespaceSelector", {})
            .get("matchLabels", {})
            .get("kubernetes.io/metadata.name")
            == namespace
            for peer in rule["from"]
        )
    ]


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        # prod's analysis reads Prometheus: one scrape rule, to the metrics port (the app port).
        ("prod", [("allow-prometheus-scrape", [{"port": "http", "protocol": "TCP"}])]),
        # Staging runs prod's analysis; dev has none: nothing in the monitoring namespace gets in.
        ("dev", []),
        ("staging", [("allow-prometheus-scrape", [{"port": "http", "protocol": "TCP"}])]),
    ],
)
def test_the_monitoring_namespace_is_allowed_once_to_the_metrics_port(
    stack: str, expected: list[tuple[str, list[dict[str, Any]]]]
) -> None:
    assert _rules_from(rendered(stack), "monitoring") == expected


def pod_specs(result: Rendered) -> list[dict[str, Any]]:
    return [
        o["spec"]["template"]["spec"]
        for o in objects(result)
        if o["kind"] in {"Deployment", "Rollout"}
    ]


def test_pods_pass_restricted_pod_security(stack: str) -> None:
    specs = pod_specs(rendered(stack))
    assert len(specs) == 1
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for volume in spec.get("volumes", []):
            assert set(volume) <= {"name", "emptyDir", "configMap", "secret", "projected"}


def test_every_core_object_passes_kubernetes_validate_strict(stack: str) -> None:
    core = [
        o
        for o in objects(rendered(stack))
        if o["kind"]
        not in validators.ARGO_KINDS | validators.SIGSTORE_KINDS | validators.MONITORING_KINDS
    ]
    assert core
    assert validators.kubernetes_strict(core) == []


def test_registry_pull_secret_and_app_service_account(stack: str) -> None:
    result = rendered(stack)
    accounts = {a["metadata"]["name"]: a for a in objects(result, "ServiceAccount")}
    assert accounts["webshop"]["imagePullSecrets"] == [{"name": "webshop-registry"}]
    assert accounts["webshop"]["automountServiceAccountToken"] is False
    secrets = {s["metadata"]["name"]: s for s in objects(result, "Secret")}
    assert secrets["webshop-registry"]["type"] == "kubernetes.io/dockerconfigjson"
    assert secrets["webshop-registry"]["stringData"] == {".dockerconfigjson": SECRET}
    assert secrets["webshop-deployer-token"]["type"] == "kubernetes.io/service-account-token"


def _images(result: Rendered) -> list[str]:
    """Images the workload runs (the workload is created with its image)."""
    return [c["image"] for spec in pod_specs(result) for c in spec["containers"]]


def test_digest_pinning_on_and_off() -> None:
    assert _images(rendered("prod"))[0].startswith("ghcr.io/acme/webshop@sha256:")
    assert _images(rendered("dev")) == ["ghcr.io/acme/webshop:1.4.2"]
    pinned = render_variant("dev", {"cicd:registry.pinDigest": True})
    assert _images(pinned)[0].startswith("ghcr.io/acme/webshop@sha256:")
    assert any(r.type == "pulumi:providers:docker" for r in pinned.resources)
    assert not any(r.type == "pulumi:providers:docker" for r in rendered("dev").resources)


def _protected(result: Rendered) -> dict[str, tuple[bool, bool]]:
    return {
        f"{r.type.rsplit(':', 1)[1]}/{r.name}": (
            r.options["protect"],
            r.options["retain_on_delete"],
        )
        for r in result.resources
        if r.type in {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret"}
        or r.type.endswith("ActionsEnvironmentSecret")
    }


def test_prod_namespace_and_secrets_are_protected_and_retained() -> None:
    prod = _protected(rendered("prod"))
    assert prod and all(flags == (True, True) for flags in prod.values()), prod
    dev = _protected(rendered("dev"))
    assert dev and all(flags == (False, False) for flags in dev.values()), dev
    unprotected_prod = _protected(render_variant("prod", {"cicd:environment.protect": False}))
    assert all(flags == (False, False) for flags in unprotected_prod.values())


def _shown_as_secret(value: Any) -> bool:
    """The value is the marker, or a map whose every value is (a Secret's keys stay readable)."""
    if isinstance(value, dict):
        return bool(value) and all(_shown_as_secret(item) for item in value.values())
    return bool(value == SECRET)


def secret_inputs(result: Rendered) -> dict[str, bool]:
    """``Kind/name.input`` -> whether it renders as "[secret]", for every secret input set."""
    shown = {}
    for registration in result.resources:
        for key in SECRET_INPUTS.get(registration.type, ()):
            value = registration.inputs.get(key)
            if value is not None:
                kind = registration.type.rsplit(":", 1)[1]
                shown[f"{kind}/{registration.name}.{key}"] = _shown_as_secret(value)
    return shown


def test_every_secret_shows_as_the_marker_never_in_plain_text(stack: str) -> None:
    shown = secret_inputs(rendered(stack))
    # Something to judge: every environment stores its KUBECONFIG and a registry pull secret.
    assert "ActionsEnvironmentSecret/webshop-secret-kubeconfig.value" in shown
    assert "Secret/webshop-pull-secret.stringData" in shown
    assert [name for name, secret in shown.items() if not secret] == []
    text = "\n".join(files(stack).values())
    assert "offline-render-sa-token" not in text  # the (mock) deployer token
    assert "offline-render-placeholder-for" not in text  # every secure config value
    assert "certificate-authority-data" not in text  # only inside the secret kubeconfig


def test_a_secret_input_rendered_in_plain_text_is_named() -> None:
    """The check above can fail: a plain value, or one plain entry of a Secret's map."""
    prod = rendered("prod")
    plain: dict[str, dict[str, Any]] = {
        "webshop-secret-sentry_dsn": {"value": "https://key@sentry.example/1"},
        "webshop-pull-secret": {"stringData": {".dockerconfigjson": "{}", "other": SECRET}},
    }
    doctored = [
        dataclasses.replace(r, inputs={**r.inputs, **plain[r.name]}) if r.name in plain else r
        for r in prod.resources
    ]
    shown = secret_inputs(dataclasses.replace(prod, resources=doctored))
    assert sorted(name for name, secret in shown.items() if not secret) == [
        "ActionsEnvironmentSecret/webshop-secret-sentry_dsn.value",
        "Secret/webshop-pull-secret.stringData",
    ]


def test_registry_token_never_reaches_a_rendered_file_in_any_encoding(stack: str) -> None:
    import base64

    # A secure: value enters the program as this placeholder; it must leave it only as [secret],
    # neither verbatim nor inside the base64 "auth" of the dockerconfigjson.
    token = secret_placeholder("registryToken")
    auth = base64.b64encode(f"acme-deploy-bot:{token}".encode()).decode()
    text = "\n".join(files(stack).values())
    assert token not in text
    assert auth not in text
    assert base64.b64encode(token.encode()).decode() not in text


def test_network_policies_name_the_ports_the_pods_declare(stack: str) -> None:
    """The app's NetworkPolicies follow the pods by port name, not number: the container list is
    set on creation only, so a numeric port changed by a later pulumi up would cut the running
    pods off (docs/field-ownership.md); and the name must be one the container declares."""
    objects = list(kubernetes_objects(rendered(stack)).values())
    declared = {
        port["name"]
        for obj in objects
        if obj["kind"] in ("Deployment", "Rollout")
        for container in obj["spec"]["template"]["spec"]["containers"]
        for port in container.get("ports", [])
    }
    named = [
        port["port"]
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        for rule in obj["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    ]
    assert named, "the app's ingress allows name ports"
    assert all(isinstance(port, str) and port in declared for port in named), (named, declared)
