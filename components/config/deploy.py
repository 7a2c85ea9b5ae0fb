"""Section ``cicd:deploy``: whether and how the deploy workflow of this environment runs."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import (
    Command,
    ConfigModel,
    Duration,
    NodeVersion,
    RelativePath,
    between,
    float_between,
)
from components.config.runner import RunnerConfig


class PerformanceThresholds(ConfigModel):
    """What the staging k6 run must meet (``deploy.tests.performanceThresholds``); a miss fails
    the performance job, so the staging deployment is not accepted and prod refuses it."""

    latency_percentile: Annotated[int, AfterValidator(between(50, 99))] = Field(
        default=95, description="Percentile of http_req_duration checked. Default 95."
    )
    latency_ms: Annotated[int, AfterValidator(between(1, 60000))] = Field(
        default=500, description="Milliseconds that percentile must stay under. Default 500."
    )
    error_rate: Annotated[float, AfterValidator(float_between(0.0, 0.5))] = Field(
        default=0.01,
        description="Share of failed requests (http_req_failed) that must not be reached. "
        "Default 0.01.",
    )


class DeployTests(ConfigModel):
    """Checks a deploy workflow runs against the deployed environment."""

    integration: Command | None = Field(default=None, description="Integration tests (dev).")
    e2e: Command | None = Field(
        default=None,
        alias="e2e",  # to_camel would spell it e2E; the stack files and docs write e2e
        description="End-to-end tests (staging).",
    )
    performance_script: RelativePath | None = Field(
        default=None, description="k6 script path (staging)."
    )
    performance_thresholds: PerformanceThresholds = Field(
        default=PerformanceThresholds(),
        description="k6 thresholds: latencyPercentile (95), latencyMs (500), errorRate (0.01). "
        "Set them here rather than in the script's options, which would override them.",
    )


class DeployConfig(ConfigModel):
    """The environment's deploy workflow (``cicd:deploy``)."""

    enabled: bool = Field(
        description="Whether the deploy workflow may run (DEPLOY_ENABLED). Prod ships false: "
        "prepared, not activated."
    )
    node_version: NodeVersion = Field(default="22", description="Node.js version for test steps.")
    rollout_timeout: Duration | None = Field(
        default=None,
        description="How long one run waits for the rollout. Default: derived from the canary "
        "steps (pauses plus one step deadline per weight); when set it must be at least that.",
    )
    job_timeout_minutes: Annotated[int, AfterValidator(between(10, 360))] = Field(
        default=60,
        description="timeout-minutes of the deploy job; must hold the wait, the health check "
        "and a rollback. Default 60.",
    )
    image_policy: bool | None = Field(
        default=None,
        description="Render a sigstore policy-controller ClusterImagePolicy that admits into "
        "the namespace only images signed by this repository's CI. Default true in later "
        "stages, false in the first.",
    )
    health_check_retries: Annotated[int, AfterValidator(between(1, 60))] = Field(
        default=10, description="Attempts of the post-deploy health check."
    )
    tests: DeployTests = Field(default=DeployTests(), description="Tests after the deploy.")
    runner: RunnerConfig = Field(
        default=RunnerConfig(),
        description="Where the deploy job in the environment runs: labels, group (with "
        "labels) or scaleSet (Actions Runner Controller). Default GitHub-hosted ubuntu-24.04. "
        "Other jobs stay GitHub-hosted (docs/runners.md).",
    )
