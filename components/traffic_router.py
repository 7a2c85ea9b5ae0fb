"""Traffic routers: how a canary's weight reaches real requests, as the platform chose it.

The router is the cluster's (``cicd-platform:trafficRouter``, exported by the platform stack as
``trafficRouter`` and read by every environment stack through its StackReference). This module
holds the closed set of routers and the plain objects each one renders for an environment, so
that components/ingress.py and components/workload.py stay free of per-router detail and the
shapes are testable without a Pulumi runtime. docs/traffic-routers.md explains each router.

What the Argo Rollouts controller (v1.8.3, the controller of chart 2.40.5) reads:

- ``nginx``: ``trafficRouting.nginx.stableIngress``; the controller copies that Ingress into
  ``<rollout>-<ingress>-canary`` with the ``nginx.ingress.kubernetes.io/canary-weight``
  annotation (rollout/trafficrouting/nginx/nginx.go);
- ``traefik``: ``trafficRouting.traefik.weightedTraefikServiceName``; the controller updates
  ``spec.weighted.services[].weight`` of that TraefikService, matching the entries by the stable
  and canary Service names (rollout/trafficrouting/traefik/traefik.go), in the API group its
  flags name (:data:`TRAEFIK_CONTROLLER_ARGS`: Traefik v3's ``traefik.io``);
- ``gatewayApi``: ``trafficRouting.plugins["argoproj-labs/gatewayAPI"]`` with the HTTPRoute's
  name and namespace; the plugin (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi,
  loaded by the controller from its ``argo-rollouts-config`` ConfigMap) sets the ``weight`` of
  the route's stable and canary ``backendRefs``;
- ``none``: no ``trafficRouting``; the controller scales the canary ReplicaSet to
  ``ceil(replicas * weight / 100)`` pods, and the Services send each pod an equal share.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class TrafficRouter(StrEnum):
    """The traffic routers this project renders for (``cicd-platform:trafficRouter.kind``)."""

    NGINX = "nginx"
    """ingress-nginx: the Rollout names the Ingress, the controller splits a copy of it."""
    TRAEFIK = "traefik"
    """Traefik: an IngressRoute to a weighted TraefikService whose weights the controller sets."""
    GATEWAY_API = "gatewayApi"
    """Gateway API: an HTTPRoute whose backendRef weights the Gateway API plugin sets."""
    NONE = "none"
    """No router: weights are pod ratios (replica-weighted)."""


GATEWAY_API_PLUGIN: Final = "argoproj-labs/gatewayAPI"
"""The plugin's name, as the Rollout's ``trafficRouting.plugins`` key and the controller's
``trafficRouterPlugins[].name`` must both spell it."""
TRAEFIK_API: Final = "traefik.io/v1alpha1"
"""Traefik v3's CRD group (the Argo Rollouts controller patches TraefikServices of this group)."""
GATEWAY_API: Final = "gateway.networking.k8s.io/v1"
CERT_MANAGER_API: Final = "cert-manager.io/v1"

CLUSTER_ISSUER_ANNOTATION: Final = "cert-manager.io/cluster-issuer"
NGINX_SSL_REDIRECT: Final = "nginx.ingress.kubernetes.io/ssl-redirect"
TRAEFIK_ENTRYPOINTS: Final = "traefik.ingress.kubernetes.io/router.entrypoints"
TRAEFIK_TLS: Final = "traefik.ingress.kubernetes.io/router.tls"
"""Traefik's Ingress annotations (pkg/provider/kubernetes/ingress/annotations.go, Traefik v3):
the entry points the router listens on, and TLS on that router."""


@dataclass(frozen=True)
class GatewayParent:
    """The platform's Gateway an HTTPRoute attaches to (``parentRefs``)."""

    name: str
    namespace: str
    section_name: str | None = None

    def parent_ref(self) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": self.name,
            "namespace": self.namespace,
        }
        if self.section_name:
            ref["sectionName"] = self.section_name
        return ref


@dataclass(frozen=True)
class RouterFacts:
    """The platform stack's ``trafficRouter`` output, as an environment stack needs it."""

    kind: TrafficRouter
    traefik_entry_points: tuple[str, ...] = ("websecure",)
    gateway: GatewayParent | None = None

    def export(self) -> dict[str, Any]:
        """The platform stack's ``trafficRouter`` output (see :func:`router_facts`)."""
        facts: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is TrafficRouter.TRAEFIK:
            facts["traefikEntryPoints"] = list(self.traefik_entry_points)
        if self.gateway is not None:
            facts["gateway"] = {
                "name": self.gateway.name,
                "namespace": self.gateway.namespace,
                "sectionName": self.gateway.section_name,
            }
        return facts


NGINX_ROUTER: Final = RouterFacts(TrafficRouter.NGINX)
"""What a platform stack that exports no ``trafficRouter`` (one rendered before routers were a
choice) provides: ingress-nginx, as every stack had then."""


def router_facts(output: object) -> RouterFacts:
    """The platform stack's ``trafficRouter`` output; none at all is :data:`NGINX_ROUTER`.

    Raises ValueError on an output this project never exports (a stack of another version)."""
    if output is None:
        return NGINX_ROUTER
    if not isinstance(output, dict):
        raise ValueError(f"trafficRouter is not an object: {output!r}")
    gateway = output.get("gateway")
    return RouterFacts(
        kind=TrafficRouter(str(output["kind"])),
        traefik_entry_points=tuple(
            str(e) for e in output.get("traefikEntryPoints") or ("websecure",)
        ),
        gateway=(
            GatewayParent(
                name=str(gateway["name"]),
                namespace=str(gateway["namespace"]),
                section_name=(str(gateway["sectionName"]) if gateway.get("sectionName") else None),
            )
            if isinstance(gateway, dict)
            else None
        ),
    )


def ingress_annotations(router: RouterFacts, cluster_issuer: str) -> dict[str, str]:
    """The Ingress's annotations: cert-manager's, and the HTTPS redirect or TLS router in the
    words of the controller that reads it, never another controller's.

    ``nginx``: ingress-nginx's ``ssl-redirect`` (plain HTTP never reaches the app). ``traefik``:
    the router on the platform's TLS entry points only, with TLS on, so plain HTTP finds no
    route to the app. ``none``: the cluster's ingress controller is not known, so only
    cert-manager's annotation; the redirect is that controller's cluster-wide setting
    (docs/traffic-routers.md). ``gatewayApi`` renders no Ingress.
    """
    annotations = {CLUSTER_ISSUER_ANNOTATION: cluster_issuer}
    if router.kind is TrafficRouter.NGINX:
        annotations[NGINX_SSL_REDIRECT] = "true"
    elif router.kind is TrafficRouter.TRAEFIK:
        annotations[TRAEFIK_ENTRYPOINTS] = ",".join(router.traefik_entry_points)
        annotations[TRAEFIK_TLS] = "true"
    return annotations


CONTROLLER_OWNED: Final = {"TraefikService": "spec.weighted.services", "HTTPRoute": "spec.rules"}
"""Where the controller (or its plugin) writes the weights, per kind: an atomic list (neither
CRD marks it ``x-kubernetes-list-type: map``), so its update owns the whole list. The stack
sets it on creation only (``ignore_changes``), as it does the Rollout's containers: a later
``pulumi up`` during a canary neither resets the weights nor fails on a field-manager conflict.
The price: a change of port reaches a live route through a replace, not an update."""


def traefik_service_spec(stable: str, canary: str, port: int) -> dict[str, Any]:
    """A weighted TraefikService over the stable and canary Services.

    All traffic starts on the stable Service (weight 100, canary 0): that is what the controller
    writes too when no canary runs, so a ``pulumi up`` between releases agrees with it."""
    return {
        "weighted": {
            "services": [
                {"name": stable, "port": port, "weight": 100},
                {"name": canary, "port": port, "weight": 0},
            ]
        }
    }


def ingress_route_spec(
    host: str, entry_points: tuple[str, ...], target: dict[str, Any], tls_secret_name: str
) -> dict[str, Any]:
    """A Traefik IngressRoute for the host on the TLS entry points, to ``target``, with the
    certificate cert-manager writes into ``tls_secret_name``."""
    return {
        "entryPoints": list(entry_points),
        "routes": [{"match": f"Host(`{host}`)", "kind": "Rule", "services": [target]}],
        "tls": {"secretName": tls_secret_name},
    }


def certificate_spec(host: str, secret_name: str, cluster_issuer: str) -> dict[str, Any]:
    """A cert-manager Certificate for ``host``: cert-manager issues certificates for Ingresses
    and Gateways from their annotations, never for a Traefik IngressRoute, so one is asked for
    explicitly."""
    return {
        "secretName": secret_name,
        "dnsNames": [host],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": cluster_issuer},
    }


def http_route_spec(
    host: str, gateway: GatewayParent, stable: str, canary: str | None, port: int
) -> dict[str, Any]:
    """An HTTPRoute for the host on the platform's Gateway: the stable Service alone, or the
    stable (weight 100) and canary (weight 0) Services whose weights the plugin sets."""
    backends: list[dict[str, Any]] = [{"kind": "Service", "name": stable, "port": port}]
    if canary is not None:
        backends[0]["weight"] = 100
        backends.append({"kind": "Service", "name": canary, "port": port, "weight": 0})
    return {
        "parentRefs": [gateway.parent_ref()],
        "hostnames": [host],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": backends,
            }
        ],
    }


def rollout_traffic_routing(
    router: TrafficRouter, route_name: str, namespace: object
) -> dict[str, Any] | None:
    """The Rollout's ``strategy.canary.trafficRouting`` for the router; None without one.

    ``route_name`` is the object the controller (or its plugin) edits: the stable Ingress
    (nginx), the weighted TraefikService (traefik) or the HTTPRoute (gatewayApi)."""
    if router is TrafficRouter.NGINX:
        return {"nginx": {"stableIngress": route_name}}
    if router is TrafficRouter.TRAEFIK:
        return {"traefik": {"weightedTraefikServiceName": route_name}}
    if router is TrafficRouter.GATEWAY_API:
        return {"plugins": {GATEWAY_API_PLUGIN: {"httpRoute": route_name, "namespace": namespace}}}
    return None


TRAEFIK_CONTROLLER_ARGS: Final = (
    "--traefik-api-group=traefik.io",
    f"--traefik-api-version={TRAEFIK_API}",
)
"""The controller's flags for Traefik v3: Argo Rollouts v1.8.3 patches ``traefik.containo.us/
v1alpha1`` (Traefik v2's group) unless told otherwise (utils/defaults/defaults.go
``DefaultTraefikAPIGroup``/``DefaultTraefikVersion``, flags in cmd/rollouts-controller/main.go),
and Traefik v3 serves only ``traefik.io``."""


def controller_plugins(location: str, sha256: str) -> list[dict[str, str]]:
    """The Argo Rollouts controller's ``trafficRouterPlugins`` (its argo-rollouts-config
    ConfigMap, written by the chart's ``controller.trafficRouterPlugins`` value): the Gateway
    API plugin's binary, downloaded by the controller at start and refused unless its sha256
    matches (utils/plugin/downloader.go, Argo Rollouts v1.8.3)."""
    return [{"name": GATEWAY_API_PLUGIN, "location": location, "sha256": sha256}]
