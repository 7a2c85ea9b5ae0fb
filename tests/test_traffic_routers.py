"""Traffic routers (docs/traffic-routers.md): the platform chooses, the environments follow.

Each router is rendered from fixtures made here: a copy of the project whose nonprod platform
stack names the router, with staging (a canary) and dev (no canary) rendered against it. The
shipped stacks stay on nginx; tests/test_snapshots.py and tests/test_kubernetes.py pin them.
The cluster tier (tests/cluster/test_traffic_routers.py) applies the same renders to a real API
server with Traefik's and Gateway API's CRDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import ConfigError
from components.traffic_router import GATEWAY_API_PLUGIN
from render.engine import Rendered, render
from render.tree import tree
from tests.conftest import copy_project

PLUGIN_SHA256: Final = "ab" * 32
"""A well-formed digest; the render never downloads the plugin (the controller does)."""

ROUTERS: Final[dict[str, dict[str, Any]]] = {
    "traefik": {
        "router": {"kind": "traefik"},
        "cluster": {"ingressClassName": "traefik", "ingressNamespace": "traefik"},
    },
    "gatewayApi": {
        "router": {
            "kind": "gatewayApi",
            "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"},
            "plugin": {
                "location": "https://example.invalid/gatewayapi-plugin-linux-amd64",
                "sha256": PLUGIN_SHA256,
            },
        },
        "cluster": {"ingressNamespace": "envoy-gateway-system"},
    },
    "none": {"router": {"kind": "none"}, "cluster": {}},
    "nginx": {"router": {"kind": "nginx"}, "cluster": {}},
}
"""The platform side of each fixture: ``trafficRouter`` and the cluster facts that go with it."""


def project_with_router(
    root: Path, router: str, staging_changes: Mapping[str, Any] | None = None
) -> Path:
    """A project copy whose nonprod platform routes with ``router``; staging keeps its canary
    without ``canary.nginx`` (the nginx router's setting) unless ``staging_changes`` say."""
    copy_project(root)
    platform_file = root / "platform" / "Pulumi.nonprod.yaml"
    platform = yaml.safe_load(platform_file.read_text())
    platform["config"]["cicd-platform:trafficRouter"] = ROUTERS[router]["router"]
    platform["config"]["cicd-platform:cluster"].update(ROUTERS[router]["cluster"])
    platform_file.write_text(yaml.safe_dump(platform))
    staging_file = root / "Pulumi.staging.yaml"
    staging = yaml.safe_load(staging_file.read_text())
    if router != "nginx":
        staging["config"]["cicd:canary"].pop("nginx")
    for key, value in (staging_changes or {}).items():
        staging["config"][key] = value
    staging_file.write_text(yaml.safe_dump(staging))
    return root


def objects(result: Rendered) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of a render by ``Kind/name``."""
    found: dict[str, dict[str, Any]] = {}
    for path, text in tree(result).items():
        if path.startswith("kubernetes/"):
            obj = yaml.safe_load(text)
            found[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return found


@pytest.fixture(scope="module", params=["traefik", "gatewayApi", "none"])
def routed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, dict[str, Any]], dict[str, dict[str, Any]], Rendered]:
    """(router, staging's objects, dev's objects, the platform's render) under one router."""
    router = str(request.param)
    root = project_with_router(tmp_path_factory.mktemp(router), router)
    platform = render("nonprod", root / "platform")
    return router, objects(render("staging", root)), objects(render("dev", root)), platform


def annotation_owners(obj: dict[str, Any]) -> set[str]:
    """The controllers an object's annotations speak to (their key's domain)."""
    keys = obj["metadata"].get("annotations") or {}
    return {key.split("/")[0] for key in keys}


def test_the_rollout_names_what_the_platforms_router_edits(routed: Any) -> None:
    # Given the platform's router, when staging (a canary) renders, then the Rollout's
    # trafficRouting is that router's, naming the object the controller edits.
    router, staging, _, _ = routed
    canary = staging["Rollout/webshop"]["spec"]["strategy"]["canary"]
    expected = {
        "traefik": {"traefik": {"weightedTraefikServiceName": "webshop"}},
        "gatewayApi": {
            "plugins": {
                GATEWAY_API_PLUGIN: {"httpRoute": "webshop", "namespace": "webshop-staging"}
            }
        },
        "none": None,
    }[router]
    assert canary.get("trafficRouting") == expected
    assert (canary["stableService"], canary["canaryService"]) == ("webshop", "webshop-canary")


def test_each_router_renders_its_own_route_and_nothing_foreign(routed: Any) -> None:
    # Given the platform's router, then staging's route is that router's object, and no object
    # carries an annotation of a controller that is not there.
    router, staging, dev, _ = routed
    routes = {key for key in staging if key.split("/")[0] in ROUTE_KINDS}
    assert (
        routes
        == {
            "traefik": {"IngressRoute/webshop", "TraefikService/webshop", "Certificate/webshop"},
            "gatewayApi": {"HTTPRoute/webshop"},
            "none": {"Ingress/webshop"},
        }[router]
    )
    for result in (staging, dev):
        owners = set().union(*(annotation_owners(obj) for obj in result.values()))
        assert "nginx.ingress.kubernetes.io" not in owners
        if router != "traefik":
            assert "traefik.ingress.kubernetes.io" not in owners


ROUTE_KINDS: Final = ("Ingress", "IngressRoute", "TraefikService", "Certificate", "HTTPRoute")


@pytest.mark.parametrize("routed", ["traefik"], indirect=True)
def test_traefik_splits_the_stable_and_canary_services_from_a_tls_route(routed: Any) -> None:
    _, staging, dev, platform = routed
    weighted = staging["TraefikService/webshop"]["spec"]["weighted"]["services"]
    assert [(s["name"], s["port"], s["weight"]) for s in weighted] == [
        ("webshop", 8080, 100),
        ("webshop-canary", 8080, 0),
    ]
    route = staging["IngressRoute/webshop"]["spec"]
    assert route["entryPoints"] == ["websecure"]
    assert route["routes"][0]["match"] == "Host(`webshop.staging.acme.example`)"
    assert route["routes"][0]["services"] == [{"name": "webshop", "kind": "TraefikService"}]
    assert route["tls"] == {"secretName": "webshop-tls"}
    # The controller (Argo Rollouts v1.8.3) patches Traefik v2's group unless told v3's.
    (release,) = [r for r in platform.resources if r.inputs.get("chart") == "argo-rollouts"]
    assert release.inputs["values"]["controller"] == {
        "extraArgs": ["--traefik-api-group=traefik.io", "--traefik-api-version=traefik.io/v1alpha1"]
    }
    certificate = staging["Certificate/webshop"]["spec"]
    assert certificate["secretName"] == "webshop-tls"
    assert certificate["dnsNames"] == ["webshop.staging.acme.example"]
    assert certificate["issuerRef"]["name"] == "letsencrypt-prod"
    # dev has no canary: a plain Ingress, served by Traefik on its TLS entry point.
    ingress = dev["Ingress/webshop"]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-prod",
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
    }


@pytest.mark.parametrize("routed", ["gatewayApi"], indirect=True)
def test_gateway_api_routes_on_the_platforms_gateway(routed: Any) -> None:
    _, staging, dev, platform = routed
    spec = staging["HTTPRoute/webshop"]["spec"]
    assert spec["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
            "sectionName": "https",
        }
    ]
    assert spec["hostnames"] == ["webshop.staging.acme.example"]
    backends = spec["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [
        ("webshop", 100),
        ("webshop-canary", 0),
    ]
    # dev (no canary): the stable Service alone, no weights, and no Ingress anywhere.
    (dev_backend,) = dev["HTTPRoute/webshop"]["spec"]["rules"][0]["backendRefs"]
    assert "weight" not in dev_backend
    assert not [key for key in {**staging, **dev} if key.startswith("Ingress/")]
    # The platform loads the plugin into the controller, pinned by its checksum.
    (release,) = [r for r in platform.resources if r.inputs.get("chart") == "argo-rollouts"]
    assert release.inputs["values"]["controller"]["trafficRouterPlugins"] == [
        {
            "name": GATEWAY_API_PLUGIN,
            "location": "https://example.invalid/gatewayapi-plugin-linux-amd64",
            "sha256": PLUGIN_SHA256,
        }
    ]


@pytest.mark.parametrize("routed", ["none"], indirect=True)
def test_without_a_router_the_ingress_speaks_to_no_controller(routed: Any) -> None:
    _, staging, _, platform = routed
    assert staging["Ingress/webshop"]["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-prod"
    }
    (release,) = [r for r in platform.resources if r.inputs.get("chart") == "argo-rollouts"]
    assert "controller" not in release.inputs["values"]


def test_the_network_policy_admits_the_routers_namespace(routed: Any) -> None:
    # The pods that carry requests to the app are the router's: Traefik's, the Gateway's data
    # plane, or the ingress controller's (cicd-platform:cluster.ingressNamespace).
    router, staging, _, _ = routed
    expected = {"traefik": "traefik", "gatewayApi": "envoy-gateway-system", "none": "ingress-nginx"}
    sources = [
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for policy in staging.values()
        if policy["kind"] == "NetworkPolicy" and policy["spec"].get("ingress")
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
    ]
    assert expected[router] in sources
    assert "ingress-nginx" not in sources or router == "none"


def problems_under(root: Path, router: str, staging: Mapping[str, Any]) -> list[str]:
    project_with_router(root, router, staging)
    with pytest.raises(ConfigError) as caught:
        render("staging", root)
    return list(caught.value.lines)


def test_canary_nginx_is_refused_under_another_router(tmp_path: Path) -> None:
    # Given staging still asking for the NGINX split, when its platform routes with traefik,
    # then exactly one line says why, and nothing renders.
    staging = yaml.safe_load((Path(__file__).parent.parent / "Pulumi.staging.yaml").read_text())
    canary = {**staging["config"]["cicd:canary"], "nginx": {}}
    assert problems_under(tmp_path, "traefik", {"cicd:canary": canary}) == [
        "Pulumi.staging.yaml: cicd:canary.nginx must be removed: the platform stack "
        "acme/cicd-platform/nonprod routes with traefik (cicd-platform:trafficRouter.kind); "
        "the router is the platform's choice"
    ]


def test_the_ingress_nginx_metrics_preset_needs_the_nginx_router(tmp_path: Path) -> None:
    # Given staging reading ingress-nginx's counter and keeping canary.nginx, when its platform
    # routes with gatewayApi, then both are refused, one line each.
    staging = yaml.safe_load((Path(__file__).parent.parent / "Pulumi.staging.yaml").read_text())
    canary = staging["config"]["cicd:canary"]
    canary["analysis"]["metrics"] = {"preset": "ingress-nginx"}
    assert problems_under(tmp_path, "gatewayApi", {"cicd:canary": canary}) == [
        "Pulumi.staging.yaml: cicd:canary.nginx must be removed: the platform stack "
        "acme/cicd-platform/nonprod routes with gatewayApi (cicd-platform:trafficRouter.kind); "
        "the router is the platform's choice",
        "Pulumi.staging.yaml: cicd:canary.analysis.metrics.preset ingress-nginx needs the nginx "
        "router: the platform stack acme/cicd-platform/nonprod routes with gatewayApi "
        "(cicd-platform:trafficRouter.kind); use the app preset (got ingress-nginx)",
    ]


def test_under_nginx_canary_nginx_still_chooses_the_split(tmp_path: Path) -> None:
    # The nginx router keeps canary.nginx as the stack's switch (and its deprecated host), so
    # the shipped stacks render as before; without it the weights are pod ratios.
    staging = yaml.safe_load((Path(__file__).parent.parent / "Pulumi.staging.yaml").read_text())
    canary = staging["config"]["cicd:canary"]
    canary.pop("nginx")
    project_with_router(tmp_path, "nginx", {"cicd:canary": canary})
    rollout = objects(render("staging", tmp_path))["Rollout/webshop"]
    assert "trafficRouting" not in rollout["spec"]["strategy"]["canary"]


PLATFORM_FILE: Final = Path(__file__).parent.parent / "platform" / "Pulumi.nonprod.yaml"


def platform_lines(keys: Mapping[str, Any]) -> list[str]:
    config = yaml.safe_load(PLATFORM_FILE.read_text())["config"]
    with pytest.raises(ConfigError) as caught:
        render("nonprod", PLATFORM_FILE.parent, stack_config={**config, **keys})
    return list(caught.value.lines)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"cicd-platform:trafficRouter": {"kind": "istio"}},
            "Pulumi.nonprod.yaml: cicd-platform:trafficRouter.kind must be one of nginx, "
            "traefik, gatewayApi or none (got istio)",
        ),
        (
            {
                "cicd-platform:trafficRouter": {
                    "kind": "gatewayApi",
                    "gateway": {"name": "public", "namespace": "gw"},
                },
                "cicd-platform:cluster": {"name": "nonprod", "ingressNamespace": "gw"},
            },
            "Pulumi.nonprod.yaml: cicd-platform:trafficRouter.plugin is required with kind "
            "gatewayApi",
        ),
        (
            {"cicd-platform:trafficRouter": {"kind": "nginx", "entryPoints": ["web"]}},
            "Pulumi.nonprod.yaml: cicd-platform:trafficRouter.entryPoints is only read with "
            "kind traefik (kind is nginx)",
        ),
        (
            {
                "cicd-platform:trafficRouter": {"kind": "traefik"},
                "cicd-platform:cluster": {"name": "nonprod", "ingressNamespace": "traefik"},
            },
            "Pulumi.nonprod.yaml: cicd-platform:cluster.ingressClassName must be set to "
            "Traefik's (the default is ingress-nginx's) with trafficRouter.kind traefik",
        ),
        (
            {
                "cicd-platform:trafficRouter": {
                    **ROUTERS["gatewayApi"]["router"],
                    "plugin": {"location": "http://plain/plugin", "sha256": PLUGIN_SHA256},
                },
                "cicd-platform:cluster": {"name": "nonprod", "ingressNamespace": "gw"},
            },
            "Pulumi.nonprod.yaml: cicd-platform:trafficRouter.plugin.location must be an "
            "https:// or file:// URL (got http://plain/plugin)",
        ),
    ],
)
def test_bad_router_settings_are_one_line_each(keys: Mapping[str, Any], expected: str) -> None:
    assert platform_lines(keys) == [expected]


@pytest.mark.parametrize(("router", "warned"), [("traefik", False), ("none", True)])
def test_small_steps_warn_only_where_weights_are_pod_ratios(
    tmp_path: Path, router: str, warned: bool
) -> None:
    # Given staging's 2 replicas and a 10% step, then only without a router (pod ratios) does
    # the render warn that 10% needs 10 replicas; Traefik splits requests whatever the pods.
    canary = {"enabled": True, "analysis": {"enabled": False}, "steps": [{"weight": 10}]}
    project_with_router(tmp_path, router, {"cicd:canary": canary})
    result = render("staging", tmp_path)
    assert any("needs at least 10 replicas" in w for w in result.warnings) is warned


def test_people_read_the_route_the_router_renders(routed: Any) -> None:
    # Given staging's viewer groups, then people-view reads the router's route objects too.
    router, staging, _, _ = routed
    rules = staging["Role/people-view"]["rules"]
    readable = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    expected = {
        "traefik": {
            ("traefik.io", "ingressroutes"),
            ("traefik.io", "traefikservices"),
            ("cert-manager.io", "certificates"),
        },
        "gatewayApi": {("gateway.networking.k8s.io", "httproutes")},
        "none": {("networking.k8s.io", "ingresses")},
    }[router]
    assert expected <= readable
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in rules)
