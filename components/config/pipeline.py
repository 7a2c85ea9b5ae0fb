"""Sections of the shared pipeline (dev only): ``cicd:pipeline`` and ``cicd:branchProtection``."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    Field,
    Tag,
    model_validator,
)

from components.config.fields import (
    BranchPattern,
    Command,
    ConfigModel,
    Duration,
    HttpsUrl,
    NodeVersion,
    RelativePath,
    TrivySeverity,
    between,
    matches,
)
from components.config.notifications import NotificationsConfig
from components.config.rescan import RescanConfig
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched


class ScannerSettings(ConfigModel):
    """Scanner settings that hold whether SonarQube is on or off."""

    trivy_severity: TrivySeverity = Field(
        default="CRITICAL,HIGH", description="Trivy severities that fail the build."
    )
    snyk: bool = Field(default=True, description="Snyk on dependencies; needs cicd:snykToken.")
    sarif_upload: bool | None = Field(
        default=None,
        description="Upload Trivy's SARIF report to GitHub code scanning. Default: where "
        "cicd:pipeline.github says code scanning exists (a public repository, or "
        "codeSecurity); true where it does not is a config error. Off: Trivy's exit code "
        "still gates, its table goes to the job log.",
    )


class ScannersWithSonarQube(ScannerSettings):
    """``scanners`` with ``sonarqube: true``: the server URL is part of the type, not a rule."""

    sonarqube: Annotated[bool, is_switched(True)] = Field(
        description="SonarQube; needs cicd:sonarToken and sonarqubeHostUrl."
    )
    sonarqube_host_url: HttpsUrl = Field(
        description="SonarQube server URL; required with sonarqube: true."
    )
    sonarqube_gate_timeout: Duration = Field(
        default="5m",
        description="How long the CI analysis waits for the project's quality gate "
        "(sonar.qualitygate.wait); a failed gate, or none within this time, fails the "
        "sonarqube job, so nothing is published. Default 5m.",
    )


class SonarQubeSettings(ConfigModel):
    """SonarQube's own settings, set aside while it is off (all optional)."""

    sonarqube_host_url: HttpsUrl | None = Field(
        default=None, description="SonarQube server URL; required with sonarqube: true."
    )
    sonarqube_gate_timeout: Duration | None = Field(
        default=None, description="How long CI waits for the quality gate."
    )


class ScannersWithoutSonarQube(ScannerSettings, SwitchedOff):
    """``scanners`` with ``sonarqube`` absent or false."""

    SWITCH = "sonarqube"
    sonarqube: Annotated[bool, is_switched(False)] = Field(
        default=False, description="SonarQube; needs cicd:sonarToken and sonarqubeHostUrl."
    )
    unused: SonarQubeSettings | None = Field(
        default=None, description="SonarQube settings written while it is off (ignored)."
    )


ScannersConfig = Annotated[
    Annotated[ScannersWithSonarQube, Tag(ON)] | Annotated[ScannersWithoutSonarQube, Tag(OFF)],
    by_switch(ScannersWithSonarQube, ScannersWithoutSonarQube),
]
"""Security scanners of the CI workflow: with SonarQube (and its URL) or without."""


MAX_MATRIX_JOBS: Final = 256
"""GitHub runs at most 256 jobs of one matrix; a longer package list fails at config time."""

_NPM_NAME = re.compile(r"^(?:@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$")
"""npm's rules for a package name (lower case, URL-safe, optionally scoped)."""


def _package_list(packages: tuple[str, ...]) -> tuple[str, ...]:
    if not packages:
        raise ValueError("must name at least one package")
    if len(packages) > MAX_MATRIX_JOBS:
        raise ValueError(
            f"has {len(packages)} packages; a GitHub matrix runs at most {MAX_MATRIX_JOBS} jobs"
        )
    repeated = sorted({name for name in packages if packages.count(name) > 1})
    if repeated:
        raise ValueError(f"names {', '.join(repeated)} more than once")
    return packages


class PipelineCommands(ConfigModel):
    """Shell commands of the pipeline, for an npm-workspaces TypeScript monorepo by default."""

    install: Command = Field(default="npm ci", description="Install dependencies.")
    lint: Command = Field(default="npm run lint", description="ESLint.")
    format_check: Command = Field(default="npm run format:check", description="Prettier check.")
    typecheck: Command = Field(
        default="npx tsc --build",
        description="TypeScript compile check. --build follows the solution tsconfig's project "
        "references; `tsc --noEmit -p .` on a solution-style tsconfig (files: []) checks nothing.",
    )
    unit_test: Command = Field(
        default='npm test --workspace "$PACKAGE" -- --coverage',
        description="Unit tests of one package; $PACKAGE is the matrix entry (its npm name). "
        "Only flags Vitest and Jest both accept.",
    )
    integration_test: Command = Field(
        default="npm run test:integration", description="Integration tests."
    )


class GitHubPlan(StrEnum):
    """The GitHub plan of the account that owns the repository."""

    FREE = "free"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE_CLOUD = "enterpriseCloud"
    ENTERPRISE_SERVER = "enterpriseServer"


class RepositoryVisibility(StrEnum):
    """The repository's visibility; ``internal`` (Enterprise) counts as private here."""

    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


CODE_SECURITY_PLANS: Final = frozenset(
    {GitHubPlan.TEAM, GitHubPlan.ENTERPRISE_CLOUD, GitHubPlan.ENTERPRISE_SERVER}
)
"""Plans GitHub sells Code Security (formerly Advanced Security) for."""


class GitHubPlanConfig(ConfigModel):
    """``cicd:pipeline.github``: what the repository's plan lets CI use.

    - Artifact attestations (actions/attest-build-provenance): every public repository; a
      private or internal one only on GitHub Enterprise Cloud.
    - Code scanning (SARIF upload): every public repository; a private or internal one only
      with GitHub Code Security, which GitHub sells for Team and Enterprise.

    The defaults (private, free, no Code Security) use neither, so CI stays green on any plan.
    """

    visibility: RepositoryVisibility = Field(
        default=RepositoryVisibility.PRIVATE,
        description="public, private or internal (default private).",
    )
    plan: GitHubPlan = Field(
        default=GitHubPlan.FREE,
        description="free, pro, team, enterpriseCloud or enterpriseServer (default free).",
    )
    code_security: bool = Field(
        default=False,
        description="GitHub Code Security is on for the repository (team and enterprise plans "
        "only; default false). Private repositories need it for SARIF upload.",
    )

    @property
    def public(self) -> bool:
        return self.visibility is RepositoryVisibility.PUBLIC

    @property
    def attestations(self) -> bool:
        """Whether attest-build-provenance works for this repository."""
        return self.public or self.plan is GitHubPlan.ENTERPRISE_CLOUD

    @property
    def code_scanning(self) -> bool:
        """Whether a SARIF upload reaches code scanning."""
        return self.public or self.code_security

    def describe(self) -> str:
        """The plan in the words of the stack file, for messages."""
        security = ", codeSecurity" if self.code_security else ""
        return f"a {self.visibility} repository on plan {self.plan}{security}"


class PipelineConfig(ConfigModel):
    """The shared CI pipeline (``cicd:pipeline``; first stage only)."""

    node_version: NodeVersion = Field(default="22", description="Node.js version.")
    packages: Annotated[
        tuple[
            Annotated[
                str,
                AfterValidator(
                    matches(_NPM_NAME, "must be an npm package name such as api or @acme/api")
                ),
            ],
            ...,
        ],
        AfterValidator(_package_list),
    ] = Field(
        description='Workspace packages by their npm name (package.json "name", scoped or '
        f"not), each unit-tested in its own matrix job; 1 to {MAX_MATRIX_JOBS} (GitHub's matrix "
        "limit), no repeats."
    )
    commands: PipelineCommands = Field(default=PipelineCommands(), description="Commands.")
    build_context: RelativePath = Field(default=".", description="Docker build context.")
    dockerfile: RelativePath = Field(default="Dockerfile", description="Dockerfile path.")
    coverage_path: RelativePath = Field(
        default="coverage",
        description="Coverage report folder, relative to each package's own folder (where "
        "Vitest and Jest write it when run in the workspace).",
    )
    scanners: ScannersConfig = Field(default=ScannersWithoutSonarQube(), description="Scanners.")
    notifications: NotificationsConfig = Field(
        default=NotificationsConfig(),
        description="Which events (build, deploy, approval, security, rollback) go to which "
        "channels (discord, slack, teams, email), for every stage (docs/notifications.md).",
    )
    github: GitHubPlanConfig = Field(
        default=GitHubPlanConfig(),
        description="The repository's visibility and GitHub plan: what CI may use.",
    )
    build_provenance: bool | None = Field(
        default=None,
        description="Build provenance attestation of the published digest "
        "(actions/attest-build-provenance). Default: where cicd:pipeline.github allows it (a "
        "public repository, or plan enterpriseCloud); true where it does not is a config error.",
    )
    layer_cache_for_publish: bool = Field(
        default=False,
        description="Whether the image build of a run that publishes (a push to the default "
        "branch) reads the Docker layer cache (GitHub's, type=gha). Default false: it builds "
        "from scratch, so no layer a pull request run wrote into the cache can end up in a "
        "published image (cache poisoning); pull requests always read it and every build writes "
        "it. true: faster publishing builds, trusting every cache entry.",
    )
    rescan: RescanConfig = Field(
        default=RescanConfig(), description="Daily rescan of the digests the environments run."
    )

    @model_validator(mode="after")
    def _rescan_follows_routes(self) -> PipelineConfig:
        if not self.notifications.legacy and "channel" in self.rescan.model_fields_set:
            raise ValueError(
                "sets rescan.channel beside notifications.channels or routes: the rescan's "
                "findings follow the security route; remove rescan.channel"
            )
        return self

    @property
    def uploads_sarif(self) -> bool:
        """``scanners.sarifUpload``, else whether the plan has code scanning."""
        chosen = self.scanners.sarif_upload
        return self.github.code_scanning if chosen is None else chosen

    @property
    def attests_provenance(self) -> bool:
        """``buildProvenance``, else whether the plan has artifact attestations."""
        chosen = self.build_provenance
        return self.github.attestations if chosen is None else chosen


ATTESTATIONS_NEED: Final = (
    "artifact attestations, which GitHub offers for public repositories on every plan and for "
    "private or internal ones only on plan enterpriseCloud"
)
CODE_SCANNING_NEEDS: Final = (
    "code scanning, which GitHub offers for public repositories on every plan and for private "
    "or internal ones only with codeSecurity (plans team, enterpriseCloud, enterpriseServer)"
)


class BranchProtectionConfig(ConfigModel):
    """Protection of the branch this stack owns (``cicd:branchProtection``)."""

    branch: BranchPattern = Field(
        description="The default branch in the first stage, main in tier production."
    )
    required_approvals: Annotated[int, AfterValidator(between(1, 6))] = Field(
        default=1, description="Approving reviews a pull request needs."
    )
    require_code_owner_reviews: bool = Field(default=False, description="CODEOWNERS must approve.")
    dismiss_stale_reviews: bool = Field(default=True, description="New commits dismiss approvals.")
