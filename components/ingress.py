"""The environment's Ingress: one host, TLS from cert-manager, the canary's traffic split.

Every environment (dev, staging, prod) gets the same shape, so the deploy workflows' health
checks and the E2E tests reach the app exactly as users do:

- host: ``cicd:ingress.host``, by default the host of ``cicd:environment.url``;
- class: the platform stack's ``ingressClassName`` (read through the StackReference);
- TLS: a certificate for the host in ``<app>-tls``, issued by the ``cert-manager.io/cluster-issuer``
  named in config; ``ssl-redirect`` so plain HTTP never reaches the app.

With ``canary.nginx`` the Rollout names this Ingress as its ``stableIngress``: Argo Rollouts then
manages a copy of it, ``<rollout>-<ingress>-canary``, carrying the NGINX canary weight, and
leaves this one alone. One Ingress per environment, whatever the release strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from components.namespace import recommended_labels

meta = k8s.meta.v1
net = k8s.networking.v1

CLUSTER_ISSUER_ANNOTATION: Final = "cert-manager.io/cluster-issuer"


@dataclass(frozen=True)
class AppIngressArgs:
    """Inputs of the app's Ingress; ``service`` and ``port_name`` name the stable Service."""

    namespace: pulumi.Input[str]
    app: str
    environment: str
    host: str
    class_name: pulumi.Input[str]
    cluster_issuer: str
    tls_secret_name: str
    service: str
    port_name: str = "http"


class AppIngress(pulumi.ComponentResource):
    """The app's TLS Ingress (one per environment)."""

    ingress: net.Ingress
    name: str

    def __init__(
        self, name: str, args: AppIngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:AppIngress", name, None, opts)
        self.name = args.app
        self.ingress = net.Ingress(
            f"{name}-ingress",
            metadata=meta.ObjectMetaArgs(
                name=self.name,
                namespace=args.namespace,
                labels=recommended_labels(args.app, args.environment, "ingress"),
                annotations={
                    CLUSTER_ISSUER_ANNOTATION: args.cluster_issuer,
                    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                },
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
        self.register_outputs({"name": self.name, "host": args.host})
