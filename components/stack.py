"""From settings to component args: one pure function per component of an environment stack.

``__main__.py`` reads like a table of contents (load config, build each component, export); the
mapping from the typed config (components/config) to each component's args lives here, so that
components never import config types and the program's wiring is testable without a runtime.

The functions create no resources: what they need from resources registered earlier (the
namespace's name, the deployer kubeconfig, the workload's kind) comes in as arguments, and what
the cluster provides comes in as :class:`PlatformFacts`, read by ``__main__.py`` from the
platform stack. Defaults that depend on the environment are resolved in config
(:class:`~components.config.StackSettings` properties), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker
from pulumi.runtime.sync_await import _sync_await

from components.access import EnvironmentAccessArgs, RunnerIdentity
from components.config import (
    ATTESTATIONS_NEED,
    CODE_SCANNING_NEEDS,
    ApprovalConfig,
    BranchPolicy,
    CanaryOn,
    Chain,
    ChannelName,
    ClusterAccess,
    ConfigError,
    EgressRule,
    EnvironmentConfig,
    GitHubPlanConfig,
    MetricsOn,
    MetricsPreset,
    NotificationsConfig,
    PerformanceThresholds,
    PipelineConfig,
    Problem,
    ResourceAmounts,
    ScannersWithSonarQube,
    ScrapeDiscovery,
    Settings,
    StackSettings,
    Stage,
    Tier,
    default_github_environment,
    default_tier,
    deploy_switch_variable,
    ingress_host,
    own_stage,
)
from components.config import Event as ConfigEvent
from components.config.runner import RunnerConfig
from components.github_environment import (
    BranchProtectionArgs,
    DeploymentEnvironmentArgs,
    EnvironmentSecretArgs,
    RefGuardArgs,
    RepositoryGuardsArgs,
)
from components.image_policy import INCLUDE_LABEL, SignedImagePolicyArgs, ci_identity
from components.ingress import AppIngress, AppIngressArgs
from components.namespace import EgressAllow, EgressPort, EnvironmentNamespaceArgs, ResourceAmount
from components.registry import RegistryAccessArgs
from components.release import duration_seconds
from components.traffic_router import NGINX_ROUTER, RouterFacts, TrafficRouter, router_facts
from components.workflows import CI_REQUIRED_CHECKS, PipelineWorkflowsArgs
from components.workflows import spec as wf
from components.workflows.contract import branch_ref, tag_ref
from components.workflows.notify import Channel, Email, Event, Routes
from components.workload import (
    AnalysisArgs,
    AnalysisTiming,
    CanaryArgs,
    RequestMetrics,
    ScrapeArgs,
    WorkloadArgs,
)


@dataclass(frozen=True)
class PlatformFacts:
    """What the cluster's platform stack (platform/) provides, as Outputs of its reference."""

    ingress_namespace: pulumi.Input[str]
    ingress_class_name: pulumi.Input[str]
    monitoring_namespace: pulumi.Input[str]
    rollouts_namespace: pulumi.Input[str]
    monitoring: pulumi.Output[MonitoringFacts]
    """How the cluster's Prometheus scrapes (``monitoring``), checked against this stack."""
    github_oidc: pulumi.Output[dict[str, str]] | None
    """The platform's GitHub OIDC trust (``usernamePrefix``, ``audience``); None in token mode."""
    runner: pulumi.Output[dict[str, str]] | None = None
    """With ``cluster.access`` inCluster: this environment's runner scale set in the platform's
    ``runners`` output (``namespace``, ``serviceAccount``); None otherwise."""
    router: RouterFacts = NGINX_ROUTER
    """The cluster's traffic router (``trafficRouter``), a plain value: it decides which kinds
    of objects the stack registers (:func:`platform_router`)."""


@dataclass(frozen=True)
class MonitoringFacts:
    """The platform stack's ``monitoring`` output."""

    discovery: ScrapeDiscovery
    scrape_interval_seconds: int
    service_monitor_labels: dict[str, str]


def platform_monitoring_facts(settings: Settings, facts: object) -> MonitoringFacts:
    """The platform stack's ``monitoring`` output, or a config error naming both stacks: the
    discovery this stack renders for (``cluster.scrape``) must be the cluster's, and the rate
    window must hold two of its scrapes."""
    s = settings.sections
    platform = s.cluster.platform_stack
    if not isinstance(facts, dict):
        raise pulumi.RunError(
            f"{settings.stack_file}: the platform stack {platform} exports no monitoring "
            "(set cicd-platform:monitoring there)"
        )
    discovery = ScrapeDiscovery(str(facts["discovery"]))
    interval = duration_seconds(str(facts["scrapeInterval"]))
    labels = {str(k): str(v) for k, v in dict(facts.get("serviceMonitorLabels") or {}).items()}
    problems: list[Problem] = []
    if s.prometheus_scrapes_app and discovery is not s.cluster.scrape:
        problems.append(
            Problem(
                "cluster.scrape",
                f"must be {discovery.value}: the platform stack {platform} says its Prometheus "
                "uses it (cicd-platform:monitoring.discovery)",
                s.cluster.scrape.value,
            )
        )
    analysis = s.analysis_on
    window = analysis.rate_window if analysis is not None else None
    if window is not None and duration_seconds(window) < 2 * interval:
        problems.append(
            Problem(
                "canary.analysis.rateWindow",
                "must be at least two scrape intervals of the cluster's Prometheus "
                f"({2 * interval}s)",
                window,
            )
        )
    if problems:
        raise ConfigError(settings.stack_file, problems)
    return MonitoringFacts(discovery, interval, labels)


def uses_github_oidc(settings: Settings) -> bool:
    """Whether the deploy workflows reach the cluster with GitHub OIDC tokens (no stored secret)."""
    return settings.sections.cluster.access is ClusterAccess.GITHUB_OIDC


def platform_oidc_facts(settings: Settings, facts: object) -> dict[str, str]:
    """The platform stack's ``githubOidc`` output, or a config error naming both stacks."""
    if not isinstance(facts, dict):
        raise pulumi.RunError(
            f"{settings.stack_file}: cicd:cluster.access is githubOidc, but the platform stack "
            f"{settings.sections.cluster.platform_stack} does not trust GitHub's OIDC issuer "
            "(set cicd-platform:githubOidc.enabled there)"
        )
    return {str(k): str(v) for k, v in facts.items()}


def uses_in_cluster(settings: Settings) -> bool:
    """Whether the deploy job runs on the platform's runner scale set with its ServiceAccount."""
    return settings.sections.cluster.access is ClusterAccess.IN_CLUSTER


def platform_runner_facts(settings: Settings, facts: object) -> dict[str, str]:
    """This stack's scale set in the platform stack's ``runners`` output, or a config error
    naming both stacks: it must exist and be this environment's (one identity per environment:
    a scale set bound by two stacks would act in both namespaces)."""
    s = settings.sections
    platform = s.cluster.platform_stack
    scale_set = s.deploy.runner.scale_set
    where = f"{settings.stack_file}: cicd:deploy.runner.scaleSet"
    if not isinstance(facts, dict):
        raise pulumi.RunError(
            f"{settings.stack_file}: cicd:cluster.access is inCluster, but the platform stack "
            f"{platform} runs no runner scale sets (set cicd-platform:runners.enabled there)"
        )
    found = facts.get(scale_set)
    if not isinstance(found, dict):
        known = ", ".join(sorted(str(name) for name in facts)) or "none"
        raise pulumi.RunError(
            f"{where} names {scale_set}, which the platform stack {platform} does not run "
            f"(its scale sets: {known})"
        )
    environment = s.environment.name
    if found.get("environment") != environment:
        raise pulumi.RunError(
            f"{where} names {scale_set}, which the platform stack {platform} runs for "
            f"environment {found.get('environment')}, not {environment}"
        )
    served = str(found.get("githubConfigUrl") or "none")
    expected = repository_url(settings)
    if served.rstrip("/").lower() != expected.lower():
        raise pulumi.RunError(
            f"{settings.stack_file}: cicd:cluster.access is inCluster, but scale set "
            f"{scale_set} of the platform stack {platform} registers with {served} "
            f"(cicd-platform:runners.githubConfigUrl), not {expected}: every repository it "
            "serves would get this environment's deployer rights without its review"
        )
    return {"namespace": str(found["namespace"]), "serviceAccount": str(found["serviceAccount"])}


def repository_url(settings: Settings) -> str:
    """The app repository's web URL, as a runner scale set registers with it:
    ``https://<host>/<github:owner>/<app.repository>``, the host github.com or the web host of
    ``github:baseUrl`` (its API host ``api.github.com`` / ``api.<name>.ghe.com`` without
    ``api.``; an Enterprise Server's API lives under its web host, ``/api/v3``)."""
    base = settings.github_provider.base_url
    host = (urlsplit(base).hostname or "github.com") if base else "github.com"
    host = host.lower().rstrip(".")
    if host == "api.github.com" or (host.startswith("api.") and host.endswith(".ghe.com")):
        host = host.removeprefix("api.")
    return f"https://{host}/{settings.github_owner}/{settings.sections.app.repository}"


def runs_on(runner: RunnerConfig) -> wf.RunsOn:
    """``deploy.runner`` as the deploy job's ``runs-on``: a scale set by its name alone."""
    if runner.scale_set is not None:
        return wf.RunsOn((runner.scale_set,), self_hosted=True)
    if runner.labels is None and runner.group is None:
        return wf.GITHUB_HOSTED
    return wf.RunsOn(tuple(runner.labels or ()), runner.group, self_hosted=runner.self_hosted)


def platform_router(settings: Settings, reference: pulumi.StackReference) -> RouterFacts:
    """The cluster's traffic router (the platform stack's ``trafficRouter``), read before any
    Kubernetes object is registered, or a config error naming what this stack asks of another.

    The router decides which kinds of objects the stack registers (an Ingress, a TraefikService,
    an HTTPRoute), and a resource's kind cannot come from an Output, so the value is awaited
    here: ``StackReference.get_output_details`` (pulumi sdk/python/lib/pulumi/stack_reference.py,
    3.272.0) on the SDK's own loop pump, ``_sync_await`` (runtime/sync_await.py, the one its
    synchronous invokes use). A StackReference's outputs are known in a preview too, and the
    offline render answers it from the platform stack's render (render/stackref.py).
    """
    details = _sync_await(reference.get_output_details("trafficRouter"))
    platform = settings.sections.cluster.platform_stack
    try:
        router = router_facts(details.value)
    except (KeyError, TypeError, ValueError) as error:
        raise pulumi.RunError(
            f"{settings.stack_file}: the platform stack {platform} exports a trafficRouter "
            f"this program does not know ({error})"
        ) from None
    problems = list(router_problems(settings.sections, router, platform))
    if problems:
        raise ConfigError(settings.stack_file, problems)
    if (warning := replica_weight_warning(settings.sections, router)) is not None:
        pulumi.log.warn(warning)
    return router


def replica_weight_warning(s: StackSettings, router: RouterFacts) -> str | None:
    """Where the canary's weights are pod ratios (no router splits it), a step too small for the
    replica count: Argo Rollouts rounds the canary up to whole pods."""
    canary = s.canary_on
    if canary is None or not canary.steps or routes_canary(s, router):
        return None
    smallest = min(step.weight for step in canary.steps)
    if s.app.replicas * smallest >= 100:
        return None
    return (
        f"cicd:canary.steps: without traffic routing the smallest weight {smallest}% "
        f"needs at least {-(-100 // smallest)} replicas to be honoured "
        f"(app.replicas is {s.app.replicas}); Argo Rollouts rounds to whole pods "
        "(docs/traffic-routers.md, none)"
    )


def router_problems(s: StackSettings, router: RouterFacts, platform: str) -> list[Problem]:
    """What this stack asks of a router its platform does not run: ``canary.nginx`` (the nginx
    router's per-stack setting) and the ``ingress-nginx`` metrics preset (ingress-nginx counts
    the canary's requests) only with the nginx router."""
    if router.kind is TrafficRouter.NGINX:
        return []
    problems: list[Problem] = []
    plan = s.canary if isinstance(s.canary, CanaryOn) else s.canary.unused
    said = f"the platform stack {platform} routes with {router.kind.value} "
    said += "(cicd-platform:trafficRouter.kind)"
    if plan is not None and plan.nginx is not None:
        problems.append(
            Problem("canary.nginx", f"must be removed: {said}; the router is the platform's choice")
        )
    analysis = s.analysis_on
    if analysis is not None and analysis.metrics.preset is MetricsPreset.INGRESS_NGINX:
        problems.append(
            Problem(
                "canary.analysis.metrics.preset",
                f"ingress-nginx needs the nginx router: {said}; use the app preset",
                analysis.metrics.preset.value,
            )
        )
    return problems


def routes_canary(s: StackSettings, router: RouterFacts) -> bool:
    """Whether the canary's weight is a share of requests: with traefik and gatewayApi always,
    with nginx where the stack asks for the split (``canary.nginx``, as before routers were the
    platform's), never without a router."""
    if s.canary_on is None or router.kind is TrafficRouter.NONE:
        return False
    if router.kind is TrafficRouter.NGINX:
        return s.canary_on.nginx is not None
    return True


def _amount(amounts: ResourceAmounts) -> ResourceAmount:
    return ResourceAmount(amounts.cpu, amounts.memory)


def _egress(rule: EgressRule) -> EgressAllow:
    return EgressAllow(
        name=rule.name,
        cidrs=rule.cidrs,
        namespaces=rule.namespaces,
        ports=tuple(EgressPort(port.port, port.protocol.value) for port in rule.ports),
    )


def namespace_args(s: StackSettings, platform: PlatformFacts) -> EnvironmentNamespaceArgs:
    """The namespace: quota, limits, pod security, network policy for what reaches the app."""
    app, env, cluster = s.app, s.environment, s.cluster
    return EnvironmentNamespaceArgs(
        name=env.namespace,
        app=app.name,
        environment=env.name,
        github_environment=env.github_environment_name,
        pod_security=env.pod_security_level,
        app_port=app.port,
        ingress_namespace=platform.ingress_namespace,
        # Prometheus is not among the app port's sources: it scrapes through metrics_scrape,
        # the one rule for the monitoring namespace, to the metrics port.
        extra_ingress_namespaces=((platform.rollouts_namespace,) if s.analysis_probes_app else ()),
        quota_requests=ResourceAmount(cluster.quota.requests_cpu, cluster.quota.requests_memory),
        quota_limits=ResourceAmount(cluster.quota.limits_cpu, cluster.quota.limits_memory),
        quota_pods=cluster.quota.pods,
        default_request=_amount(cluster.limit_range.default_request),
        default_limit=_amount(cluster.limit_range.default_limit),
        max_container=_amount(cluster.limit_range.max),
        protect=env.protect_from_deletion,
        egress=tuple(_egress(rule) for rule in s.network.egress),
        metrics_scrape=(
            (platform.monitoring_namespace, s.metrics_port) if s.prometheus_scrapes_app else None
        ),
        extra_labels=((INCLUDE_LABEL, "true"),) if s.image_policy_enabled else (),
    )


def image_policy_args(settings: Settings) -> SignedImagePolicyArgs | None:
    """The signed-image policy of the namespace, or None where ``deploy.imagePolicy`` is off."""
    s = settings.sections
    if not s.image_policy_enabled:
        return None
    return SignedImagePolicyArgs(
        app=s.app.name,
        environment=s.environment.name,
        image=s.app.image,
        signer=ci_identity(settings.github_owner, s.app.repository, s.app.default_branch),
    )


def access_args(
    settings: Settings,
    namespace: pulumi.Input[str],
    workload_kind: str,
    platform: PlatformFacts,
) -> EnvironmentAccessArgs:
    """RBAC of the deploy pipeline and of people; in OIDC mode, the workflow's user name."""
    s = settings.sections
    app, env, cluster = s.app, s.environment, s.cluster
    subject = (
        f"repo:{settings.github_owner}/{app.repository}:environment:{env.github_environment_name}"
    )
    return EnvironmentAccessArgs(
        namespace=namespace,
        app=app.name,
        environment=env.name,
        cluster_server=cluster.server,
        cluster_ca_data=cluster.certificate_authority_data,
        viewer_groups=s.access.viewer_groups,
        operator_groups=s.access.operator_groups,
        protect=env.protect_from_deletion,
        workload_kind=workload_kind,
        workload_name=app.name,
        access=cluster.access,
        oidc_username=(
            platform.github_oidc.apply(lambda facts: facts["usernamePrefix"] + subject)
            if platform.github_oidc is not None
            else None
        ),
        runner_identity=(
            RunnerIdentity(
                namespace=platform.runner.apply(lambda facts: facts["namespace"]),
                service_account=platform.runner.apply(lambda facts: facts["serviceAccount"]),
            )
            if platform.runner is not None
            else None
        ),
        router=platform.router.kind,
    )


def registry_args(
    settings: Settings,
    namespace: pulumi.Input[str],
    docker_provider: docker.Provider | None,
) -> RegistryAccessArgs:
    """Pull access to the registry; the image tag pinned to its digest where config asks."""
    s = settings.sections
    return RegistryAccessArgs(
        namespace=namespace,
        app=s.app.name,
        environment=s.environment.name,
        server=s.registry.server,
        username=s.registry.username,
        token=settings.secrets.registry_token,
        image=s.app.image,
        tag=s.app.image_tag,
        pin_digest=s.registry.pin_digest,
        protect=s.environment.protect_from_deletion,
        docker_provider=docker_provider,
    )


def ingress_args(
    s: StackSettings, namespace: pulumi.Input[str], platform: PlatformFacts
) -> AppIngressArgs:
    """The app's Ingress with its TLS certificate, on the platform's ingress class."""
    return AppIngressArgs(
        namespace=namespace,
        app=s.app.name,
        environment=s.environment.name,
        host=ingress_host(s),
        class_name=platform.ingress_class_name,
        cluster_issuer=s.ingress.cluster_issuer,
        tls_secret_name=s.tls_secret_name,
        service=s.app.name,
        port=s.app.port,
        router=platform.router,
        canary_service=f"{s.app.name}-canary" if routes_canary(s, platform.router) else None,
    )


def _analysis_timing(s: StackSettings, monitoring: MonitoringFacts) -> AnalysisTiming:
    analysis = s.analysis_on
    configured = analysis.rate_window if analysis is not None else None
    interval = monitoring.scrape_interval_seconds
    return AnalysisTiming(
        scrape_interval_seconds=interval,
        rate_window_seconds=duration_seconds(configured) if configured else 4 * interval,
    )


def canary_args(
    s: StackSettings, ingress: AppIngress, platform: PlatformFacts
) -> CanaryArgs | None:
    """The canary release (plan, analysis, scrape, traffic routing), or None for a Deployment."""
    canary = s.canary_on
    if canary is None:
        return None
    analysis = s.analysis_on
    contract = analysis.metrics if analysis is not None else None
    return CanaryArgs(
        plan=s.release_plan,
        rollback_window=canary.rollback_window,
        analysis=(
            AnalysisArgs(
                interval=analysis.interval,
                failure_limit=analysis.failure_limit,
                success_rate=analysis.success_rate,
                prometheus_address=analysis.prometheus_address,
                inconclusive_limit=analysis.inconclusive_limit,
                consecutive_error_limit=analysis.consecutive_error_limit,
                requests=RequestMetrics(
                    preset=analysis.metrics.preset,
                    metric=analysis.metrics.metric_name,
                    status_label=analysis.metrics.status_label_name,
                ),
                timing=platform.monitoring.apply(lambda facts: _analysis_timing(s, facts)),
            )
            if analysis is not None
            else None
        ),
        scrape=(
            ScrapeArgs(
                discovery=s.cluster.scrape,
                port=s.metrics_port,
                path=contract.path,
                interval=platform.monitoring.apply(
                    lambda facts: f"{facts.scrape_interval_seconds}s"
                ),
                monitor_labels=platform.monitoring.apply(
                    lambda facts: facts.service_monitor_labels
                ),
            )
            if s.prometheus_scrapes_app and contract is not None
            else None
        ),
        routing=ingress if routes_canary(s, platform.router) else None,
    )


def workload_kind(s: StackSettings) -> str:
    """The kind of the app's workload: an Argo Rollouts ``Rollout`` with canary, else Deployment."""
    return "Rollout" if s.canary_on is not None else "Deployment"


def workload_args(
    s: StackSettings,
    namespace: pulumi.Input[str],
    image: pulumi.Input[str],
    service_account: str,
    ingress: AppIngress,
    platform: PlatformFacts,
) -> WorkloadArgs:
    """The app's Rollout or Deployment."""
    app = s.app
    return WorkloadArgs(
        namespace=namespace,
        app=app.name,
        environment=s.environment.name,
        image=image,
        port=app.port,
        health_path=app.health_path,
        replicas=app.replicas,
        requests={"cpu": app.resources.requests.cpu, "memory": app.resources.requests.memory},
        limits={"cpu": app.resources.limits.cpu, "memory": app.resources.limits.memory},
        service_account=service_account,
        step_deadline_seconds=s.release_plan.step_deadline_seconds,
        canary=canary_args(s, ingress, platform),
    )


def _switch(on: bool) -> str:
    return "true" if on else "false"


@dataclass(frozen=True)
class DeployedFacts:
    """What the deploy workflows need to know of resources registered before the environment."""

    namespace: pulumi.Input[str]
    workload_name: pulumi.Input[str]
    workload_kind: pulumi.Input[str]
    kubeconfig: pulumi.Input[str] | None
    """The deployer's kubeconfig (token mode); None with GitHub OIDC."""


def deployment_environment_args(
    settings: Settings, deployed: DeployedFacts, platform: PlatformFacts
) -> DeploymentEnvironmentArgs:
    """The GitHub environment: approval rules, branch policy, secrets and variables."""
    s = settings.sections
    app, env, cluster, approval = s.app, s.environment, s.cluster, s.approval
    secrets = {
        **(
            {"KUBECONFIG": EnvironmentSecretArgs(deployed.kubeconfig)}
            if deployed.kubeconfig is not None
            else {}
        ),
        **{
            secret.name: EnvironmentSecretArgs(
                settings.secrets.environment[secret.name], secret.rotate_outside_pulumi
            )
            for secret in env.secrets
        },
    }
    variables: dict[str, pulumi.Input[str]] = {
        **env.variables,
        "NAMESPACE": deployed.namespace,
        "WORKLOAD_NAME": deployed.workload_name,
        "WORKLOAD_KIND": deployed.workload_kind,
        "APP_URL": env.url,
        "DEPLOY_ENABLED": _switch(s.deploy.enabled),
    }
    if platform.github_oidc is not None:
        # githubOidc: what the workflows need to build a kubeconfig around a fresh token.
        variables |= {
            "KUBE_SERVER": cluster.server,
            "KUBE_CA_DATA": cluster.certificate_authority_data,
            "KUBE_AUDIENCE": platform.github_oidc.apply(lambda facts: facts["audience"]),
        }
    exempt = {app.default_branch} | ({s.branch_protection.branch} if s.branch_protection else set())
    guarded_branches = tuple(b for b in approval.branches if b not in exempt)
    custom = approval.branch_policy is BranchPolicy.CUSTOM
    return DeploymentEnvironmentArgs(
        repository=app.repository,
        environment=env.github_environment_name,
        reviewer_teams=approval.reviewers.teams,
        reviewer_users=approval.reviewers.users,
        wait_timer=approval.wait_timer,
        prevent_self_review=approval.prevent_self_review,
        can_admins_bypass=s.admins_can_bypass_approval,
        branch_policy=approval.branch_policy,
        branches=approval.branches,
        tags=approval.tags,
        secrets=secrets,
        variables=variables,
        protect_secrets=env.protect_from_deletion,
        ref_guard=(
            RefGuardArgs(guarded_branches, approval.tags, approval.deploy_ref_roles)
            if custom and (guarded_branches or approval.tags)
            else None
        ),
    )


def _k6_thresholds(thresholds: PerformanceThresholds) -> wf.K6Thresholds:
    return wf.K6Thresholds(
        latency_percentile=thresholds.latency_percentile,
        latency_ms=thresholds.latency_ms,
        error_rate=thresholds.error_rate,
    )


def _plan_feature(
    on: bool, chosen: bool | None, what: str, key: str, needs: str, github: GitHubPlanConfig
) -> wf.PlanFeature:
    """On, or off with the notice that says why: switched off, or the plan lacks it."""
    if on:
        return wf.PlanFeature(on=True, notice="")
    if chosen is False:
        return wf.PlanFeature(on=False, notice=f"{what} is off (cicd:{key}: false)")
    return wf.PlanFeature(
        on=False,
        notice=f"{what} skipped: it needs {needs}; cicd:pipeline.github says {github.describe()}",
    )


def _scanners(pipeline: PipelineConfig) -> wf.Scanners:
    scanners = pipeline.scanners
    return wf.Scanners(
        trivy_severity=scanners.trivy_severity,
        snyk=scanners.snyk,
        sonarqube=(
            wf.SonarQube(
                scanners.sonarqube_host_url, duration_seconds(scanners.sonarqube_gate_timeout)
            )
            if isinstance(scanners, ScannersWithSonarQube)
            else None
        ),
        sarif_upload=_plan_feature(
            pipeline.uploads_sarif,
            scanners.sarif_upload,
            "SARIF upload to code scanning (Trivy's exit code still gates)",
            "pipeline.scanners.sarifUpload",
            CODE_SCANNING_NEEDS,
            pipeline.github,
        ),
    )


def _pipeline(pipeline: PipelineConfig) -> wf.PipelineSpec:
    commands = pipeline.commands
    return wf.PipelineSpec(
        node_version=pipeline.node_version,
        packages=pipeline.packages,
        commands=wf.Commands(
            install=commands.install,
            lint=commands.lint,
            format_check=commands.format_check,
            typecheck=commands.typecheck,
            unit_test=commands.unit_test,
            integration_test=commands.integration_test,
        ),
        build_context=pipeline.build_context,
        dockerfile=pipeline.dockerfile,
        coverage_path=pipeline.coverage_path,
        scanners=_scanners(pipeline),
        build_provenance=_plan_feature(
            pipeline.attests_provenance,
            pipeline.build_provenance,
            "Build provenance attestation",
            "pipeline.buildProvenance",
            ATTESTATIONS_NEED,
            pipeline.github,
        ),
        layer_cache_for_publish=pipeline.layer_cache_for_publish,
    )


def _metrics(metrics: MetricsOn | None, stages: tuple[str, ...]) -> wf.MetricsSpec | None:
    if metrics is None:
        return None
    return wf.MetricsSpec(
        schedule=metrics.schedule,
        pushgateway_url=metrics.pushgateway_url,
        windows=metrics.windows,
        environments=stages if metrics.environments is None else metrics.environments,
        pushgateway_auth=str(metrics.pushgateway_auth),
        rate_limit_reserve=metrics.rate_limit_reserve,
    )


def _rescan(pipeline: PipelineConfig, stages: tuple[str, ...]) -> wf.RescanSpec | None:
    """rescan.yml where it is on; its severity defaults to CI's Trivy severity."""
    rescan = pipeline.rescan
    if not rescan.enabled:
        return None
    ci_severity = pipeline.scanners.trivy_severity
    return wf.RescanSpec(
        schedule=rescan.schedule,
        severity=ci_severity if rescan.severity is None else rescan.severity,
        channel=rescan.channel.value,
        environments=stages if rescan.environments is None else rescan.environments,
    )


def _dispatch_refs(approval: ApprovalConfig) -> tuple[str, ...] | None:
    """The refs the environment's policy lists, as ``github.ref`` spells them."""
    if approval.branch_policy is not BranchPolicy.CUSTOM:
        return None
    return (
        *(branch_ref(branch) for branch in approval.branches),
        *(tag_ref(tag) for tag in approval.tags),
    )


def _chain_or_alone(env: EnvironmentConfig, chain: Chain | None) -> Chain:
    """The project's chain; without one (a stack's sections checked alone), this stage and the
    one it promotes from under its default GitHub environment name."""
    if chain is not None:
        return chain
    own = own_stage(env)
    if own.promotes_from is None:
        return Chain((own,))
    previous = Stage(
        own.promotes_from,
        default_tier(own.promotes_from) or Tier.DEVELOPMENT,
        None,
        default_github_environment(own.promotes_from),
    )
    return Chain((previous, own))


CHANNEL: Final = {
    ChannelName.DISCORD: Channel.DISCORD,
    ChannelName.SLACK: Channel.SLACK,
    ChannelName.TEAMS: Channel.TEAMS,
    ChannelName.EMAIL: Channel.EMAIL,
}
"""Each config channel's workflow channel."""


def notification_routes(notifications: NotificationsConfig) -> Routes:
    """The routes as the workflow generators take them (components/workflows/notify.py)."""
    email = notifications.email
    return Routes(
        by_event={
            Event(event.value): tuple(
                CHANNEL[channel] for channel in notifications.channels_for(event)
            )
            for event in ConfigEvent
        },
        legacy=notifications.legacy,
        email=Email(email.to, email.sender, email.smtp_server) if email is not None else None,
    )


def workflows_args(
    s: StackSettings,
    chain: Chain | None = None,
    notifications: NotificationsConfig | None = None,
) -> PipelineWorkflowsArgs:
    """The workflow files this stack commits: ci.yml and dependabot.yml where it owns the shared
    pipeline (the first stage), its own deploy workflow, metrics.yml where metrics are on.

    ``chain`` (config's ``Settings.chain``) gives the GitHub environment of the stage this one
    promotes from and the default environment lists of metrics.yml and rescan.yml."""
    deploy, env = s.deploy, s.environment
    chain = _chain_or_alone(env, chain)
    previous = chain.previous(env.name)
    stages = tuple(stage.github_environment for stage in chain.stages)
    owns_pipeline = env.is_first and s.pipeline is not None
    return PipelineWorkflowsArgs(
        wf.WorkflowsSpec(
            stage=wf.StageSpec(
                name=env.name,
                tier=env.stage_tier,
                previous_github_environment=(
                    None if previous is None else previous.github_environment
                ),
            ),
            repository=s.app.repository,
            default_branch=s.app.default_branch,
            image=s.app.image,
            registry_server=s.registry.server,
            deploy=wf.DeploySpec(
                github_environment=s.environment.github_environment_name,
                cluster_access=s.cluster.access,
                release_plan=s.release_plan,
                rollout_wait_seconds=s.rollout_wait_seconds,
                health_path=s.app.health_path or "/",
                health_check_retries=deploy.health_check_retries,
                job_timeout_minutes=deploy.job_timeout_minutes,
                node_version=deploy.node_version,
                install_command=s.install_command,
                trivy_severity=s.scanners.trivy_severity,
                tests=wf.DeployTests(
                    integration=deploy.tests.integration,
                    e2e=deploy.tests.e2e,
                    performance_script=deploy.tests.performance_script,
                    performance_thresholds=_k6_thresholds(deploy.tests.performance_thresholds),
                ),
                dispatch_refs=_dispatch_refs(s.approval),
                runner=runs_on(deploy.runner),
            ),
            pipeline=_pipeline(s.pipeline) if owns_pipeline and s.pipeline else None,
            metrics=_metrics(s.metrics_on, stages) if env.is_first else None,
            rescan=_rescan(s.pipeline, stages) if owns_pipeline and s.pipeline else None,
            notifications=notification_routes(
                notifications
                if notifications is not None
                else s.pipeline.notifications
                if s.pipeline is not None
                else NotificationsConfig()
            ),
            approval_required=bool(s.approval.reviewers.teams or s.approval.reviewers.users),
        )
    )


def repository_guards_args(
    settings: Settings, committed_files: Sequence[pulumi.Resource]
) -> RepositoryGuardsArgs:
    """Repository secrets, this stack's deploy switch, branch protection after the files."""
    s = settings.sections
    protection = s.branch_protection
    return RepositoryGuardsArgs(
        repository=s.app.repository,
        secrets=dict(settings.secrets.pipeline),
        # Each stack's deploy switch (chain.deploy_switch_variable), read by its workflow's jobs.
        variables={deploy_switch_variable(s.environment.name): _switch(s.deploy.enabled)},
        protection=(
            BranchProtectionArgs(
                branch=protection.branch,
                required_checks=CI_REQUIRED_CHECKS,
                required_approvals=protection.required_approvals,
                require_code_owner_reviews=protection.require_code_owner_reviews,
                dismiss_stale_reviews=protection.dismiss_stale_reviews,
            )
            if protection
            else None
        ),
        committed_files=committed_files,
    )
