"""Sections of the cluster side: ``cicd:cluster`` (with quota and limit range) and ``cicd:access``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.app import ResourceAmounts
from components.config.fields import (
    ConfigModel,
    HttpsUrl,
    Quantity,
    base64_value,
    between,
    matches,
)
from components.vocabulary import ClusterAccess, ScrapeDiscovery


class QuotaConfig(ConfigModel):
    """ResourceQuota of the namespace."""

    requests_cpu: Quantity = Field(default="2", description="Total CPU requests. Default 2.")
    requests_memory: Quantity = Field(default="4Gi", description="Total memory requests.")
    limits_cpu: Quantity = Field(default="4", description="Total CPU limits. Default 4.")
    limits_memory: Quantity = Field(default="8Gi", description="Total memory limits.")
    pods: Annotated[int, AfterValidator(between(1, 1000))] = Field(
        default=20, description="Maximum pods. Default 20."
    )


class LimitRangeConfig(ConfigModel):
    """Per-container defaults and maximum (LimitRange) for pods that do not say."""

    default_request: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi"), description="Default requests."
    )
    default_limit: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="256Mi"), description="Default limits."
    )
    max: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="2", memory="2Gi"), description="Largest container."
    )


class ClusterConfig(ConfigModel):
    """The cluster this environment lives in (``cicd:cluster``)."""

    kube_context: str | None = Field(
        default=None,
        description="kubeconfig context Pulumi uses; null means the current context.",
    )
    server: HttpsUrl = Field(description="API server URL written into the deployer kubeconfig.")
    certificate_authority_data: Annotated[str, AfterValidator(base64_value)] = Field(
        description="Base64 CA bundle of the API server (public; not a secret)."
    )
    platform_stack: Annotated[
        str,
        AfterValidator(
            matches(
                re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"),
                "must be a fully qualified stack name ORG/PROJECT/STACK, "
                "such as acme/cicd-platform/nonprod",
            )
        ),
    ] = Field(
        description="The platform stack of this cluster (platform/ project), read through a "
        "StackReference: ingress class and namespace, Argo Rollouts and monitoring namespaces, "
        "GitHub OIDC trust. Never repeated here."
    )
    access: ClusterAccess = Field(
        default=ClusterAccess.TOKEN,
        description="How the deploy workflows authenticate: token (a ServiceAccount token in "
        "the environment's KUBECONFIG secret), githubOidc (a short-lived GitHub OIDC token "
        "per run, trusted by the API server; no stored credential) or inCluster (the deploy "
        "job runs on the platform's runner scale set, deploy.runner.scaleSet, with its pods' "
        "ServiceAccount; nothing stored, nothing leaves the cluster). Default token.",
    )
    scrape: ScrapeDiscovery = Field(
        default=ScrapeDiscovery.ANNOTATIONS,
        description="How the cluster's Prometheus finds the app for canary analysis: "
        "annotations (prometheus.io/* on the Services) or prometheus-operator (a "
        "ServiceMonitor). Must equal the platform stack's monitoring.discovery, which is "
        "checked. Default annotations.",
    )
    quota: QuotaConfig = Field(default=QuotaConfig(), description="Namespace ResourceQuota.")
    limit_range: LimitRangeConfig = Field(
        default=LimitRangeConfig(), description="Namespace LimitRange."
    )


def _people_group(value: str) -> str:
    """A people group, never one Kubernetes reserves: the ``system:`` prefix is the API server's
    (``system:unauthenticated`` is anonymous, ``system:authenticated`` every identity,
    ``system:serviceaccounts[:NS]`` every ServiceAccount, ``system:masters`` cluster admins,
    ``system:nodes`` kubelets), so binding one would grant far more than a team."""
    if not value.strip():
        raise ValueError("must be a group name, not empty")
    if value.lower().startswith("system:"):
        raise ValueError(
            "must not be a group Kubernetes reserves (system:*: anonymous users, every "
            "authenticated user, ServiceAccounts, nodes or cluster admins); name a team's group"
        )
    return value


PeopleGroup = Annotated[str, AfterValidator(_people_group)]


class AccessConfig(ConfigModel):
    """People's access to the namespace (``cicd:access``): components/access.py's own Roles."""

    viewer_groups: tuple[PeopleGroup, ...] = Field(
        default=(),
        description="Groups that may read the namespace (Role people-view: pods, logs, events, "
        "workload; never Secrets). No system:* group. Default none.",
    )
    operator_groups: tuple[PeopleGroup, ...] = Field(
        default=(),
        description="Groups that may also delete or evict pods (Role people-operate; never "
        "Secrets, exec or pod-template changes). No system:* group. Prod ships with none.",
    )
