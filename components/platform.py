"""The platform project: what is cluster-scoped, one stack per cluster (nonprod, prod).

An environment stack owns one namespace; nothing it declares may reach beyond it. What every
environment of a cluster shares lives here instead:

- the Argo Rollouts controller (its CRDs, ClusterRoles and namespace), installed with Helm;
- the sigstore policy-controller, the admission webhook that enforces the per-environment
  ClusterImagePolicy objects (signed images only);
- the namespaces of both, with Pod Security labels;
- the facts the environments expect of their cluster: the ingress class and its controller's
  namespace, the monitoring namespace, and the trust in GitHub's OIDC issuer;
- the API server's structured authentication configuration for that trust, exported for the
  cluster admin (the API server's flags are not something a Pulumi program can set).

Environment stacks read the exported facts through a ``StackReference`` (``cicd:cluster.
platformStack``), so no value is repeated in their stack files. ``platform/__main__.py`` calls
:func:`main`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components.vocabulary import GITHUB_OIDC_ISSUER, PodSecurityLevel

meta = k8s.meta.v1
core = k8s.core.v1

ARGO_CHART_REPO: Final = "https://argoproj.github.io/argo-helm"
SIGSTORE_CHART_REPO: Final = "https://sigstore.github.io/helm-charts"
AUTHENTICATION_API: Final = "apiserver.config.k8s.io/v1"
"""Structured authentication configuration is GA (v1) from Kubernetes 1.34; 1.30-1.33 take the
same document as ``apiserver.config.k8s.io/v1beta1``."""


def platform_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": "cicd-platform",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }


@dataclass(frozen=True)
class PlatformNamespaceArgs:
    """A namespace of a cluster-scoped controller.

    ``enforce`` is the Pod Security level the API server enforces; ``audit``/``warn`` always
    report against ``restricted``, so a chart upgrade that loosens a pod shows up.
    """

    name: str
    component: str
    enforce: PodSecurityLevel


def platform_namespace(
    name: str, args: PlatformNamespaceArgs, opts: pulumi.ResourceOptions
) -> core.Namespace:
    return core.Namespace(
        name,
        metadata=meta.ObjectMetaArgs(
            name=args.name,
            labels={
                **platform_labels(args.component),
                "pod-security.kubernetes.io/enforce": args.enforce.value,
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/audit": PodSecurityLevel.RESTRICTED.value,
                "pod-security.kubernetes.io/warn": PodSecurityLevel.RESTRICTED.value,
            },
        ),
        opts=opts,
    )


@dataclass(frozen=True)
class HelmControllerArgs:
    """A controller installed from a Helm chart into its own PSA-labelled namespace."""

    namespace: str
    chart_version: str
    enforce: PodSecurityLevel


@dataclass(frozen=True)
class _Chart:
    """A Helm chart by name and repository; the release and the namespace's component label
    take its name."""

    name: str
    repository: str


def _controller_release(
    parent: pulumi.ComponentResource,
    name: str,
    args: HelmControllerArgs,
    chart: _Chart,
    values: dict[str, Any],
) -> k8s.helm.v3.Release:
    """The controller's PSA-labelled namespace, then its Helm release into it.

    ``atomic`` with a timeout: the release waits for the controller and its CRDs, so that
    objects of those kinds apply cleanly afterwards, and a failed install rolls itself back.
    """
    namespace = platform_namespace(
        f"{name}-namespace",
        PlatformNamespaceArgs(args.namespace, chart.name, args.enforce),
        pulumi.ResourceOptions(parent=parent),
    )
    return k8s.helm.v3.Release(
        f"{name}-release",
        name=chart.name,
        chart=chart.name,
        version=args.chart_version,
        namespace=args.namespace,
        create_namespace=False,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=values,
        atomic=True,
        timeout=600,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace]),
    )


@dataclass(frozen=True)
class RolloutsControllerArgs(HelmControllerArgs):
    """The Argo Rollouts controller's release; ``traffic_router_plugins`` are the chart's
    ``controller.trafficRouterPlugins`` (the Gateway API plugin with the gatewayApi router,
    components/traffic_router.py), none for the routers built into the controller."""

    traffic_router_plugins: tuple[dict[str, str], ...] = ()
    extra_args: tuple[str, ...] = ()
    """The chart's ``controller.extraArgs`` (Traefik v3's API group with the traefik router)."""


class RolloutsController(pulumi.ComponentResource):
    """The Argo Rollouts controller and its CRDs (Helm), in a restricted namespace.

    Moved here from the environment stacks (it was ``cicd:kubernetes:RolloutsController`` in
    staging and prod); docs/platform.md, "Moving the Rollouts controller", gives the ``pulumi state`` steps.
    The chart's controller runs as non-root with a read-only root file system, so its
    namespace enforces ``restricted``.
    """

    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: RolloutsControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:platform:RolloutsController", name, None, opts)
        values: dict[str, Any] = {
            "installCRDs": True,
            "keepCRDs": True,
            "dashboard": {"enabled": False},
        }
        controller: dict[str, Any] = {}
        if args.traffic_router_plugins:
            controller["trafficRouterPlugins"] = list(args.traffic_router_plugins)
        if args.extra_args:
            controller["extraArgs"] = list(args.extra_args)
        if controller:
            values["controller"] = controller
        self.release = _controller_release(
            self, name, args, _Chart("argo-rollouts", ARGO_CHART_REPO), values
        )
        self.register_outputs({"namespace": args.namespace})


class PolicyController(pulumi.ComponentResource):
    """The sigstore policy-controller webhook (Helm) and its CRDs.

    It only judges namespaces labelled ``policy.sigstore.dev/include: "true"`` (the chart's
    namespace selector), which the environment stacks set where they want enforcement. Its
    chart sets no seccomp profile, so the namespace enforces ``baseline`` and audits/warns
    ``restricted``.
    """

    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: HelmControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:platform:PolicyController", name, None, opts)
        self.release = _controller_release(
            self,
            name,
            args,
            _Chart("policy-controller", SIGSTORE_CHART_REPO),
            {"installCRDs": True, "webhook": {"failurePolicy": "Fail"}},
        )
        self.register_outputs({"namespace": args.namespace})


@dataclass(frozen=True)
class OidcTrust:
    """This cluster's trust in GitHub's OIDC tokens: its audience, repositories, user prefix."""

    audience: str
    repositories: tuple[str, ...]
    username_prefix: str


def authentication_configuration(oidc: OidcTrust) -> dict[str, Any]:
    """The API server's structured authentication configuration trusting GitHub Actions tokens.

    - issuer: GitHub's, with this cluster's own audience only;
    - claim validation: the token must come from one of the listed repositories, and carry an
      ``environment`` claim, so only jobs gated by a GitHub environment (and its reviewers)
      authenticate at all;
    - username: the ``sub`` claim with the configured prefix, such as
      ``github:repo:acme/webshop:environment:production``; no groups are mapped, so nothing
      but a RoleBinding naming that exact user grants anything.
    """
    repositories = ", ".join(f"'{repo}'" for repo in oidc.repositories)
    return {
        "apiVersion": AUTHENTICATION_API,
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": {
                    "url": GITHUB_OIDC_ISSUER,
                    "audiences": [oidc.audience],
                    "audienceMatchPolicy": "MatchAny",
                },
                "claimValidationRules": [
                    {
                        "expression": f"claims.repository in [{repositories}]",
                        "message": "only the listed repositories' workflows may authenticate",
                    },
                    {
                        "expression": "has(claims.environment) && claims.environment != ''",
                        "message": "only jobs of a GitHub deployment environment may authenticate",
                    },
                ],
                "claimMappings": {
                    "username": {"claim": "sub", "prefix": oidc.username_prefix},
                },
            }
        ],
    }
