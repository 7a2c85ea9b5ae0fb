"""The environment's route: one host, TLS, and the canary's traffic split, in the words of the
cluster's traffic router (components/traffic_router.py, docs/traffic-routers.md).

Every environment (dev, staging, prod) gets the same shape, so the deploy workflows' health
checks and the E2E tests reach the app exactly as users do:

- host: ``cicd:ingress.host``, by default the host of ``cicd:environment.url``;
- TLS: a certificate for the host in ``<app>-tls``, issued by the cert-manager ClusterIssuer
  named in config.

Per router (the platform stack's ``trafficRouter``):

- ``nginx`` and ``none``: an Ingress of the platform's ``ingressClassName`` (cert-manager issues
  from its annotation). Under nginx it also says ``ssl-redirect``, and with ``canary.nginx`` the
  Rollout names it as its ``stableIngress``: Argo Rollouts manages a copy of it,
  ``<rollout>-<ingress>-canary``, carrying the NGINX canary weight, and leaves this one alone;
- ``traefik``: without a canary, the same Ingress with Traefik's own annotations (its TLS entry
  points, TLS on). With a canary, an IngressRoute to a weighted TraefikService over the stable
  and canary Services (the controller sets the weights), and a cert-manager Certificate, since
  cert-manager never reads IngressRoutes;
- ``gatewayApi``: an HTTPRoute on the platform's Gateway (which terminates TLS, so no
  certificate here), to the stable Service, or to the stable and canary Services whose
  weights the Gateway API plugin sets.

One route per environment, whatever the release strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components import traffic_router as traffic
from components.namespace import recommended_labels

meta = k8s.meta.v1
net = k8s.networking.v1

CLUSTER_ISSUER_ANNOTATION: Final = traffic.CLUSTER_ISSUER_ANNOTATION


@dataclass(frozen=True)
class AppIngressArgs:
    """Inputs of the app's route; ``service`` and ``port_name`` name the stable Service.

    ``canary_service`` is the canary Service when the router splits a canary's requests (None:
    no canary, or its weight is a pod ratio); ``port`` is the Services' port number (a
    TraefikService or an HTTPRoute names the port by number)."""

    namespace: pulumi.Input[str]
    app: str
    environment: str
    host: str
    class_name: pulumi.Input[str]
    cluster_issuer: str
    tls_secret_name: str
    service: str
    port_name: str = "http"
    port: int = 80
    router: traffic.RouterFacts = traffic.NGINX_ROUTER
    canary_service: str | None = None


class AppIngress(pulumi.ComponentResource):
    """The app's route (one per environment): an Ingress, a Traefik IngressRoute or an HTTPRoute.

    ``route`` is what a Rollout waits for; ``traffic_routing`` its ``trafficRouting`` (None: no
    split); ``name`` the name of every object this component renders (the app's)."""

    route: pulumi.Resource
    traffic_routing: dict[str, Any] | None
    name: str

    def __init__(
        self, name: str, args: AppIngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:AppIngress", name, None, opts)
        self.name = args.app
        labels = recommended_labels(args.app, args.environment, "ingress")
        router = args.router
        split = args.canary_service
        self.traffic_routing = (
            traffic.rollout_traffic_routing(router.kind, self.name, args.namespace)
            if split is not None
            else None
        )
        if router.kind is traffic.TrafficRouter.GATEWAY_API:
            if router.gateway is None:
                raise ValueError("the gatewayApi router needs the platform's Gateway")
            self.route = self._custom(
                f"{name}-http-route",
                traffic.GATEWAY_API,
                "HTTPRoute",
                labels,
                args,
                traffic.http_route_spec(args.host, router.gateway, args.service, split, args.port),
                weighted=split is not None,
            )
        elif router.kind is traffic.TrafficRouter.TRAEFIK and split is not None:
            weighted = self._custom(
                f"{name}-traefik-service",
                traffic.TRAEFIK_API,
                "TraefikService",
                labels,
                args,
                traffic.traefik_service_spec(args.service, split, args.port),
                weighted=True,
            )
            certificate = self._custom(
                f"{name}-certificate",
                traffic.CERT_MANAGER_API,
                "Certificate",
                labels,
                args,
                traffic.certificate_spec(args.host, args.tls_secret_name, args.cluster_issuer),
            )
            self.route = self._custom(
                f"{name}-ingress-route",
                traffic.TRAEFIK_API,
                "IngressRoute",
                labels,
                args,
                traffic.ingress_route_spec(
                    args.host,
                    router.traefik_entry_points,
                    {"name": self.name, "kind": "TraefikService"},
                    args.tls_secret_name,
                ),
                depends_on=[weighted, certificate],
            )
        else:
            self.route = self._ingress(name, args, labels)
        self.register_outputs({"name": self.name, "host": args.host})

    def _custom(
        self,
        resource_name: str,
        api_version: str,
        kind: str,
        labels: dict[str, str],
        args: AppIngressArgs,
        spec: dict[str, Any],
        depends_on: list[pulumi.Resource] | None = None,
        *,
        weighted: bool = False,
    ) -> k8s.apiextensions.CustomResource:
        """One object of the route; ``weighted``: the controller sets its weights, so the list
        holding them is the stack's on creation only (traffic.CONTROLLER_OWNED)."""
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=api_version,
            kind=kind,
            metadata={"name": self.name, "namespace": args.namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                ignore_changes=[traffic.CONTROLLER_OWNED[kind]] if weighted else None,
            ),
        )

    def _ingress(self, name: str, args: AppIngressArgs, labels: dict[str, str]) -> net.Ingress:
        return net.Ingress(
            f"{name}-ingress",
            metadata=meta.ObjectMetaArgs(
                name=self.name,
                namespace=args.namespace,
                labels=labels,
                annotations=traffic.ingress_annotations(args.router, args.cluster_issuer),
            ),
            spec=net.IngressSpecArgs(
                ingress_class_name=args.class_name,
                tls=[net.IngressTLSArgs(hosts=[args.host], secret_name=args.tls_secret_name)],
                rules=[
                    net.IngressRuleArgs(
                        host=args.host,
                        http=net.HTTPIngressRuleValueArgs(
                            paths=[
                                net.HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=net.IngressBackendArgs(
                                        service=net.IngressServiceBackendArgs(
                                            name=args.service,
                                            port=net.ServiceBackendPortArgs(name=args.port_name),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Until this component, the canary's AppWorkload created the Ingress (prod): the
                # alias keeps that live Ingress instead of replacing it.
                aliases=[
                    pulumi.Alias(parent=pulumi.create_urn(args.app, "cicd:kubernetes:AppWorkload"))
                ],
            ),
        )
