"""Entry point: load the typed stack config, build the components, export what people need.

A table of contents: what each component gets from the settings is in components/stack.py (pure
functions), the defaults that depend on the environment are resolved in components/config. The
order below is the registration order, which the offline render records.
"""

import pulumi
import pulumi_docker as docker
import pulumi_github as github
import pulumi_kubernetes as k8s

from components import config, stack
from components.access import EnvironmentAccess
from components.github_environment import DeploymentEnvironment, RepositoryGuards
from components.image_policy import signed_image_policy
from components.ingress import AppIngress
from components.namespace import EnvironmentNamespace
from components.registry import RegistryAccess
from components.workflows import PipelineWorkflows
from components.workload import AppWorkload

settings = config.load()
for warning in settings.warnings:
    pulumi.log.warn(warning)
s = settings.sections
name = s.app.name

# Providers come from the stack; components never build their own.
# kubernetes:kubeconfig (secret) and the context reach the provider here (unset: KUBECONFIG and
# its current context).
k8s_provider = k8s.Provider(
    "kubernetes",
    kubeconfig=settings.kubernetes_provider.kubeconfig,
    context=settings.kubernetes_provider.context,
)
# github:token and github:baseUrl reach the provider here (unset: GITHUB_TOKEN, github.com).
github_provider = github.Provider(
    "github",
    owner=settings.github_provider.owner,
    token=settings.github_provider.token,
    base_url=settings.github_provider.base_url,
)
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
platform_ref = pulumi.StackReference("platform", stack_name=s.cluster.platform_stack)
platform = stack.PlatformFacts(
    ingress_namespace=platform_ref.require_output("ingressNamespace"),
    ingress_class_name=platform_ref.require_output("ingressClassName"),
    monitoring_namespace=platform_ref.require_output("monitoringNamespace"),
    rollouts_namespace=platform_ref.require_output("rolloutsNamespace"),
    monitoring=platform_ref.get_output("monitoring").apply(
        lambda facts: stack.platform_monitoring_facts(settings, facts)
    ),
    github_oidc=(
        platform_ref.get_output("githubOidc").apply(
            lambda facts: stack.platform_oidc_facts(settings, facts)
        )
        if stack.uses_github_oidc(settings)
        else None
    ),
    runner=(
        platform_ref.get_output("runners").apply(
            lambda facts: stack.platform_runner_facts(settings, facts)
        )
        if stack.uses_in_cluster(settings)
        else None
    ),
    router=stack.platform_router(settings, platform_ref),
)

namespace = EnvironmentNamespace(name, stack.namespace_args(s, platform), opts=on_k8s)
if (image_policy := stack.image_policy_args(settings)) is not None:
    signed_image_policy(name, image_policy, opts=on_k8s)
access = EnvironmentAccess(
    name,
    stack.access_args(settings, namespace.name, stack.workload_kind(s), platform),
    opts=on_k8s,
)
registry = RegistryAccess(
    name, stack.registry_args(settings, namespace.name, docker_provider), opts=on_k8s
)
ingress = AppIngress(name, stack.ingress_args(s, namespace.name, platform), opts=on_k8s)
workload = AppWorkload(
    name,
    stack.workload_args(
        s, namespace.name, registry.image_ref, registry.service_account_name, ingress, platform
    ),
    opts=on_k8s,
)
DeploymentEnvironment(
    name,
    stack.deployment_environment_args(
        settings,
        stack.DeployedFacts(
            namespace=namespace.name,
            workload_name=workload.workload_name,
            workload_kind=workload.workload_kind,
            kubeconfig=access.kubeconfig,
        ),
        platform,
    ),
    opts=on_github,
    provider=github_provider,
)
workflows = PipelineWorkflows(
    "pipeline",
    stack.workflows_args(s, settings.chain, settings.notifications),
    opts=on_github,
)
RepositoryGuards(name, stack.repository_guards_args(settings, workflows.files), opts=on_github)

pulumi.export("environment", s.environment.name)
pulumi.export("namespace", namespace.name)
pulumi.export("githubEnvironment", s.environment.github_environment_name)
pulumi.export("workload", {"kind": workload.workload_kind, "name": workload.workload_name})
pulumi.export("image", registry.image_ref)
pulumi.export("deployEnabled", s.deploy.enabled)
