"""What a stack's config becomes: the sections together, the secret keys, and the loaded settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pulumi
from pydantic import Field

from components.chain import Chain
from components.config.app import AppConfig, RegistryConfig
from components.config.approval import ApprovalConfig
from components.config.canary import AnalysisOn, CanaryConfig, CanaryOff, CanaryOn
from components.config.cluster import AccessConfig, ClusterConfig
from components.config.deploy import DeployConfig
from components.config.environment import EnvironmentConfig
from components.config.fields import ConfigModel
from components.config.github_provider import GitHubProviderSettings
from components.config.kubernetes_provider import KubernetesProviderSettings
from components.config.metrics import MetricsConfig, MetricsOff, MetricsOn
from components.config.network import IngressConfig, NetworkConfig
from components.config.notifications import NotificationsConfig
from components.config.pipeline import (
    BranchProtectionConfig,
    PipelineCommands,
    PipelineConfig,
    ScannersConfig,
    ScannersWithoutSonarQube,
)
from components.release import PlanStep, ReleasePlan, duration_seconds
from components.vocabulary import MetricsPreset

# Secret keys: declared in Pulumi.yaml, read with get_secret, never part of a section object.
REGISTRY_TOKEN_KEY: Final = "registryToken"
PIPELINE_SECRET_KEYS: Final = {
    "snykToken": "SNYK_TOKEN",
    "sonarToken": "SONAR_TOKEN",
    "discordWebhookUrl": "DISCORD_WEBHOOK_URL",
    "slackWebhookUrl": "SLACK_WEBHOOK_URL",
    "teamsWebhookUrl": "TEAMS_WEBHOOK_URL",
    "smtpCredentials": "SMTP_CREDENTIALS",
    "pushgatewayCredentials": "PUSHGATEWAY_CREDENTIALS",
}

_STEP_DEADLINE: Final = str(CanaryOn.model_fields["step_deadline"].default)
"""A Deployment's progress deadline: the canary's default step deadline (one step to 100%)."""

SECTIONS: Final = (
    "app",
    "environment",
    "cluster",
    "access",
    "approval",
    "registry",
    "canary",
    "pipeline",
    "deploy",
    "branchProtection",
    "ingress",
    "network",
    "metrics",
)


class StackSettings(ConfigModel):
    """All plain (non-secret) sections of one stack."""

    app: AppConfig = Field(
        description="The application being delivered: its name, repository, "
        "image and how its pods run."
    )
    environment: EnvironmentConfig = Field(
        description="Which environment this stack is and what follows from it."
    )
    cluster: ClusterConfig = Field(
        description="The cluster this environment lives in, and the deployer's access to it."
    )
    access: AccessConfig = Field(
        default=AccessConfig(), description="People's access to the namespace (view, edit)."
    )
    approval: ApprovalConfig = Field(
        description="Who approves a deployment of the GitHub environment and from which refs."
    )
    registry: RegistryConfig = Field(
        description="Registry pull access; the token is the secret cicd:registryToken."
    )
    canary: CanaryConfig = Field(
        default=CanaryOff(),
        description="Release as an Argo Rollouts canary (enabled: true, with its steps and "
        "analysis) or as a plain Deployment (the default).",
    )
    pipeline: PipelineConfig | None = Field(
        default=None, description="The shared CI pipeline (ci.yml); first stage only."
    )
    deploy: DeployConfig = Field(description="The environment's deploy workflow.")
    branch_protection: BranchProtectionConfig | None = Field(
        default=None,
        description="Protection of the branch this stack owns: the default branch in the first "
        "stage, main in tier production.",
    )
    ingress: IngressConfig = Field(description="The environment's TLS Ingress.")
    network: NetworkConfig = Field(
        default=NetworkConfig(),
        description="Additions to the namespace's default-deny network policy.",
    )
    metrics: MetricsConfig = Field(
        default=MetricsOff(),
        description="The delivery metrics job (metrics.yml); first stage only. Off by default.",
    )

    @property
    def release_plan(self) -> ReleasePlan:
        """The canary steps as a plan; a Deployment is one step straight to 100%."""
        canary = self.canary
        if not isinstance(canary, CanaryOn):
            return ReleasePlan((PlanStep(100, None, None),), duration_seconds(_STEP_DEADLINE))
        steps = tuple(
            PlanStep(step.weight, duration_seconds(step.pause) if step.pause else None, step.pause)
            for step in canary.steps
        )
        return ReleasePlan(steps, duration_seconds(canary.step_deadline))

    @property
    def metrics_on(self) -> MetricsOn | None:
        """The delivery metrics job's settings where it is on."""
        return self.metrics if isinstance(self.metrics, MetricsOn) else None

    @property
    def canary_on(self) -> CanaryOn | None:
        """The canary's settings where it is on; None for a plain Deployment."""
        return self.canary if isinstance(self.canary, CanaryOn) else None

    @property
    def analysis_on(self) -> AnalysisOn | None:
        """The canary's analysis settings where the canary and its analysis are on."""
        canary = self.canary_on
        if canary is None or not isinstance(canary.analysis, AnalysisOn):
            return None
        return canary.analysis

    @property
    def scanners(self) -> ScannersConfig:
        """``pipeline.scanners`` (dev); the other stacks have no pipeline section and take its
        defaults, so staging's image scan uses the same Trivy severity default as CI."""
        return self.pipeline.scanners if self.pipeline is not None else ScannersWithoutSonarQube()

    @property
    def install_command(self) -> str:
        """``pipeline.commands.install`` (dev), else its default: how deploy tests install."""
        commands = self.pipeline.commands if self.pipeline is not None else PipelineCommands()
        return commands.install

    @property
    def rollout_wait_seconds(self) -> int:
        """What one deploy run waits for the rollout: the config's timeout or the plan's wait."""
        if self.deploy.rollout_timeout is not None:
            return duration_seconds(self.deploy.rollout_timeout)
        return self.release_plan.wait_seconds

    @property
    def image_policy_enabled(self) -> bool:
        """``deploy.imagePolicy``; default on where deployments need an approval (later stages)."""
        if self.deploy.image_policy is not None:
            return self.deploy.image_policy
        return self.environment.needs_approval

    # Environment-dependent defaults, resolved here so that no caller repeats them.

    @property
    def admins_can_bypass_approval(self) -> bool:
        """``approval.canAdminsBypass``; default true only where no approval is needed (the first
        stage)."""
        if self.approval.can_admins_bypass is not None:
            return self.approval.can_admins_bypass
        return not self.environment.needs_approval

    @property
    def tls_secret_name(self) -> str:
        """``ingress.tlsSecretName``; default ``<app.name>-tls``."""
        return self.ingress.tls_secret_name or f"{self.app.name}-tls"

    @property
    def metrics_port(self) -> int:
        """The port Prometheus scrapes: ``canary.analysis.metricsPort``, default the app port."""
        analysis = self.analysis_on
        return (analysis.metrics_port if analysis else None) or self.app.port

    @property
    def analysis_probes_app(self) -> bool:
        """Whether canary analysis runs (canary on, analysis on): the Rollouts controller probes."""
        return self.analysis_on is not None

    @property
    def prometheus_scrapes_app(self) -> bool:
        """Whether Prometheus scrapes the app pods: canary analysis with a Prometheus address
        and the ``app`` metrics preset (ingress-nginx's counters come from the controller)."""
        analysis = self.analysis_on
        return (
            analysis is not None
            and analysis.prometheus_address is not None
            and analysis.metrics.preset is MetricsPreset.APP
        )


@dataclass(frozen=True)
class Secrets:
    """Secret config values as secret Outputs; None where the key is unset."""

    registry_token: pulumi.Output[str]
    pipeline: Mapping[str, pulumi.Output[str]]
    environment: Mapping[str, pulumi.Output[str]]


@dataclass(frozen=True)
class Settings:
    """Everything the program needs from the stack: validated sections, secrets, provider config."""

    stack: str
    stack_file: str
    github_owner: str
    github_provider: GitHubProviderSettings
    """What the explicit GitHub provider is given: owner, token, base URL."""
    sections: StackSettings
    chain: Chain
    """Every stage of the project, in promotion order (this stack and its sibling stack files,
    components/config/siblings.py)."""
    secrets: Secrets
    warnings: tuple[str, ...]
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    """The routes every stage's workflows follow: the first stage's ``pipeline.notifications``
    (a later stage reads them from the first stage's stack file)."""
    kubernetes_provider: KubernetesProviderSettings = field(
        default_factory=KubernetesProviderSettings
    )
    """What the explicit Kubernetes provider is given: kubeconfig (secret), context."""
