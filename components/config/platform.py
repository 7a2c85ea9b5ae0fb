"""The platform project's config (platform/): what is cluster-scoped, one stack per cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import ConfigModel, DnsLabel, SemVer, matches
from components.config.loading import StackSchema, read_stack
from components.config.problems import Problem

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
        default="nginx", description="IngressClass of the NGINX ingress controller. Default nginx."
    )
    ingress_namespace: DnsLabel = Field(
        default="ingress-nginx",
        description="Namespace of the ingress controller (allowed to reach apps). "
        "Default ingress-nginx.",
    )
    monitoring_namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of Prometheus (allowed to scrape apps). Default monitoring.",
    )


class RolloutsControllerConfig(ConfigModel):
    """The Argo Rollouts controller (``cicd-platform:rollouts``)."""

    namespace: DnsLabel = Field(
        default="argo-rollouts", description="Namespace of the controller. Default argo-rollouts."
    )
    chart_version: SemVer = Field(
        default="2.40.5", description="argo-rollouts Helm chart version. Default 2.40.5."
    )


class PolicyControllerConfig(ConfigModel):
    """The sigstore policy-controller (``cicd-platform:policyController``).

    Chosen over Kyverno because its ClusterImagePolicy verifies exactly the keyless cosign
    identity CI signs with (issuer + subject of the Fulcio certificate). The per-environment
    ClusterImagePolicy objects belong to the environment stacks.
    """

    enabled: bool = Field(default=True, description="Install it. Default true.")
    namespace: DnsLabel = Field(
        default="cosign-system", description="Namespace of the webhook. Default cosign-system."
    )
    chart_version: SemVer = Field(
        default="0.6.5", description="sigstore policy-controller Helm chart version."
    )


class GithubOidcConfig(ConfigModel):
    """Trust in GitHub's OIDC issuer (``cicd-platform:githubOidc``), for ``cluster.access:
    githubOidc`` in the environment stacks. Rendered as a structured authentication
    configuration (``apiserver.config.k8s.io/v1`` AuthenticationConfiguration) that the cluster
    admin applies to the API server, or maps onto the managed cluster's OIDC provider.
    """

    enabled: bool = Field(default=False, description="Trust GitHub's OIDC issuer. Default false.")
    audience: (
        Annotated[
            str,
            AfterValidator(
                matches(re.compile(r"^[A-Za-z0-9:/._-]{1,200}$"), "must be an audience")
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="The aud the API server accepts and workflows request, unique per cluster "
        "(a token for one cluster is useless on another). Required when enabled.",
    )
    username_prefix: Annotated[
        str,
        AfterValidator(matches(re.compile(r"^[a-z0-9-]+:$"), "must end with ':', e.g. github:")),
    ] = Field(
        default="github:",
        description="Claim-mapping prefix of the username (the token's sub), so that a GitHub "
        "identity can never collide with another issuer's. Default github:.",
    )
    repositories: tuple[
        Annotated[
            str,
            AfterValidator(
                matches(re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), "must be OWNER/REPO")
            ),
        ],
        ...,
    ] = Field(
        default=(),
        description="Repositories whose tokens the cluster accepts at all (claim validation on "
        "the repository claim). Required when enabled.",
    )


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


PLATFORM_SECTIONS: Final = (
    "cluster",
    "rollouts",
    "policyController",
    "githubOidc",
    "deliveryDashboards",
)


class PlatformSettings(ConfigModel):
    """All sections of one platform stack."""

    cluster: PlatformClusterConfig
    rollouts: RolloutsControllerConfig = RolloutsControllerConfig()
    policy_controller: PolicyControllerConfig = PolicyControllerConfig()
    github_oidc: GithubOidcConfig = GithubOidcConfig()
    delivery_dashboards: DeliveryDashboardsConfig = DeliveryDashboardsConfig()


def _platform_rules(settings: PlatformSettings, stack: str) -> list[Problem]:
    """The platform's cross-field rules: the cluster is its stack, OIDC trust is complete."""
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
    oidc = settings.github_oidc
    if oidc.enabled and oidc.audience is None:
        problems.append(
            Problem("githubOidc.audience", "is required when enabled", None, PLATFORM_NAMESPACE)
        )
    if oidc.enabled and not oidc.repositories:
        problems.append(
            Problem(
                "githubOidc.repositories",
                "must list at least one OWNER/REPO when enabled",
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
    reads={PLATFORM_NAMESPACE: None, "pulumi": None},
)
"""The platform project's stack files: ``cicd-platform:`` sections only. It has no secrets and
reads no other namespace (its Kubernetes provider takes its context from ``cluster``), so
anything else in the file is refused, as in the environment stacks."""


def parse_platform(
    raw: Mapping[str, Any], stack: str
) -> tuple[PlatformSettings | None, list[Problem]]:
    """Validate a platform stack's sections; problems name ``cicd-platform:`` paths."""
    return PLATFORM_STACK.parse(raw, stack)


def load_platform() -> PlatformSettings:
    """Read and validate the current platform stack's config; raise ConfigError on problems."""
    return read_stack(PLATFORM_STACK).settings
