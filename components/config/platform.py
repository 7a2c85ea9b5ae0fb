"""The platform project's config (platform/): what is cluster-scoped, one stack per cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Tag,
)

from components.config.fields import ConfigModel, DnsLabel, Duration, SemVer, matches
from components.config.kubernetes_provider import (
    CONTEXT_KEY,
    KUBECONFIG_KEY,
    READ_KEYS,
    KubernetesProviderSettings,
    context_problem,
)
from components.config.loading import StackSchema, kubernetes_provider, read_stack
from components.config.problems import Problem
from components.config.runner import RunnersConfig, RunnersOff, platform_runner_problems
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched
from components.traffic_router import TrafficRouter
from components.vocabulary import ScrapeDiscovery

PLATFORM_NAMESPACE: Final = "cicd-platform"
"""Config namespace (and project name) of the platform project: ``cicd-platform:rollouts``."""


class PlatformClusterConfig(ConfigModel):
    """What the environments expect of their cluster (``cicd-platform:cluster``).

    The ingress controller and the monitoring stack are installed by the cluster's admins; the
    platform stack records where they are, and the environment stacks read it from here.
    """

    name: DnsLabel = Field(description="The cluster, as the stack: nonprod or prod.")
    kube_context: str | None = Field(
        default=None, description="kubeconfig context Pulumi uses; null means the current one."
    )
    ingress_class_name: DnsLabel = Field(
        default="nginx",
        description="IngressClass of the cluster's ingress controller (Traefik's with the traefik "
        "router; unused with gatewayApi). Default nginx.",
    )
    ingress_namespace: DnsLabel = Field(
        default="ingress-nginx",
        description="Namespace of the pods that carry requests to the apps (allowed to reach "
        "them): the ingress controller, or the Gateway's data plane with the gatewayApi "
        "router. Default ingress-nginx.",
    )
    monitoring_namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of Prometheus (allowed to scrape apps). Default monitoring.",
    )


class MonitoringConfig(ConfigModel):
    """How this cluster's Prometheus finds what it scrapes (``cicd-platform:monitoring``).

    The environment stacks read it through their StackReference: their ``cicd:cluster.scrape``
    must name the same discovery (they render a ServiceMonitor or the scrape annotations to
    match), and their canary analysis waits for data according to ``scrapeInterval``.
    """

    discovery: ScrapeDiscovery = Field(
        default=ScrapeDiscovery.ANNOTATIONS,
        description="prometheus-operator (ServiceMonitor objects) or annotations (a plain "
        "Prometheus reading prometheus.io/scrape|port|path on Services). Default annotations.",
    )
    scrape_interval: Duration = Field(
        default="30s",
        description="The Prometheus' scrape interval (global, and of every ServiceMonitor the "
        "environments render). Default 30s.",
    )
    service_monitor_labels: dict[DnsLabel, DnsLabel] = Field(
        default_factory=dict,
        description="Labels the Prometheus resource selects ServiceMonitors by (its "
        "serviceMonitorSelector), e.g. {release: kube-prometheus-stack}. Default none.",
    )


class RolloutsControllerConfig(ConfigModel):
    """The Argo Rollouts controller (``cicd-platform:rollouts``)."""

    namespace: DnsLabel = Field(
        default="argo-rollouts", description="Namespace of the controller. Default argo-rollouts."
    )
    chart_version: SemVer = Field(
        default="2.40.5", description="argo-rollouts Helm chart version. Default 2.40.5."
    )


class PolicyControllerSettings(ConfigModel):
    """Where and which version of the sigstore policy-controller; every setting has a default."""

    namespace: DnsLabel = Field(
        default="cosign-system", description="Namespace of the webhook. Default cosign-system."
    )
    chart_version: SemVer = Field(
        default="0.6.5", description="sigstore policy-controller Helm chart version."
    )


_POLICY_CONTROLLER = "Install it. Default true."


class PolicyControllerOn(PolicyControllerSettings):
    """The sigstore policy-controller (``cicd-platform:policyController``), installed (default).

    Chosen over Kyverno because its ClusterImagePolicy verifies exactly the keyless cosign
    identity CI signs with (issuer + subject of the Fulcio certificate). The per-environment
    ClusterImagePolicy objects belong to the environment stacks.
    """

    enabled: Annotated[bool, is_switched(True)] = Field(
        default=True, description=_POLICY_CONTROLLER
    )


class PolicyControllerOff(SwitchedOff):
    """``policyController.enabled: false``: no admission check of signatures in this cluster."""

    SWITCH = "enabled"
    ON_BY_DEFAULT = True
    enabled: Annotated[bool, is_switched(False)] = Field(description=_POLICY_CONTROLLER)
    unused: PolicyControllerSettings | None = Field(
        default=None, description="Settings written while it is off (ignored)."
    )


PolicyControllerConfig = Annotated[
    Annotated[PolicyControllerOn, Tag(ON)] | Annotated[PolicyControllerOff, Tag(OFF)],
    by_switch(PolicyControllerOn, PolicyControllerOff),
]


def _required_when_enabled(value: Any) -> Any:
    if value is None:
        raise ValueError("is required when enabled")
    return value


_AUDIENCE = "The aud the API server accepts and workflows request, unique per cluster (a token "
_AUDIENCE += "for one cluster is useless on another). Required when enabled."
_REPOSITORIES = "Repositories whose tokens the cluster accepts at all (claim validation on the "
_REPOSITORIES += "repository claim). Required when enabled."
_USERNAME_PREFIX = "Claim-mapping prefix of the username (the token's sub), so that a GitHub "
_USERNAME_PREFIX += "identity can never collide with another issuer's. Default github:."
_ENABLED = "Trust GitHub's OIDC issuer. Default false."

Audience = Annotated[
    str, AfterValidator(matches(re.compile(r"^[A-Za-z0-9:/._-]{1,200}$"), "must be an audience"))
]
UsernamePrefix = Annotated[
    str, AfterValidator(matches(re.compile(r"^[a-z0-9-]+:$"), "must end with ':', e.g. github:"))
]
Repository = Annotated[
    str,
    AfterValidator(matches(re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), "must be OWNER/REPO")),
]


def _some_repositories(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one OWNER/REPO when enabled")
    return value


class GithubOidcOn(ConfigModel):
    """Trust in GitHub's OIDC issuer (``cicd-platform:githubOidc``), for ``cluster.access:
    githubOidc`` in the environment stacks. Rendered as a structured authentication
    configuration (``apiserver.config.k8s.io/v1`` AuthenticationConfiguration) that the cluster
    admin applies to the API server, or maps onto the managed cluster's OIDC provider. The
    audience and the repositories are part of the type: the trust cannot be on without them.
    """

    enabled: Annotated[bool, is_switched(True)] = Field(description=_ENABLED)
    audience: Annotated[Audience, BeforeValidator(_required_when_enabled)] = Field(
        description=_AUDIENCE
    )
    username_prefix: UsernamePrefix = Field(default="github:", description=_USERNAME_PREFIX)
    repositories: Annotated[tuple[Repository, ...], AfterValidator(_some_repositories)] = Field(
        description=_REPOSITORIES
    )


class GithubOidcSettings(ConfigModel):
    """The trust's settings set aside while it is off (all optional)."""

    audience: Audience | None = Field(default=None, description=_AUDIENCE)
    username_prefix: UsernamePrefix | None = Field(default=None, description=_USERNAME_PREFIX)
    repositories: tuple[Repository, ...] = Field(default=(), description=_REPOSITORIES)


class GithubOidcOff(SwitchedOff):
    """``githubOidc`` absent or ``enabled: false``: the cluster trusts no GitHub token."""

    SWITCH = "enabled"
    enabled: Annotated[bool, is_switched(False)] = Field(default=False, description=_ENABLED)
    unused: GithubOidcSettings | None = Field(
        default=None, description="Settings written while the trust is off (ignored)."
    )


GithubOidcConfig = Annotated[
    Annotated[GithubOidcOn, Tag(ON)] | Annotated[GithubOidcOff, Tag(OFF)],
    by_switch(GithubOidcOn, GithubOidcOff),
]


class DeliveryDashboardsConfig(ConfigModel):
    """Delivery-metrics dashboards for this cluster's Grafana (``cicd-platform:deliveryDashboards``).

    Grafana, its sidecar and the Prometheus that reads the Pushgateway run once per cluster, so
    the dashboards live here, not in an environment stack: one ConfigMap per application, in the
    cluster's ``monitoringNamespace``, labelled for the sidecar.
    """

    apps: tuple[DnsLabel, ...] = Field(
        default=(),
        description="Applications whose delivery metrics (cicd:metrics of their dev stack) this "
        "Grafana shows, one dashboard each. Default none.",
    )
    folder: str | None = Field(
        default=None,
        description="Grafana folder (the sidecar's grafana_folder annotation); null: the "
        "sidecar's default folder.",
    )


Sha256 = Annotated[
    str, AfterValidator(matches(re.compile(r"^[0-9a-f]{64}$"), "must be 64 lowercase hex digits"))
]
PluginLocation = Annotated[
    str,
    AfterValidator(
        matches(re.compile(r"^(https://|file://)[^\s]+$"), "must be an https:// or file:// URL")
    ),
]


class GatewayRefConfig(ConfigModel):
    """The Gateway the environments' HTTPRoutes attach to (installed by the cluster's admins)."""

    name: DnsLabel = Field(description="The Gateway's name. Required.")
    namespace: DnsLabel = Field(description="The Gateway's namespace. Required.")
    section_name: DnsLabel | None = Field(
        default=None,
        description="The Gateway listener to attach to (its HTTPS listener); null: every "
        "listener that allows the route.",
    )


class GatewayApiPluginConfig(ConfigModel):
    """The Argo Rollouts Gateway API plugin binary the controller downloads at start."""

    location: PluginLocation = Field(
        description="URL of the plugin binary for the controller's platform, e.g. the "
        "gatewayapi-plugin-linux-amd64 asset of a release of argoproj-labs/"
        "rollouts-plugin-trafficrouter-gatewayapi (the version is in the URL). Required."
    )
    sha256: Sha256 = Field(
        description="sha256 of that binary, from the release's checksums; the controller "
        "refuses a binary that does not match. Required."
    )


class TrafficRouterConfig(ConfigModel):
    """How canaries split requests in this cluster (``cicd-platform:trafficRouter``).

    One flat section rather than one model per kind, so that every problem names the key as
    written; :func:`_router_rules` says which keys each kind needs or refuses.
    """

    kind: TrafficRouter = Field(
        default=TrafficRouter.NGINX,
        description="nginx (ingress-nginx splits a copy of the app's Ingress), traefik (an "
        "IngressRoute to a weighted TraefikService), gatewayApi (an HTTPRoute weighted by the "
        "Argo Rollouts Gateway API plugin) or none (weights are pod ratios). Default nginx.",
    )
    entry_points: tuple[DnsLabel, ...] | None = Field(
        default=None,
        description="traefik only: the Traefik entry points the apps' routes listen on (its "
        "TLS ones). Default [websecure], the Traefik Helm chart's HTTPS entry point.",
    )
    gateway: GatewayRefConfig | None = Field(
        default=None,
        description="gatewayApi only, required there: the Gateway the apps' HTTPRoutes attach to.",
    )
    plugin: GatewayApiPluginConfig | None = Field(
        default=None,
        description="gatewayApi only, required there: the plugin binary the Argo Rollouts "
        "controller loads (location and sha256).",
    )

    @property
    def traefik_entry_points(self) -> tuple[str, ...]:
        """The entry points, or Traefik's chart's HTTPS one."""
        return self.entry_points or ("websecure",)


def _router_rules(router: TrafficRouterConfig) -> list[Problem]:
    """Keys a router kind needs, and keys that belong to another kind."""
    problems: list[Problem] = []
    needed = {"gateway": router.gateway, "plugin": router.plugin}
    owners = {
        "entryPoints": TrafficRouter.TRAEFIK,
        **dict.fromkeys(needed, TrafficRouter.GATEWAY_API),
    }
    values = {"entryPoints": router.entry_points, **needed}
    for key, owner in owners.items():
        if router.kind is owner and key in needed and values[key] is None:
            problems.append(
                Problem(
                    f"trafficRouter.{key}",
                    f"is required with kind {owner}",
                    None,
                    PLATFORM_NAMESPACE,
                )
            )
        elif router.kind is not owner and values[key] is not None:
            problems.append(
                Problem(
                    f"trafficRouter.{key}",
                    f"is only read with kind {owner} (kind is {router.kind})",
                    None,
                    PLATFORM_NAMESPACE,
                )
            )
    return problems


PLATFORM_SECTIONS: Final = (
    "cluster",
    "monitoring",
    "rollouts",
    "policyController",
    "githubOidc",
    "deliveryDashboards",
    "runners",
    "trafficRouter",
)


class PlatformSettings(ConfigModel):
    """All sections of one platform stack."""

    cluster: PlatformClusterConfig = Field(
        description="What the environments expect of this cluster: its name, the ingress "
        "controller and the monitoring namespace."
    )
    monitoring: MonitoringConfig = Field(
        default=MonitoringConfig(),
        description="How this cluster's Prometheus finds scrape targets (docs/analysis.md).",
    )
    rollouts: RolloutsControllerConfig = Field(
        default=RolloutsControllerConfig(), description="The Argo Rollouts controller."
    )
    policy_controller: PolicyControllerConfig = Field(
        default=PolicyControllerOn(),
        description="The sigstore policy-controller, the admission webhook that enforces the "
        "environments' ClusterImagePolicy objects. On by default.",
    )
    github_oidc: GithubOidcConfig = Field(
        default=GithubOidcOff(),
        description="Trust in GitHub's OIDC issuer, for cluster.access githubOidc in the "
        "environment stacks. Off by default.",
    )
    delivery_dashboards: DeliveryDashboardsConfig = Field(
        default=DeliveryDashboardsConfig(),
        description="Delivery-metrics dashboards for this cluster's Grafana sidecar.",
    )
    runners: RunnersConfig = Field(
        default=RunnersOff(),
        description="Actions Runner Controller and one runner scale set per environment "
        "(docs/runners.md). Off by default.",
    )
    traffic_router: TrafficRouterConfig = Field(
        default=TrafficRouterConfig(),
        description="How canaries split requests in this cluster: nginx (ingress-nginx), "
        "traefik (TraefikService), gatewayApi (HTTPRoute, Argo Rollouts Gateway API plugin) or "
        "none (pod ratios). Default nginx (docs/traffic-routers.md).",
    )


def _platform_rules(settings: PlatformSettings, stack: str) -> list[Problem]:
    """The platform's cross-field rules: the cluster is its stack (the OIDC trust is complete by
    its type)."""
    problems: list[Problem] = []
    if settings.cluster.name != stack:
        problems.append(
            Problem(
                "cluster.name",
                f"must match the stack name '{stack}'",
                settings.cluster.name,
                PLATFORM_NAMESPACE,
            )
        )
    problems.extend(platform_runner_problems(settings.runners))
    router = settings.traffic_router
    problems += _router_rules(router)
    if router.kind in {TrafficRouter.TRAEFIK, TrafficRouter.GATEWAY_API}:
        # The defaults name ingress-nginx: left alone under another router, the environments'
        # Ingress class and NetworkPolicy would point at a controller that is not there.
        traefik = router.kind is TrafficRouter.TRAEFIK
        where = "Traefik's" if traefik else "the Gateway's data plane"
        for key, field in (
            ("ingressClassName", "ingress_class_name"),
            ("ingressNamespace", "ingress_namespace"),
        ):
            if field not in settings.cluster.model_fields_set and (
                key == "ingressNamespace" or traefik
            ):
                problems.append(
                    Problem(
                        f"cluster.{key}",
                        f"must be set to {where} (the default is ingress-nginx's) with "
                        f"trafficRouter.kind {router.kind}",
                        None,
                        PLATFORM_NAMESPACE,
                    )
                )
    return problems


PLATFORM_STACK: Final = StackSchema[PlatformSettings](
    namespace=PLATFORM_NAMESPACE,
    sections=PLATFORM_SECTIONS,
    model=PlatformSettings,
    rules=_platform_rules,
    reads={PLATFORM_NAMESPACE: None, "kubernetes": READ_KEYS, "pulumi": None},
    optional_values={CONTEXT_KEY: context_problem},
    optional_secrets=frozenset({KUBECONFIG_KEY}),
)
"""The platform project's stack files: ``cicd-platform:`` sections, and the Kubernetes
provider's ``kubernetes:kubeconfig`` (secret) and ``kubernetes:context`` (or
``cluster.kubeContext``; components/config/kubernetes_provider.py); anything else in the file is
refused, as in the environment stacks."""


def parse_platform(
    raw: Mapping[str, Any], stack: str
) -> tuple[PlatformSettings | None, list[Problem]]:
    """Validate a platform stack's sections; problems name ``cicd-platform:`` paths."""
    return PLATFORM_STACK.parse(raw, stack)


def load_platform() -> PlatformSettings:
    """Read and validate the current platform stack's config; raise ConfigError on problems."""
    return read_stack(PLATFORM_STACK).settings


def load_platform_stack() -> tuple[PlatformSettings, KubernetesProviderSettings]:
    """:func:`load_platform`, with what the explicit Kubernetes provider is given."""
    read = read_stack(PLATFORM_STACK)
    settings = read.settings
    return settings, kubernetes_provider(read, settings.cluster.kube_context, PLATFORM_NAMESPACE)


def platform_warnings(settings: PlatformSettings) -> tuple[str, ...]:
    """Settings written under a switched-off feature, as the environment stacks warn them."""
    return tuple(
        f"{PLATFORM_NAMESPACE}:{path}: {', '.join(off.ignored_keys())} ignored while enabled is "
        "false (kept for when it is switched back on)"
        for path, off in (
            ("policyController", settings.policy_controller),
            ("githubOidc", settings.github_oidc),
            ("runners", settings.runners),
        )
        if isinstance(off, SwitchedOff) and off.ignored_keys()
    )
