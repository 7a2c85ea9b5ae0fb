"""Sections of the shared pipeline (dev only): ``cicd:pipeline`` and ``cicd:branchProtection``."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    Field,
    Tag,
)

from components.config.fields import (
    BranchPattern,
    Command,
    ConfigModel,
    HttpsUrl,
    NodeVersion,
    RelativePath,
    TrivySeverity,
    between,
    matches,
)
from components.config.rescan import RescanConfig
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched


class ScannerSettings(ConfigModel):
    """Scanner settings that hold whether SonarQube is on or off."""

    trivy_severity: TrivySeverity = Field(
        default="CRITICAL,HIGH", description="Trivy severities that fail the build."
    )
    snyk: bool = Field(default=True, description="Snyk on dependencies; needs cicd:snykToken.")
    sarif_upload: bool = Field(
        default=True,
        description="Upload Trivy's SARIF report to GitHub code scanning (needs code scanning: "
        "public repositories, or GitHub Advanced Security on private ones). Off: Trivy's exit "
        "code still gates, its table goes to the job log.",
    )


class ScannersWithSonarQube(ScannerSettings):
    """``scanners`` with ``sonarqube: true``: the server URL is part of the type, not a rule."""

    sonarqube: Annotated[bool, is_switched(True)] = Field(
        description="SonarQube; needs cicd:sonarToken and sonarqubeHostUrl."
    )
    sonarqube_host_url: HttpsUrl = Field(
        description="SonarQube server URL; required with sonarqube: true."
    )


class SonarQubeSettings(ConfigModel):
    """SonarQube's own settings, set aside while it is off (all optional)."""

    sonarqube_host_url: HttpsUrl | None = Field(
        default=None, description="SonarQube server URL; required with sonarqube: true."
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


class NotificationsConfig(ConfigModel):
    """Who hears about what."""

    discord: bool = Field(
        default=True,
        description="Build status of the default branch and of releases to Discord, best effort "
        "(a failed post is a warning); needs cicd:discordWebhookUrl.",
    )
    slack: bool = Field(
        default=True, description="Security alerts to Slack; needs cicd:slackWebhookUrl."
    )


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


class PipelineConfig(ConfigModel):
    """The shared CI pipeline (``cicd:pipeline``; dev stack only)."""

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
        default=NotificationsConfig(), description="Notifications."
    )
    rescan: RescanConfig = Field(
        default=RescanConfig(), description="Daily rescan of the digests the environments run."
    )


class BranchProtectionConfig(ConfigModel):
    """Protection of the branch this stack owns (``cicd:branchProtection``)."""

    branch: BranchPattern = Field(description="develop in dev, main in prod.")
    required_approvals: Annotated[int, AfterValidator(between(1, 6))] = Field(
        default=1, description="Approving reviews a pull request needs."
    )
    require_code_owner_reviews: bool = Field(default=False, description="CODEOWNERS must approve.")
    dismiss_stale_reviews: bool = Field(default=True, description="New commits dismiss approvals.")
