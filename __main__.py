"""Entry point: load the typed stack config, build the components, export what people need."""

import pulumi
import pulumi_docker as docker
import pulumi_github as github
import pulumi_kubernetes as k8s

from components import config
from components.access import EnvironmentAccess, EnvironmentAccessArgs
from components.github_environment import (
    BranchProtectionArgs,
    DeploymentEnvironment,
    DeploymentEnvironmentArgs,
    EnvironmentSecretArgs,
    RepositoryGuards,
    RepositoryGuardsArgs,
)
from components.image_policy import (
    INCLUDE_LABEL,
    SignedImagePolicyArgs,
    ci_identity,
    signed_image_policy,
)
from components.ingress import AppIngress, AppIngressArgs
from components.metrics_dashboard import MetricsDashboard, MetricsDashboardArgs
from components.namespace import EnvironmentNamespace, EnvironmentNamespaceArgs, ResourceAmount
from components.registry import RegistryAccess, RegistryAccessArgs
from components.workflows import CI_REQUIRED_CHECKS, PipelineWorkflows, PipelineWorkflowsArgs
from components.workload import (
    AnalysisArgs,
    AppWorkload,
    CanaryArgs,
    WorkloadArgs,
)

settings = config.load()
for warning in settings.warnings:
    pulumi.log.warn(warning)
s = settings.sections
app, env, cluster = s.app, s.environment, s.cluster
analysis = s.canary.analysis
environment = env.name.value

# Providers come from the stack; components never build their own.
k8s_provider = k8s.Provider("kubernetes", context=cluster.kube_context)
github_provider = github.Provider("github", owner=settings.github_owner)
docker_provider = (
    docker.Provider(
        "docker",
        registry_auth=[
            docker.ProviderRegistryAuthArgs(
                address=s.registry.server,
                username=s.registry.username,
                password=settings.secrets.registry_token,
            )
        ],
    )
    if s.registry.pin_digest
    else None
)
on_k8s = pulumi.ResourceOptions(providers=[k8s_provider])
on_github = pulumi.ResourceOptions(providers=[github_provider])

# What the cluster provides (ingress class, controllers' namespaces, OIDC trust) comes from its
# platform stack (platform/), never repeated here.
platform = pulumi.StackReference("platform", stack_name=cluster.platform_stack)
oidc_mode = cluster.access is config.ClusterAccess.GITHUB_OIDC
workload_kind = "Rollout" if s.canary.enabled else "Deployment"


def _platform_oidc(facts: object) -> dict[str, str]:
    if not isinstance(facts, dict):
        raise pulumi.RunError(
            f"{settings.stack_file}: cicd:cluster.access is githubOidc, but the platform stack "
            f"{cluster.platform_stack} does not trust GitHub's OIDC issuer "
            "(set cicd-platform:githubOidc.enabled there)"
        )
    return {str(k): str(v) for k, v in facts.items()}


platform_oidc = platform.get_output("githubOidc").apply(_platform_oidc) if oidc_mode else None

namespace = EnvironmentNamespace(
    app.name,
    EnvironmentNamespaceArgs(
        name=env.namespace,
        app=app.name,
        environment=environment,
        github_environment=env.github_environment_name,
        pod_security=env.pod_security_level,
        app_port=app.port,
        ingress_namespace=platform.require_output("ingressNamespace"),
        extra_ingress_namespaces=(
            platform.require_output("monitoringNamespace"),
            *(
                (platform.require_output("rolloutsNamespace"),)
                if s.canary.enabled and s.canary.analysis.enabled
                else ()
            ),
        ),
        quota_requests=ResourceAmount(cluster.quota.requests_cpu, cluster.quota.requests_memory),
        quota_limits=ResourceAmount(cluster.quota.limits_cpu, cluster.quota.limits_memory),
        quota_pods=cluster.quota.pods,
        default_request=ResourceAmount.of(cluster.limit_range.default_request),
        default_limit=ResourceAmount.of(cluster.limit_range.default_limit),
        max_container=ResourceAmount.of(cluster.limit_range.max),
        protect=env.is_protected,
        egress=s.network.egress,
        metrics_scrape=(
            (platform.require_output("monitoringNamespace"), analysis.metrics_port or app.port)
            if s.canary.enabled and analysis.enabled and analysis.prometheus_address
            else None
        ),
        extra_labels=((INCLUDE_LABEL, "true"),) if s.image_policy_enabled else (),
    ),
    opts=on_k8s,
)

if s.image_policy_enabled:
    signed_image_policy(
        app.name,
        SignedImagePolicyArgs(
            app=app.name,
            environment=environment,
            image=app.image,
            signer=ci_identity(settings.github_owner, app.repository, app.default_branch),
        ),
        opts=on_k8s,
    )

access = EnvironmentAccess(
    app.name,
    EnvironmentAccessArgs(
        namespace=namespace.name,
        app=app.name,
        environment=environment,
        cluster_server=cluster.server,
        cluster_ca_data=cluster.certificate_authority_data,
        viewer_groups=s.access.viewer_groups,
        operator_groups=s.access.operator_groups,
        protect=env.is_protected,
        workload_kind=workload_kind,
        workload_name=app.name,
        access=cluster.access,
        oidc_username=(
            platform_oidc.apply(
                lambda facts: (
                    facts["usernamePrefix"]
                    + f"repo:{settings.github_owner}/{app.repository}"
                    + f":environment:{env.github_environment_name}"
                )
            )
            if platform_oidc is not None
            else None
        ),
    ),
    opts=on_k8s,
)

registry = RegistryAccess(
    app.name,
    RegistryAccessArgs(
        namespace=namespace.name,
        app=app.name,
        environment=environment,
        server=s.registry.server,
        username=s.registry.username,
        token=settings.secrets.registry_token,
        image=app.image,
        tag=app.image_tag,
        pin_digest=s.registry.pin_digest,
        protect=env.is_protected,
        docker_provider=docker_provider,
    ),
    opts=on_k8s,
)

ingress = AppIngress(
    app.name,
    AppIngressArgs(
        namespace=namespace.name,
        app=app.name,
        environment=environment,
        host=config.ingress_host(s),
        class_name=platform.require_output("ingressClassName"),
        cluster_issuer=s.ingress.cluster_issuer,
        tls_secret_name=s.ingress.tls_secret_name or f"{app.name}-tls",
        service=app.name,
    ),
    opts=on_k8s,
)

workload = AppWorkload(
    app.name,
    WorkloadArgs(
        namespace=namespace.name,
        app=app.name,
        environment=environment,
        image=registry.image_ref,
        port=app.port,
        health_path=app.health_path,
        replicas=app.replicas,
        requests={"cpu": app.resources.requests.cpu, "memory": app.resources.requests.memory},
        limits={"cpu": app.resources.limits.cpu, "memory": app.resources.limits.memory},
        service_account=registry.service_account_name,
        step_deadline_seconds=s.release_plan.step_deadline_seconds,
        canary=(
            CanaryArgs(
                plan=s.release_plan,
                rollback_window=s.canary.rollback_window,
                analysis=(
                    AnalysisArgs(
                        interval=analysis.interval,
                        failure_limit=analysis.failure_limit,
                        success_rate=analysis.success_rate,
                        prometheus_address=analysis.prometheus_address,
                    )
                    if analysis.enabled
                    else None
                ),
                stable_ingress=ingress if s.canary.nginx else None,
            )
            if s.canary.enabled
            else None
        ),
    ),
    opts=on_k8s,
)

deployment_environment = DeploymentEnvironment(
    app.name,
    DeploymentEnvironmentArgs(
        repository=app.repository,
        environment=env.github_environment_name,
        reviewer_teams=s.approval.reviewers.teams,
        reviewer_users=s.approval.reviewers.users,
        wait_timer=s.approval.wait_timer,
        prevent_self_review=s.approval.prevent_self_review,
        can_admins_bypass=(
            s.approval.can_admins_bypass
            if s.approval.can_admins_bypass is not None
            else not env.name.is_protected
        ),
        protected_branches=s.approval.protected_branches,
        custom_branch_policies=s.approval.custom_branch_policies,
        branches=s.approval.branches,
        tags=s.approval.tags,
        secrets={
            **(
                {"KUBECONFIG": EnvironmentSecretArgs(access.kubeconfig)}
                if access.kubeconfig is not None
                else {}
            ),
            **{
                secret.name: EnvironmentSecretArgs(
                    settings.secrets.environment[secret.name], secret.rotate_outside_pulumi
                )
                for secret in env.secrets
            },
        },
        variables={
            **env.variables,
            "NAMESPACE": namespace.name,
            "WORKLOAD_NAME": workload.workload_name,
            "WORKLOAD_KIND": workload.workload_kind,
            "APP_URL": env.url,
            "IMAGE": app.image,
            "DEPLOY_ENABLED": "true" if s.deploy.enabled else "false",
            # githubOidc: what the workflows need to build a kubeconfig around a fresh token.
            **(
                {
                    "KUBE_SERVER": cluster.server,
                    "KUBE_CA_DATA": cluster.certificate_authority_data,
                    "KUBE_AUDIENCE": platform_oidc.apply(lambda facts: facts["audience"]),
                }
                if platform_oidc is not None
                else {}
            ),
        },
        protect_secrets=env.is_protected,
    ),
    opts=on_github,
    provider=github_provider,
)

# workflows: PipelineWorkflows (components/workflows) is wired here.
workflows = PipelineWorkflows(
    "pipeline",
    PipelineWorkflowsArgs(settings=settings.sections, repository=settings.sections.app.repository),
    opts=pulumi.ResourceOptions(providers=[github_provider]),
)
committed_files: list[pulumi.Resource] = list(workflows.files)

# The delivery-metrics dashboard belongs with Grafana in the platform stack; the dev stack
# declares it (config rules keep cicd:metrics to dev) until it moves there.
if s.metrics is not None and s.metrics.grafana_dashboard.enabled:
    MetricsDashboard(
        app.name,
        MetricsDashboardArgs(
            app=app.name,
            namespace=s.metrics.grafana_dashboard.namespace,
            folder=s.metrics.grafana_dashboard.folder,
        ),
        opts=on_k8s,
    )

RepositoryGuards(
    app.name,
    RepositoryGuardsArgs(
        repository=app.repository,
        secrets=dict(settings.secrets.pipeline),
        # Each stack's deploy switch (config.DEPLOY_SWITCH_VARIABLE), read by its workflow's jobs.
        variables={
            config.DEPLOY_SWITCH_VARIABLE[env.name]: "true" if s.deploy.enabled else "false"
        },
        protection=(
            BranchProtectionArgs(
                branch=s.branch_protection.branch,
                required_checks=CI_REQUIRED_CHECKS,
                required_approvals=s.branch_protection.required_approvals,
                require_code_owner_reviews=s.branch_protection.require_code_owner_reviews,
                dismiss_stale_reviews=s.branch_protection.dismiss_stale_reviews,
            )
            if s.branch_protection
            else None
        ),
        committed_files=committed_files,
    ),
    opts=on_github,
)

pulumi.export("environment", environment)
pulumi.export("namespace", namespace.name)
pulumi.export("githubEnvironment", env.github_environment_name)
pulumi.export("workload", {"kind": workload.workload_kind, "name": workload.workload_name})
pulumi.export("image", registry.image_ref)
pulumi.export("deployEnabled", s.deploy.enabled)
