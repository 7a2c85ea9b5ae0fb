"""Closed sets shared by config and components: pod security levels, cluster access,
scrape discovery and request-metric presets. The environments are no closed set: they are a
chain read from the stack files (components/chain.py).

They live outside components/config so that components can use them without importing config
types; components/config re-exports them for the stack files' side.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class PodSecurityLevel(StrEnum):
    """Pod Security Standards level, applied as enforce, audit and warn labels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


class ClusterAccess(StrEnum):
    """How the deploy workflows authenticate to the cluster (``cicd:cluster.access``)."""

    TOKEN = "token"
    GITHUB_OIDC = "githubOidc"
    IN_CLUSTER = "inCluster"
    """The deploy job runs on the environment's Actions Runner Controller scale set and uses
    its pods' ServiceAccount (docs/runners.md): no credential leaves the cluster."""


class ScrapeDiscovery(StrEnum):
    """How a cluster's Prometheus finds the pods it scrapes (``cicd-platform:monitoring``).

    ``prometheus-operator``: ServiceMonitor objects (monitoring.coreos.com/v1), selected by the
    Prometheus resource's ``serviceMonitorSelector``; ``annotations``: the ``prometheus.io/scrape``,
    ``prometheus.io/port`` and ``prometheus.io/path`` annotations on a Service, which a plain
    Prometheus reads with its ``kubernetes-service-endpoints`` job (the prometheus-community
    ``prometheus`` chart's default scrape config).
    """

    PROMETHEUS_OPERATOR = "prometheus-operator"
    ANNOTATIONS = "annotations"


class MetricsPreset(StrEnum):
    """Which request counter the canary's success rate is computed from (docs/analysis.md).

    ``app``: the app's own counter (default ``http_requests_total`` with a ``code`` label),
    scraped from its pods through the canary Service; ``ingress-nginx``: the NGINX ingress
    controller's ``nginx_ingress_controller_requests`` for the canary upstream of the app's
    Ingress, so an app without metrics is still judged by real traffic (needs canary.nginx).
    """

    APP = "app"
    INGRESS_NGINX = "ingress-nginx"


class BranchPolicy(StrEnum):
    """Where a GitHub environment accepts deployments from: GitHub's two exclusive modes.

    GitHub's API takes them as two booleans of which exactly one must be true; the stack file
    keeps those two keys (``cicd:approval.protectedBranches``/``customBranchPolicies``), and the
    config rules reject any other combination, so past config everything is one of these.
    """

    PROTECTED_BRANCHES = "protectedBranches"
    """Only branches with protection rules may deploy."""
    CUSTOM = "customBranchPolicies"
    """Only the branch and tag patterns listed in ``cicd:approval`` may deploy."""


Reviewer = str | int
"""A required reviewer: a user login or team slug, or its numeric GitHub id."""

GITHUB_OIDC_ISSUER: Final = "https://token.actions.githubusercontent.com"
"""The issuer of the ID tokens GitHub Actions jobs request (``id-token: write``)."""


class RepositoryRole(StrEnum):
    """A base repository role, as a ruleset's bypass actor."""

    ADMIN = "admin"
    MAINTAIN = "maintain"
    WRITE = "write"

    @property
    def actor_id(self) -> int:
        """GitHub's id of the role for ``bypass_actors`` (actor type ``RepositoryRole``), as the
        GitHub provider's repository_ruleset documentation lists them."""
        return {RepositoryRole.MAINTAIN: 2, RepositoryRole.WRITE: 4, RepositoryRole.ADMIN: 5}[self]


APP_PORT_NAME: Final = "http"
"""Name of the app container's port. The Services, probes and NetworkPolicies refer to the port
by this name, not by number: the container list is set on creation only (docs/field-ownership.md),
so a NetworkPolicy that followed a changed ``app.port`` by number would cut running pods off."""
