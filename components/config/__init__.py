"""Typed stack configuration: the only package that reads ``pulumi.Config``.

Every setting lives under the ``cicd`` namespace of ``Pulumi.<stack>.yaml`` and is declared in
``Pulumi.yaml``. Sections are objects (``cicd:app``, ``cicd:canary``, ...) validated into frozen
pydantic models with ``extra="forbid"``; secrets are separate top-level keys read with
``get_secret`` so that they stay ``Output`` secrets end to end.

Validation collects every problem before anything is registered and reports one line each::

    Pulumi.prod.yaml: cicd:canary.steps[2].weight must be between 1 and 100 (got 150)

Secret values never appear in a message: a problem with a secret key says ``(got [secret])``.

The package's modules are named for what they hold:

- ``problems``: :class:`Problem`, :class:`ConfigError` and the one-line (escaped) messages;
- ``fields``: reusable validated field types and the base model of every section;
- sections: ``app`` (app, registry), ``environment``, ``cluster`` (cluster, access),
  ``approval``, ``canary``, ``pipeline`` (pipeline, branch protection), ``deploy``, ``network``
  (ingress, network), ``metrics``; ``settings`` puts them together;
- ``rules``: cross-field rules, each naming its key paths;
- ``loading``: :func:`load` and :func:`parse_sections`, the only readers of ``pulumi.Config``;
- ``platform``: the platform project's config (``cicd-platform``).

- ``siblings``: the other stack files of the chain (the stage before this one, the whole chain),
  read as untrusted input.

The stages are a chain, not a closed set (components/chain.py: :class:`Tier`, :class:`Stage`,
:class:`Chain`, re-exported here). The closed sets (:class:`PodSecurityLevel`,
:class:`ClusterAccess`) live in
``components.vocabulary`` so that components use them without importing config; they are
re-exported here. Every importer uses this package's names (``from components.config import X``),
never a module inside it.
"""

from components.chain import (
    Chain,
    ChainError,
    Stage,
    Tier,
    default_github_environment,
    default_tier,
    deploy_switch_variable,
    deploy_workflow_file,
)
from components.config.app import AppConfig, ContainerResources, RegistryConfig, ResourceAmounts
from components.config.approval import ApprovalConfig, ReviewersConfig, TeamReviewer, UserReviewer
from components.config.canary import (
    AnalysisConfig,
    AnalysisOff,
    AnalysisOn,
    AnalysisSettings,
    CanaryConfig,
    CanaryOff,
    CanaryOn,
    CanaryPlanConfig,
    CanaryStep,
    NginxRoutingConfig,
    RequestMetricsConfig,
)
from components.config.cluster import (
    AccessConfig,
    ClusterConfig,
    LimitRangeConfig,
    QuotaConfig,
)
from components.config.deploy import DeployConfig, DeployTests, PerformanceThresholds
from components.config.environment import EnvironmentConfig, EnvironmentSecret
from components.config.fields import (
    BranchPattern,
    Cidr,
    Command,
    ConfigKey,
    DnsLabel,
    Duration,
    HealthPath,
    HostName,
    HttpsUrl,
    HttpUrl,
    NodeVersion,
    Percent,
    Port,
    Quantity,
    RelativePath,
    SecretName,
    SemVer,
    ShortDnsLabel,
    Slug,
    TrivySeverity,
)
from components.config.loading import READ_NAMESPACES, load, parse_sections
from components.config.metrics import MetricsConfig, MetricsOff, MetricsOn, MetricsSettings
from components.config.network import EgressPort, EgressRule, IngressConfig, NetworkConfig, Protocol
from components.config.notifications import (
    ChannelName,
    EmailSettings,
    Event,
    NotificationsConfig,
    Route,
)
from components.config.pipeline import (
    ATTESTATIONS_NEED,
    CODE_SCANNING_NEEDS,
    MAX_MATRIX_JOBS,
    BranchProtectionConfig,
    GitHubPlan,
    GitHubPlanConfig,
    PipelineCommands,
    PipelineConfig,
    RepositoryVisibility,
    ScannersConfig,
    ScannersWithoutSonarQube,
    ScannersWithSonarQube,
)
from components.config.platform import (
    PLATFORM_NAMESPACE,
    PLATFORM_SECTIONS,
    GithubOidcConfig,
    GithubOidcOff,
    GithubOidcOn,
    MonitoringConfig,
    PlatformClusterConfig,
    PlatformSettings,
    PolicyControllerConfig,
    PolicyControllerOff,
    PolicyControllerOn,
    RolloutsControllerConfig,
    TrafficRouterConfig,
    load_platform,
    parse_platform,
    platform_warnings,
)
from components.config.problems import NAMESPACE, ConfigError, Problem
from components.config.rules import (
    MAX_ENVIRONMENT_VARIABLES,
    MAX_GROUP_NAME,
    MAX_VARIABLE_BYTES,
    REPOSITORY_VARIABLE,
    STACK_VARIABLES,
    ingress_host,
    written_by_a_stack,
)
from components.config.settings import (
    PIPELINE_SECRET_KEYS,
    REGISTRY_TOKEN_KEY,
    SECTIONS,
    Secrets,
    Settings,
    StackSettings,
)
from components.config.siblings import (
    SiblingError,
    own_stage,
    project_directory,
    read_section,
    read_stage,
    stack_names,
)
from components.vocabulary import (
    GITHUB_OIDC_ISSUER,
    BranchPolicy,
    ClusterAccess,
    MetricsPreset,
    PodSecurityLevel,
    RepositoryRole,
    Reviewer,
    ScrapeDiscovery,
)

__all__ = [
    "ATTESTATIONS_NEED",
    "CODE_SCANNING_NEEDS",
    "GITHUB_OIDC_ISSUER",
    "MAX_ENVIRONMENT_VARIABLES",
    "MAX_GROUP_NAME",
    "MAX_MATRIX_JOBS",
    "MAX_VARIABLE_BYTES",
    "NAMESPACE",
    "PIPELINE_SECRET_KEYS",
    "PLATFORM_NAMESPACE",
    "PLATFORM_SECTIONS",
    "READ_NAMESPACES",
    "REGISTRY_TOKEN_KEY",
    "REPOSITORY_VARIABLE",
    "SECTIONS",
    "STACK_VARIABLES",
    "AccessConfig",
    "AnalysisConfig",
    "AnalysisOff",
    "AnalysisOn",
    "AnalysisSettings",
    "AppConfig",
    "ApprovalConfig",
    "BranchPattern",
    "BranchPolicy",
    "BranchProtectionConfig",
    "CanaryConfig",
    "CanaryOff",
    "CanaryOn",
    "CanaryPlanConfig",
    "CanaryStep",
    "Chain",
    "ChainError",
    "ChannelName",
    "Cidr",
    "ClusterAccess",
    "ClusterConfig",
    "Command",
    "ConfigError",
    "ConfigKey",
    "ContainerResources",
    "DeployConfig",
    "DeployTests",
    "DnsLabel",
    "Duration",
    "EgressPort",
    "EgressRule",
    "EmailSettings",
    "EnvironmentConfig",
    "EnvironmentSecret",
    "Event",
    "GitHubPlan",
    "GitHubPlanConfig",
    "GithubOidcConfig",
    "GithubOidcOff",
    "GithubOidcOn",
    "HealthPath",
    "HostName",
    "HttpUrl",
    "HttpsUrl",
    "IngressConfig",
    "LimitRangeConfig",
    "MetricsConfig",
    "MetricsOff",
    "MetricsOn",
    "MetricsPreset",
    "MetricsSettings",
    "MonitoringConfig",
    "NetworkConfig",
    "NginxRoutingConfig",
    "NodeVersion",
    "NotificationsConfig",
    "Percent",
    "PerformanceThresholds",
    "PipelineCommands",
    "PipelineConfig",
    "PlatformClusterConfig",
    "PlatformSettings",
    "PodSecurityLevel",
    "PolicyControllerConfig",
    "PolicyControllerOff",
    "PolicyControllerOn",
    "Port",
    "Problem",
    "Protocol",
    "Quantity",
    "QuotaConfig",
    "RegistryConfig",
    "RelativePath",
    "RepositoryRole",
    "RepositoryVisibility",
    "RequestMetricsConfig",
    "ResourceAmounts",
    "Reviewer",
    "ReviewersConfig",
    "RolloutsControllerConfig",
    "Route",
    "ScannersConfig",
    "ScannersWithSonarQube",
    "ScannersWithoutSonarQube",
    "ScrapeDiscovery",
    "SecretName",
    "Secrets",
    "SemVer",
    "Settings",
    "ShortDnsLabel",
    "SiblingError",
    "Slug",
    "StackSettings",
    "Stage",
    "TeamReviewer",
    "Tier",
    "TrafficRouterConfig",
    "TrivySeverity",
    "UserReviewer",
    "default_github_environment",
    "default_tier",
    "deploy_switch_variable",
    "deploy_workflow_file",
    "ingress_host",
    "load",
    "load_platform",
    "own_stage",
    "parse_platform",
    "parse_sections",
    "platform_warnings",
    "project_directory",
    "read_section",
    "read_stage",
    "stack_names",
    "written_by_a_stack",
]
