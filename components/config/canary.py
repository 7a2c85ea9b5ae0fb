"""Section ``cicd:canary``: the release plan (steps, analysis, traffic routing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import (
    ConfigModel,
    Duration,
    HostName,
    HttpUrl,
    Percent,
    Port,
    between,
    float_between,
)


class CanaryStep(ConfigModel):
    """One canary step: send `weight` percent to the new version, then pause."""

    weight: Percent = Field(description="Traffic percent for the new version (1..100).")
    pause: Duration | None = Field(
        default=None,
        description="How long to wait; omitted means wait until a person promotes.",
    )


class AnalysisConfig(ConfigModel):
    """Background analysis that aborts a bad canary."""

    enabled: bool = Field(default=True, description="Run analysis during the canary.")
    interval: Duration = Field(default="30s", description="Time between measurements.")
    failure_limit: Annotated[int, AfterValidator(between(0, 20))] = Field(
        default=2, description="Failed measurements tolerated before the rollout aborts."
    )
    success_rate: Annotated[float, AfterValidator(float_between(0.5, 1.0))] = Field(
        default=0.95, description="Minimum ratio of non-5xx responses (with Prometheus)."
    )
    prometheus_address: HttpUrl | None = Field(
        default=None, description="Prometheus URL; when set the success rate is checked too."
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Port the app serves /metrics on. Default: app.port.",
    )


class NginxRoutingConfig(ConfigModel):
    """Exact traffic split through the NGINX ingress controller."""

    host: HostName | None = Field(
        default=None,
        description="Deprecated: the split uses the stack's one Ingress (cicd:ingress.host). "
        "When set it must equal that host.",
    )


class CanaryConfig(ConfigModel):
    """Argo Rollouts canary (``cicd:canary``)."""

    enabled: bool = Field(default=False, description="Release as a canary; otherwise a Deployment.")
    steps: tuple[CanaryStep, ...] = Field(default=(), description="Weights strictly increasing.")
    analysis: AnalysisConfig = Field(default=AnalysisConfig(), description="Health analysis.")
    nginx: NginxRoutingConfig | None = Field(
        default=None,
        description="Traffic routing through NGINX; without it weights are approximated "
        "by pod counts.",
    )
    install_controller: bool = Field(
        default=False,
        description="Removed: the Argo Rollouts controller is cluster-scoped and installed by "
        "the platform project (platform/Pulumi.<cluster>.yaml). Must be false.",
    )
    step_deadline: Duration = Field(
        default="3m",
        description="Longest a step may take to scale (the Rollout's progressDeadlineSeconds; "
        "Argo Rollouts aborts a step that takes longer). The workflow's wait is derived from "
        "it and the pauses. Default 3m.",
    )
    rollback_window: Annotated[int, AfterValidator(between(1, 10))] = Field(
        default=2,
        description="Revisions within which going back skips the canary steps (Argo "
        "rollbackWindow): a rollback to the previous stable digest is one fast scale-up. "
        "Default 2.",
    )
