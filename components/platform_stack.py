"""The platform project's program: load its config, install the controllers, export the facts.

Like ``__main__.py`` for the environments, this is the one place of the platform project that
turns config (components/config/platform.py) into component args; the components themselves
(components/platform.py) never import config. ``platform/__main__.py`` calls :func:`main`.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import config
from components.config.platform import load_platform_stack
from components.config.runner import RunnersOff, RunnersOn, runner_facts, runner_service_account
from components.metrics_dashboard import MetricsDashboard, MetricsDashboardArgs
from components.platform import (
    HelmControllerArgs,
    OidcTrust,
    PolicyController,
    RolloutsController,
    RolloutsControllerArgs,
    authentication_configuration,
)
from components.runners import RunnerController, RunnerControllerArgs, RunnerScaleSet, ScaleSetArgs
from components.traffic_router import (
    TRAEFIK_CONTROLLER_ARGS,
    GatewayParent,
    RouterFacts,
    TrafficRouter,
    controller_plugins,
)
from components.vocabulary import GITHUB_OIDC_ISSUER, PodSecurityLevel


def _runners(runners: RunnersOn | RunnersOff, on_cluster: pulumi.ResourceOptions) -> None:
    """Actions Runner Controller and one scale set per environment, where it is on."""
    if not isinstance(runners, RunnersOn):
        return
    controller = RunnerController(
        "arc",
        RunnerControllerArgs(runners.controller_namespace, runners.chart_version),
        opts=on_cluster,
    )
    for scale_set in runners.scale_sets:
        RunnerScaleSet(
            scale_set.name,
            ScaleSetArgs(
                name=scale_set.name,
                environment=scale_set.environment,
                namespace=scale_set.runner_namespace,
                service_account=runner_service_account(scale_set.name),
                chart_version=runners.chart_version,
                github_config_url=runners.github_config_url,
                github_config_secret=runners.github_config_secret,
                runner_image=runners.runner_image,
                min_runners=scale_set.min_runners,
                max_runners=scale_set.max_runners,
                runner_group=scale_set.runner_group,
                controller_namespace=runners.controller_namespace,
            ),
            controller,
            opts=on_cluster,
        )


def router_facts_of(settings: config.PlatformSettings) -> RouterFacts:
    """What the environment stacks need of the cluster's traffic router (its ``trafficRouter``
    output): the kind, Traefik's entry points, the Gateway."""
    router = settings.traffic_router
    gateway = router.gateway if router.kind is TrafficRouter.GATEWAY_API else None
    return RouterFacts(
        router.kind,
        traefik_entry_points=router.traefik_entry_points,
        gateway=(
            GatewayParent(gateway.name, gateway.namespace, gateway.section_name)
            if gateway is not None
            else None
        ),
    )


def main() -> None:
    """The platform program: load its config, install the controllers, export the facts."""
    settings, provider_settings = load_platform_stack()
    for warning in config.platform_warnings(settings):
        pulumi.log.warn(warning)
    cluster = settings.cluster
    provider = k8s.Provider(
        "kubernetes", kubeconfig=provider_settings.kubeconfig, context=provider_settings.context
    )
    on_cluster = pulumi.ResourceOptions(providers=[provider])

    router = settings.traffic_router
    RolloutsController(
        "argo-rollouts",
        RolloutsControllerArgs(
            namespace=settings.rollouts.namespace,
            chart_version=settings.rollouts.chart_version,
            enforce=PodSecurityLevel.RESTRICTED,
            traffic_router_plugins=(
                tuple(controller_plugins(router.plugin.location, router.plugin.sha256))
                if router.plugin is not None and router.kind is TrafficRouter.GATEWAY_API
                else ()
            ),
            extra_args=TRAEFIK_CONTROLLER_ARGS if router.kind is TrafficRouter.TRAEFIK else (),
        ),
        opts=on_cluster,
    )
    policy = settings.policy_controller
    if isinstance(policy, config.PolicyControllerOn):
        PolicyController(
            "policy-controller",
            HelmControllerArgs(
                namespace=policy.namespace,
                chart_version=policy.chart_version,
                enforce=PodSecurityLevel.BASELINE,
            ),
            opts=on_cluster,
        )
    _runners(settings.runners, on_cluster)
    dashboards = settings.delivery_dashboards
    for app in dashboards.apps:
        MetricsDashboard(
            app,
            MetricsDashboardArgs(
                app=app, namespace=cluster.monitoring_namespace, folder=dashboards.folder
            ),
            opts=on_cluster,
        )
    oidc = settings.github_oidc
    pulumi.export("cluster", cluster.name)
    pulumi.export("ingressClassName", cluster.ingress_class_name)
    pulumi.export("ingressNamespace", cluster.ingress_namespace)
    pulumi.export("monitoringNamespace", cluster.monitoring_namespace)
    monitoring = settings.monitoring
    pulumi.export(
        "monitoring",
        {
            "discovery": monitoring.discovery.value,
            "scrapeInterval": monitoring.scrape_interval,
            "serviceMonitorLabels": dict(monitoring.service_monitor_labels),
        },
    )
    pulumi.export("rolloutsNamespace", settings.rollouts.namespace)
    # Per scale set: its environment, namespace and ServiceAccount (cluster.access inCluster).
    pulumi.export("runners", runner_facts(settings.runners))
    pulumi.export("trafficRouter", router_facts_of(settings).export())
    pulumi.export(
        "policyControllerNamespace",
        policy.namespace if isinstance(policy, config.PolicyControllerOn) else None,
    )
    trust = (
        OidcTrust(oidc.audience, oidc.repositories, oidc.username_prefix)
        if isinstance(oidc, config.GithubOidcOn)
        else None
    )
    pulumi.export(
        "githubOidc",
        {
            "issuer": GITHUB_OIDC_ISSUER,
            "audience": trust.audience,
            "usernamePrefix": trust.username_prefix,
        }
        if trust is not None
        else None,
    )
    pulumi.export(
        "authenticationConfiguration",
        yaml.safe_dump(authentication_configuration(trust), sort_keys=False)
        if trust is not None
        else None,
    )
