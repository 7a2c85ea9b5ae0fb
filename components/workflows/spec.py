"""What the workflow generators take: typed, frozen values, no config types.

components/stack.py builds a :class:`WorkflowsSpec` from the stack's validated config (the only
place that reads config for the workflows); the generators (ci.py, deploy/, metrics.py,
dependabot.py) read only these values. Optional features are ``None`` or present, never a flag
beside its settings: SonarQube is a :class:`SonarQube` with its server URL or ``None``, the CI
pipeline exists only for the stack that owns it (the first stage), the metrics workflow only where
it is on.
Environment-dependent defaults (staging's Trivy severity, the install command of deploy tests)
are resolved before they get here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.chain import Tier
from components.release import ReleasePlan
from components.vocabulary import ClusterAccess

# Re-exported: components/stack.py builds the deploy job's runs-on from config.
from components.workflows.model import GITHUB_HOSTED as GITHUB_HOSTED
from components.workflows.model import RunsOn as RunsOn
from components.workflows.notify import LEGACY_ROUTES, Routes


@dataclass(frozen=True)
class Commands:
    """Shell commands of the CI pipeline (run with the repository's npm workspaces)."""

    install: str
    lint: str
    format_check: str
    typecheck: str
    unit_test: str
    """Unit tests of one package; ``$PACKAGE`` is the matrix entry."""
    integration_test: str


@dataclass(frozen=True)
class SonarQube:
    """SonarQube analysis in CI: on means a server to send it to."""

    host_url: str
    gate_timeout_seconds: int = 300
    """How long the analysis waits for the quality gate (sonar.qualitygate.timeout)."""


@dataclass(frozen=True)
class PlanFeature:
    """A GitHub feature CI uses only where the repository's plan has it (config:
    ``cicd:pipeline.github``): on, or off with the notice the job leaves saying why."""

    on: bool
    notice: str
    """Why it is off and what would switch it on (empty when on)."""


@dataclass(frozen=True)
class Scanners:
    """Security scanners of CI."""

    trivy_severity: str
    snyk: bool
    sonarqube: SonarQube | None
    sarif_upload: PlanFeature


@dataclass(frozen=True)
class PipelineSpec:
    """ci.yml's build: packages, commands, Docker build, scanners (dev only)."""

    node_version: str
    packages: tuple[str, ...]
    commands: Commands
    build_context: str
    dockerfile: str
    coverage_path: str
    scanners: Scanners
    build_provenance: PlanFeature
    """actions/attest-build-provenance on the published digest."""
    layer_cache_for_publish: bool = False
    """Whether a build that publishes reads the Docker layer cache (``pipeline.layerCacheForPublish``;
    every build writes it, pull requests read it)."""


@dataclass(frozen=True)
class K6Thresholds:
    """k6 thresholds of the staging performance test (built-in metrics of k6's HTTP module)."""

    latency_percentile: int = 95
    latency_ms: int = 500
    error_rate: float = 0.01

    def options(self) -> dict[str, dict[str, list[str]]]:
        """k6 options (``k6 run --config``): the thresholds on ``http_req_duration`` and
        ``http_req_failed``; k6 exits 99 when one is crossed."""
        return {
            "thresholds": {
                "http_req_duration": [f"p({self.latency_percentile})<{self.latency_ms}"],
                "http_req_failed": [f"rate<{self.error_rate}"],
            }
        }


@dataclass(frozen=True)
class DeployTests:
    """Tests after a deploy; ``None`` where not configured."""

    integration: str | None
    e2e: str | None
    performance_script: str | None
    performance_thresholds: K6Thresholds = field(default_factory=lambda: K6Thresholds())
    """What the k6 run must meet; a miss fails the performance job and so the acceptance."""


@dataclass(frozen=True)
class DeploySpec:
    """The stack's own deploy workflow: where it deploys, how long it waits, what it checks."""

    github_environment: str
    cluster_access: ClusterAccess
    release_plan: ReleasePlan
    rollout_wait_seconds: int
    """What one run waits for the rollout (config's timeout or the plan's derived wait)."""
    health_path: str
    health_check_retries: int
    job_timeout_minutes: int
    node_version: str
    """Node.js of the test jobs."""
    install_command: str
    """How test jobs install dependencies."""
    trivy_severity: str
    """Severities that fail staging's scan of the deployed image."""
    tests: DeployTests
    dispatch_refs: tuple[str, ...] | None
    """Full ref patterns (as ``github.ref`` spells them: branch_ref, tag_ref) a dispatch may deploy
    from: the environment's listed branches and tags. None where it lists none (protected
    branches: GitHub's environment decides alone)."""
    runner: RunsOn = GITHUB_HOSTED
    """Where the job in the environment (the one that reaches the cluster) runs
    (``cicd:deploy.runner``); every other job stays on GitHub-hosted runners (docs/runners.md)."""


@dataclass(frozen=True)
class MetricsSpec:
    """The scheduled delivery-metrics workflow."""

    schedule: str
    pushgateway_url: str | None
    windows: tuple[int, ...]
    environments: tuple[str, ...]
    pushgateway_auth: str = "none"
    """none, bearer or basic: then the job reads the repository secret PUSHGATEWAY_CREDENTIALS."""
    rate_limit_reserve: int = 300
    """x-ratelimit-remaining at which the job stops with a partial report."""

    @property
    def artifact_retention_days(self) -> int:
        """Days CI keeps coverage artifacts: twice the longest window (a window's trend reads
        the window before it), at most GitHub's 90 for artifacts."""
        return min(90, 2 * max(self.windows))


@dataclass(frozen=True)
class RescanSpec:
    """The scheduled rescan of what runs (rescan.yml); severity already resolved (CI's default)."""

    schedule: str
    severity: str
    channel: str
    """``slack`` or ``discord``."""
    environments: tuple[str, ...]


@dataclass(frozen=True)
class StageSpec:
    """The stack's place in the chain (components/chain.py), as the workflows need it."""

    name: str
    tier: Tier
    previous_github_environment: str | None
    """The GitHub environment of the stage this one promotes from, whose accepted deployments
    its verify job requires; None for the first stage (it deploys after green CI)."""

    @property
    def is_first(self) -> bool:
        return self.previous_github_environment is None

    @property
    def is_production(self) -> bool:
        return self.tier is Tier.PRODUCTION


@dataclass(frozen=True)
class WorkflowsSpec:
    """Everything one stack's workflow files are generated from."""

    stage: StageSpec
    repository: str
    default_branch: str
    image: str
    registry_server: str
    deploy: DeploySpec
    pipeline: PipelineSpec | None
    """ci.yml and dependabot.yml: only the stack that owns the shared pipeline (the first stage)."""
    metrics: MetricsSpec | None
    """metrics.yml: only where ``cicd:metrics.enabled`` (the first stage)."""
    rescan: RescanSpec | None = None
    """rescan.yml: only with the shared pipeline (the first stage) and
    ``cicd:pipeline.rescan.enabled``."""
    notifications: Routes = LEGACY_ROUTES
    """Which events go to which channels: the first stage's ``pipeline.notifications``."""
    approval_required: bool = False
    """The stage's GitHub environment has required reviewers: a dispatched deployment waits for
    them (the ``approval`` event)."""
