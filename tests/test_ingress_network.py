"""Each environment's Ingress (TLS), its egress allow-list and a PDB that never blocks a drain."""

from __future__ import annotations

from typing import Any

import pytest

from render.engine import Rendered
from render.tree import kubernetes_objects
from tests.conftest import STACKS, config_problems, render_variant, rendered

HOSTS = {
    "dev": "webshop.dev.acme.example",
    "staging": "webshop.staging.acme.example",
    "prod": "webshop.acme.example",
}
ISSUERS = {"dev": "letsencrypt-prod", "staging": "letsencrypt-prod", "prod": "letsencrypt-prod"}


def k8s(result: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(result).values() if o["kind"] == kind]


@pytest.mark.parametrize("stack", STACKS)
def test_every_environment_has_one_tls_ingress_for_its_url(stack: str) -> None:
    (ingress,) = k8s(rendered(stack), "Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"  # the platform stack's fact
    assert spec["tls"] == [{"hosts": [HOSTS[stack]], "secretName": "webshop-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == HOSTS[stack]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "webshop", "port": {"name": "http"}}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == ISSUERS[stack]
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"


def test_ingress_host_and_secret_from_config() -> None:
    result = render_variant(
        "staging",
        {"cicd:ingress.host": "shop.staging.acme.example", "cicd:ingress.tlsSecretName": "shop"},
    )
    (ingress,) = k8s(result, "Ingress")
    assert ingress["spec"]["tls"] == [
        {"hosts": ["shop.staging.acme.example"], "secretName": "shop"}
    ]


def test_the_canary_splits_the_environment_s_one_ingress() -> None:
    result = rendered("prod")
    (ingress,) = k8s(result, "Ingress")
    (rollout,) = k8s(result, "Rollout")
    routing = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"]
    assert routing["stableIngress"] == ingress["metadata"]["name"]
    assert (
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        == (rollout["spec"]["strategy"]["canary"]["stableService"])
    )


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        (
            "prod",
            {"cicd:canary.nginx.host": "other.acme.example"},
            "cicd:canary.nginx.host must equal the Ingress host webshop.acme.example",
        ),
        ("dev", {"cicd:ingress.host": "Not A Host"}, "cicd:ingress.host must be a host name"),
        ("dev", {"cicd:ingress": {}}, "cicd:ingress is required"),
        ("dev", {"cicd:ingress.clusterIssuer": "Lets_Encrypt"}, "cicd:ingress.clusterIssuer must"),
        # Its certificates fail the runners' curl: every health check and test would fail.
        (
            "dev",
            {"cicd:ingress.clusterIssuer": "letsencrypt-staging"},
            "cicd:ingress.clusterIssuer issues certificates no runner trusts",
        ),
    ],
)
def test_bad_ingress_config(stack: str, changes: dict[str, Any], expected: str) -> None:
    lines = config_problems(stack, changes)
    assert any(line.startswith(f"Pulumi.{stack}.yaml: {expected}") for line in lines), lines


# --------------------------------------------------------------------------------------------
# Egress allow-list
# --------------------------------------------------------------------------------------------


def _policies(result: Rendered) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p["spec"] for p in k8s(result, "NetworkPolicy")}


def test_dev_reaches_its_database_and_nothing_else() -> None:
    policies = _policies(rendered("dev"))
    database = policies["allow-egress-database"]
    assert database["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "webshop"}}
    assert database["policyTypes"] == ["Egress"]
    assert database["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "10.40.0.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 5432}],
        }
    ]
    # The default deny stays: the only other egress is DNS.
    egress = {name for name, spec in policies.items() if "Egress" in spec["policyTypes"]}
    assert egress == {"default-deny-all", "allow-dns-egress", "allow-egress-database"}
    assert not any(name.startswith("allow-egress-") for name in _policies(rendered("prod")))


def test_egress_to_namespaces_and_udp() -> None:
    result = render_variant(
        "staging",
        {
            "cicd:network.egress": [
                {
                    "name": "queue",
                    "namespaces": ["messaging"],
                    "cidrs": ["2001:db8::/32"],
                    "ports": [{"port": 5672}, {"port": 4789, "protocol": "UDP"}],
                }
            ]
        },
    )
    spec = _policies(result)["allow-egress-queue"]
    assert spec["egress"][0]["to"] == [
        {"ipBlock": {"cidr": "2001:db8::/32"}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "messaging"}}},
    ]
    assert spec["egress"][0]["ports"] == [
        {"protocol": "TCP", "port": 5672},
        {"protocol": "UDP", "port": 4789},
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"name": "db", "cidrs": ["10.40.0.1/24"], "ports": [{"port": 5432}]},
            "cicd:network.egress[0].cidrs[0] must be a CIDR block",
        ),
        (
            {"name": "db", "ports": [{"port": 5432}]},
            "cicd:network.egress[0] must name at least one destination in cidrs or namespaces",
        ),
        (
            {"name": "db", "cidrs": ["10.0.0.0/8"], "ports": []},
            "cicd:network.egress[0].ports must list at least one port",
        ),
        ({"name": "db", "cidrs": ["10.0.0.0/8"]}, "cicd:network.egress[0].ports is required"),
        (
            {"name": "db", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 70000}]},
            "cicd:network.egress[0].ports[0].port must be between 1 and 65535",
        ),
        (
            {"name": "db", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 53, "protocol": "ICMP"}]},
            "cicd:network.egress[0].ports[0].protocol must be one of",
        ),
    ],
)
def test_bad_egress_rule(rule: dict[str, Any], expected: str) -> None:
    lines = config_problems("dev", {"cicd:network.egress": [rule]})
    assert any(line.startswith(f"Pulumi.dev.yaml: {expected}") for line in lines), lines


def test_egress_rule_names_are_unique() -> None:
    rule = {"name": "db", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 1}]}
    lines = config_problems("dev", {"cicd:network.egress": [rule, rule]})
    assert "Pulumi.dev.yaml: cicd:network.egress[1].name must be unique (got db)" in lines


# --------------------------------------------------------------------------------------------
# PodDisruptionBudget: a drain always makes progress
# --------------------------------------------------------------------------------------------


def disruptions_allowed(pdb: dict[str, Any], replicas: int, healthy: int) -> int:
    """The disruption controller's arithmetic (integer budgets): evictions allowed right now."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        desired_healthy = max(replicas - int(spec["maxUnavailable"]), 0)
    else:
        desired_healthy = int(spec["minAvailable"])
    return max(healthy - desired_healthy, 0)


def test_disruption_arithmetic_can_block() -> None:
    # The old single-replica budget: nothing could ever be evicted, so drains hung.
    assert disruptions_allowed({"spec": {"maxUnavailable": 0}}, 1, 1) == 0


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_pdb_never_blocks_a_node_drain(replicas: int) -> None:
    result = render_variant("prod", {"cicd:app.replicas": replicas})
    (pdb,) = k8s(result, "PodDisruptionBudget")
    # All pods healthy: a drain can evict one now, and only one at a time.
    assert disruptions_allowed(pdb, replicas, replicas) == 1
    # A crash-looping pod never holds a drain up.
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
