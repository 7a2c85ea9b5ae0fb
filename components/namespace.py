"""The environment's namespace: labels, pod security, quota, limits and network policy.

Network policy is default-deny for ingress and egress; the allows are exactly what the app
needs: ingress to the app port from the ingress controller's namespace, pods of the same
namespace and (with canary analysis) the Argo Rollouts controller's namespace; ingress to the
metrics port from the monitoring namespace where Prometheus scrapes the app, in one policy of
its own; and DNS egress to kube-system. Anything else (a database, an
external API) is an explicit entry of ``cicd:network.egress``, so a compromised pod cannot reach
the rest of the cluster, or the internet, by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.vocabulary import APP_PORT_NAME, PodSecurityLevel

meta = k8s.meta.v1
core = k8s.core.v1
net = k8s.networking.v1


@dataclass(frozen=True)
class ResourceAmount:
    """CPU and memory as Kubernetes quantities (already validated by the caller)."""

    cpu: str
    memory: str


@dataclass(frozen=True)
class EgressPort:
    """One destination port of an egress allow: ``protocol`` is TCP or UDP."""

    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class EgressAllow:
    """One egress allow of the app's pods: NetworkPolicy ``allow-egress-<name>``.

    Destinations are CIDR blocks and/or namespaces (all their pods), on ``ports`` only.
    """

    name: str
    cidrs: tuple[str, ...]
    namespaces: tuple[str, ...]
    ports: tuple[EgressPort, ...]


def _namespace_peer(
    namespace: pulumi.Input[str], pod_labels: dict[str, str] | None = None
) -> net.NetworkPolicyPeerArgs:
    """Pods of another namespace (all of them, or those with ``pod_labels``)."""
    return net.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        ),
        pod_selector=meta.LabelSelectorArgs(match_labels=pod_labels) if pod_labels else None,
    )


@dataclass(frozen=True)
class EnvironmentNamespaceArgs:
    """Inputs of an environment namespace.

    ``ingress_namespace`` (the ingress controller's) and ``extra_ingress_namespaces`` may reach
    the app port: the latter holds the Argo Rollouts controller's namespace when canary
    analysis probes the app from there. The monitoring namespace is deliberately not among
    them: Prometheus is allowed once, to the metrics port, by ``metrics_scrape``. These
    namespaces are facts of the platform stack, so they arrive as Outputs of its
    StackReference.
    ``egress`` is the config's allow-list: one NetworkPolicy per entry, for the app's pods only,
    to the listed CIDR blocks and/or namespaces on the listed ports, and nothing else.
    ``protect`` marks the namespace and its quota protected and retained on delete: a mistaken
    ``pulumi destroy`` or a rename then leaves the live namespace (and every object in it) alone.
    """

    name: str
    app: str
    environment: str
    github_environment: str
    pod_security: PodSecurityLevel
    app_port: int
    ingress_namespace: pulumi.Input[str]
    extra_ingress_namespaces: tuple[pulumi.Input[str], ...]
    quota_requests: ResourceAmount
    quota_limits: ResourceAmount
    quota_pods: int
    default_request: ResourceAmount
    default_limit: ResourceAmount
    max_container: ResourceAmount
    protect: bool
    egress: tuple[EgressAllow, ...] = ()
    metrics_scrape: tuple[pulumi.Input[str], int] | None = None
    """(monitoring namespace, metrics port): Prometheus there may scrape the app pods, on that
    port only (NetworkPolicy ``allow-prometheus-scrape``); None: nothing in the monitoring
    namespace reaches the app. The namespace is the platform stack's ``monitoringNamespace``."""
    extra_labels: tuple[tuple[str, str], ...] = ()
    """More namespace labels, e.g. the image-policy opt-in ``policy.sigstore.dev/include``."""


def recommended_labels(app: str, environment: str, component: str | None = None) -> dict[str, str]:
    """app.kubernetes.io/* labels shared by everything the stack creates."""
    labels = {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": "pulumi",
        "environment": environment,
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


class EnvironmentNamespace(pulumi.ComponentResource):
    """Namespace with Pod Security labels, ResourceQuota, LimitRange and NetworkPolicies."""

    namespace: k8s.core.v1.Namespace
    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: EnvironmentNamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:EnvironmentNamespace", name, None, opts)
        labels = recommended_labels(args.app, args.environment)
        level = args.pod_security.value
        keep = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )
        self.namespace = core.Namespace(
            f"{name}-namespace",
            metadata=meta.ObjectMetaArgs(
                name=args.name,
                labels={
                    **labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": level,
                    "pod-security.kubernetes.io/warn": level,
                    **dict(args.extra_labels),
                },
                annotations={"cicd.acme.dev/github-environment": args.github_environment},
            ),
            opts=keep,
        )
        self.name = self.namespace.metadata.apply(lambda m: str(m.name))
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        def ns_meta(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=self.name, labels=labels)

        core.ResourceQuota(
            f"{name}-quota",
            metadata=ns_meta("environment-quota"),
            spec=core.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": args.quota_requests.cpu,
                    "requests.memory": args.quota_requests.memory,
                    "limits.cpu": args.quota_limits.cpu,
                    "limits.memory": args.quota_limits.memory,
                    "pods": str(args.quota_pods),
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            ),
            opts=in_ns,
        )
        core.LimitRange(
            f"{name}-limits",
            metadata=ns_meta("container-limits"),
            spec=core.LimitRangeSpecArgs(
                limits=[
                    core.LimitRangeItemArgs(
                        type="Container",
                        default_request={
                            "cpu": args.default_request.cpu,
                            "memory": args.default_request.memory,
                        },
                        default={
                            "cpu": args.default_limit.cpu,
                            "memory": args.default_limit.memory,
                        },
                        max={"cpu": args.max_container.cpu, "memory": args.max_container.memory},
                    )
                ]
            ),
            opts=in_ns,
        )
        net.NetworkPolicy(
            f"{name}-default-deny",
            metadata=ns_meta("default-deny-all"),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
            opts=in_ns,
        )
        app_pods = meta.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": args.app})
        net.NetworkPolicy(
            f"{name}-allow-app-ingress",
            metadata=ns_meta("allow-app-ingress"),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=app_pods,
                policy_types=["Ingress"],
                ingress=[
                    net.NetworkPolicyIngressRuleArgs(
                        from_=[
                            *(
                                _namespace_peer(source)
                                for source in (
                                    args.ingress_namespace,
                                    *args.extra_ingress_namespaces,
                                )
                            ),
                            net.NetworkPolicyPeerArgs(pod_selector=meta.LabelSelectorArgs()),
                        ],
                        ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=APP_PORT_NAME)],
                    )
                ],
            ),
            opts=in_ns,
        )
        if args.metrics_scrape is not None:
            # Canary analysis measures what Prometheus scrapes: without this allow the success
            # rate has no data (and, rightly, fails). This is the monitoring namespace's only
            # way in: nothing else there talks to the app (the Pushgateway is pushed to by CI).
            monitoring, metrics_port = args.metrics_scrape
            # By name where Prometheus scrapes the app port (it follows the running pods).
            scraped: int | str = APP_PORT_NAME if metrics_port == args.app_port else metrics_port
            net.NetworkPolicy(
                f"{name}-allow-metrics-scrape",
                metadata=ns_meta("allow-prometheus-scrape"),
                spec=net.NetworkPolicySpecArgs(
                    pod_selector=app_pods,
                    policy_types=["Ingress"],
                    ingress=[
                        net.NetworkPolicyIngressRuleArgs(
                            from_=[_namespace_peer(monitoring)],
                            ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=scraped)],
                        )
                    ],
                ),
                opts=in_ns,
            )
        net.NetworkPolicy(
            f"{name}-allow-dns-egress",
            metadata=ns_meta("allow-dns-egress"),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    net.NetworkPolicyEgressRuleArgs(
                        to=[_namespace_peer("kube-system", {"k8s-app": "kube-dns"})],
                        ports=[
                            net.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            net.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=in_ns,
        )
        for rule in args.egress:
            net.NetworkPolicy(
                f"{name}-allow-egress-{rule.name}",
                metadata=ns_meta(f"allow-egress-{rule.name}"),
                spec=net.NetworkPolicySpecArgs(
                    pod_selector=app_pods,
                    policy_types=["Egress"],
                    egress=[
                        net.NetworkPolicyEgressRuleArgs(
                            to=[
                                *(
                                    net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=cidr))
                                    for cidr in rule.cidrs
                                ),
                                *(_namespace_peer(namespace) for namespace in rule.namespaces),
                            ],
                            ports=[
                                net.NetworkPolicyPortArgs(protocol=port.protocol, port=port.port)
                                for port in rule.ports
                            ],
                        )
                    ],
                ),
                opts=in_ns,
            )
        self.register_outputs({"name": self.name})
