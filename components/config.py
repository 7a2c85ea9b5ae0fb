"""Typed stack configuration: the only module that reads ``pulumi.Config``.

Every setting lives under the ``cicd`` namespace of ``Pulumi.<stack>.yaml`` and is declared in
``Pulumi.yaml``. Sections are objects (``cicd:app``, ``cicd:canary``, ...) validated here into
frozen pydantic models with ``extra="forbid"``; secrets are separate top-level keys read with
``get_secret`` so that they stay ``Output`` secrets end to end.

Validation collects every problem before anything is registered and reports one line each::

    Pulumi.prod.yaml: cicd:canary.steps[2].weight must be between 1 and 100 (got 150)

Secret values never appear in a message: a problem with a secret key says ``(got [secret])``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from components.release import PlanStep, ReleasePlan, duration_seconds, job_seconds_needed

NAMESPACE: Final = "cicd"

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack file: the key path under ``cicd:``, what is wrong, the value."""

    path: str
    message: str
    got: str | None = None
    namespace: str = NAMESPACE

    def line(self, stack_file: str) -> str:
        got = f" (got {self.got})" if self.got is not None else ""
        return f"{stack_file}: {self.namespace}:{self.path} {self.message}{got}"


class ConfigError(pulumi.RunError):
    """Raised when a stack file is invalid; its message is one line per problem, no traceback.

    ``pulumi.RunError`` makes the Pulumi CLI print the message without a stack trace, and the
    offline render prints the same lines and exits 1.
    """

    def __init__(self, stack_file: str, problems: Sequence[Problem]) -> None:
        self.stack_file = stack_file
        self.problems = tuple(problems)
        self.lines = tuple(p.line(stack_file) for p in self.problems)
        super().__init__("\n".join(self.lines))


# --------------------------------------------------------------------------------------------
# Reusable field types: each check raises ValueError with the words that follow the key path.
# --------------------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")
_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_BRANCH_PATTERN = re.compile(r"^[A-Za-z0-9._/*-]+$")
_CONFIG_KEY = re.compile(r"^[a-z][A-Za-z0-9]*$")
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$")
_HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMMAND_FORBIDDEN = re.compile(r"\$\{\{")

# GitHub reserves these prefixes for its own secrets and variables.
_RESERVED_PREFIXES: Final = ("GITHUB_",)


def _matches(pattern: re.Pattern[str], words: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(words)
        return value

    return check


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _float_between(low: float, high: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _dns_label(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_length or not _DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"must be a Kubernetes DNS label: lower-case letters, digits and '-', "
                f"starting and ending with a letter or digit, at most {max_length} characters"
            )
        return value

    return check


def _github_secret_name(value: str) -> str:
    if not _GITHUB_NAME.fullmatch(value):
        raise ValueError("must contain only letters, digits and '_' (GitHub's rule)")
    if not _ENV_NAME.fullmatch(value):
        raise ValueError("must be upper case: A-Z, 0-9 and '_', starting with a letter")
    if value.startswith(_RESERVED_PREFIXES):
        raise ValueError("must not start with GITHUB_ (reserved by GitHub)")
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 (the cluster CA as in a kubeconfig)") from None
    return value


def _command(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if _COMMAND_FORBIDDEN.search(value):
        raise ValueError("must not contain '${{': commands are run as written, never templated")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label(63))]
ShortDnsLabel = Annotated[str, AfterValidator(_dns_label(40))]
Quantity = Annotated[
    str,
    AfterValidator(_matches(_QUANTITY, "must be a Kubernetes quantity such as 500m, 2 or 256Mi")),
]
Duration = Annotated[
    str, AfterValidator(_matches(_DURATION, "must be a duration such as 30s, 5m or 1h"))
]
HttpsUrl = Annotated[str, AfterValidator(_matches(_HTTPS_URL, "must be an https:// URL"))]
HttpUrl = Annotated[str, AfterValidator(_matches(_HTTP_URL, "must be an http(s):// URL"))]
Slug = Annotated[
    str, AfterValidator(_matches(_SLUG, "must be a GitHub slug: letters, digits, '.', '_', '-'"))
]
BranchPattern = Annotated[
    str,
    AfterValidator(
        _matches(_BRANCH_PATTERN, "must be a branch or tag pattern: letters, digits, . _ / * -")
    ),
]
SecretName = Annotated[str, AfterValidator(_github_secret_name)]
Command = Annotated[str, AfterValidator(_command)]
Port = Annotated[int, AfterValidator(_between(1, 65535))]
Percent = Annotated[int, AfterValidator(_between(1, 100))]
ConfigKey = Annotated[
    str,
    AfterValidator(_matches(_CONFIG_KEY, "must be a camelCase config key name such as sentryDsn")),
]


class _Model(BaseModel):
    """Base for every section: frozen, camelCase keys in YAML, unknown keys rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
    )


# --------------------------------------------------------------------------------------------
# Closed sets
# --------------------------------------------------------------------------------------------


class Environment(StrEnum):
    """The three environments; a stack is one of them."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"

    @property
    def is_protected(self) -> bool:
        """Staging and prod deployments need an approval; dev deploys on green CI."""
        return self is not Environment.DEV


class PodSecurityLevel(StrEnum):
    """Pod Security Standards level, applied as enforce, audit and warn labels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


DEFAULT_GITHUB_ENVIRONMENT: Final = {
    Environment.DEV: "development",
    Environment.STAGING: "staging",
    Environment.PROD: "production",
}

DEPLOY_WORKFLOW_FILE: Final = {
    Environment.DEV: "dev-deploy.yml",
    Environment.STAGING: "stage-deploy.yml",
    Environment.PROD: "prod-deploy.yml",
}

DEPLOY_SWITCH_VARIABLE: Final = {
    Environment.DEV: "DEV_DEPLOY_ENABLED",
    Environment.STAGING: "STAGING_DEPLOY_ENABLED",
    Environment.PROD: "PROD_DEPLOY_ENABLED",
}
"""The one contract of the deploy switch: the repository variable each deploy workflow reads.

Each stack writes its own variable from ``cicd:deploy.enabled``. It is a repository variable
because a job-level ``if:`` is evaluated before the job enters its environment and cannot see
environment variables; every job of the workflow is guarded by it, and the jobs in the
environment check the environment's ``DEPLOY_ENABLED`` again before touching the cluster.
"""

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


class ResourceAmounts(_Model):
    """CPU and memory as Kubernetes quantities."""

    cpu: Quantity = Field(description="CPU, for example 250m.")
    memory: Quantity = Field(description="Memory, for example 256Mi.")


class ContainerResources(_Model):
    """Requests and limits of the application container."""

    requests: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi"),
        description="What the scheduler reserves. Default 100m CPU, 128Mi memory.",
    )
    limits: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="256Mi"),
        description="The ceiling. Default 500m CPU, 256Mi memory.",
    )


class AppConfig(_Model):
    """The application being delivered (``cicd:app``)."""

    name: ShortDnsLabel = Field(description="Workload name; also names Services and labels.")
    repository: Slug = Field(description="GitHub repository name under `github:owner`.")
    default_branch: BranchPattern = Field(
        default="develop",
        description="Default branch: workflow files are committed here (workflow_run and "
        "workflow_dispatch only fire for files on it). Default develop.",
    )
    image: Annotated[
        str,
        AfterValidator(
            _matches(_IMAGE, "must be an image name without tag, such as ghcr.io/acme/webshop")
        ),
    ] = Field(description="Image repository, without a tag.")
    image_tag: Annotated[
        str, AfterValidator(_matches(_TAG, "must be an image tag such as 1.4.2"))
    ] = Field(
        description="Tag the stack first deploys; the deploy workflows move it afterwards. "
        "Never `latest`."
    )
    port: Port = Field(default=8080, description="Container port. Default 8080.")
    health_path: str | None = Field(
        default="/healthz",
        description="HTTP path for probes and canary analysis; null disables both. "
        "Default /healthz.",
    )
    replicas: Annotated[int, AfterValidator(_between(1, 50))] = Field(
        default=2, description="Pod count (stable pods for a canary). Default 2."
    )
    resources: ContainerResources = Field(
        default=ContainerResources(), description="Container requests and limits."
    )


class EnvironmentSecret(_Model):
    """A GitHub environment secret whose value is another (secret) stack config key."""

    name: SecretName = Field(description="Secret name in the GitHub environment.")
    config_key: ConfigKey = Field(
        description="Config key under `cicd:` holding the value, set with --secret."
    )
    rotate_outside_pulumi: bool = Field(
        default=False,
        description="When true the value is only written on create; later rotations made in "
        "GitHub are left alone (ignore_changes on remoteUpdatedAt). Default false.",
    )


class EnvironmentConfig(_Model):
    """Which environment this stack is (``cicd:environment``)."""

    name: Environment = Field(description="dev, staging or prod.")
    github_environment: Slug | None = Field(
        default=None,
        description="GitHub deployment environment. Default development, staging or production.",
    )
    namespace: DnsLabel = Field(description="Kubernetes namespace of this environment.")
    pod_security: PodSecurityLevel | None = Field(
        default=None,
        description="Pod Security Standards level. Default baseline in dev, restricted elsewhere.",
    )
    protect: bool | None = Field(
        default=None,
        description="Protect the namespace and its secrets against deletion "
        "(protect + retain_on_delete). Default true in prod only.",
    )
    url: HttpsUrl = Field(description="Public URL of the app, used by health checks.")
    secrets: tuple[EnvironmentSecret, ...] = Field(
        default=(), description="Extra environment secrets, values from secret config keys."
    )
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables (name: value); names A-Z, 0-9, _.",
    )

    @property
    def github_environment_name(self) -> str:
        return self.github_environment or DEFAULT_GITHUB_ENVIRONMENT[self.name]

    @property
    def pod_security_level(self) -> PodSecurityLevel:
        if self.pod_security is not None:
            return self.pod_security
        if self.name is Environment.DEV:
            return PodSecurityLevel.BASELINE
        return PodSecurityLevel.RESTRICTED

    @property
    def is_protected(self) -> bool:
        if self.protect is not None:
            return self.protect
        return self.name is Environment.PROD


class QuotaConfig(_Model):
    """ResourceQuota of the namespace."""

    requests_cpu: Quantity = Field(default="2", description="Total CPU requests. Default 2.")
    requests_memory: Quantity = Field(default="4Gi", description="Total memory requests.")
    limits_cpu: Quantity = Field(default="4", description="Total CPU limits. Default 4.")
    limits_memory: Quantity = Field(default="8Gi", description="Total memory limits.")
    pods: Annotated[int, AfterValidator(_between(1, 1000))] = Field(
        default=20, description="Maximum pods. Default 20."
    )


class LimitRangeConfig(_Model):
    """Per-container defaults and maximum (LimitRange) for pods that do not say."""

    default_request: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi"), description="Default requests."
    )
    default_limit: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="256Mi"), description="Default limits."
    )
    max: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="2", memory="2Gi"), description="Largest container."
    )


class ClusterConfig(_Model):
    """The cluster this environment lives in (``cicd:cluster``)."""

    kube_context: str | None = Field(
        default=None,
        description="kubeconfig context Pulumi uses; null means the current context.",
    )
    server: HttpsUrl = Field(description="API server URL written into the deployer kubeconfig.")
    certificate_authority_data: Annotated[str, AfterValidator(_base64)] = Field(
        description="Base64 CA bundle of the API server (public; not a secret)."
    )
    ingress_namespace: DnsLabel = Field(
        default="ingress-nginx",
        description="Namespace of the ingress controller allowed to reach the app.",
    )
    quota: QuotaConfig = Field(default=QuotaConfig(), description="Namespace ResourceQuota.")
    limit_range: LimitRangeConfig = Field(
        default=LimitRangeConfig(), description="Namespace LimitRange."
    )


class AccessConfig(_Model):
    """People's access to the namespace (``cicd:access``)."""

    viewer_groups: tuple[str, ...] = Field(
        default=(), description="Groups bound to the built-in `view` ClusterRole in the namespace."
    )
    operator_groups: tuple[str, ...] = Field(
        default=(),
        description="Groups bound to the built-in `edit` ClusterRole in the namespace. "
        "Prod ships with none.",
    )


Reviewer = str | int


class ReviewersConfig(_Model):
    """Required reviewers: slugs (looked up to ids) or numeric ids."""

    teams: tuple[Reviewer, ...] = Field(
        default=(), description="Team slugs or numeric team ids; at most 6."
    )
    users: tuple[Reviewer, ...] = Field(
        default=(), description="User logins or numeric user ids; at most 6."
    )


class ApprovalConfig(_Model):
    """Who approves a deployment and from where it may come (``cicd:approval``)."""

    reviewers: ReviewersConfig = Field(
        default=ReviewersConfig(), description="Required reviewers of the environment."
    )
    wait_timer: Annotated[int, AfterValidator(_between(0, 43200))] = Field(
        default=0, description="Minutes to wait before a job may proceed (0..43200). Default 0."
    )
    prevent_self_review: bool = Field(
        default=True, description="The person who triggered a deployment cannot approve it."
    )
    can_admins_bypass: bool | None = Field(
        default=None,
        description="Admins may skip the protection rules. Default true in dev, false elsewhere.",
    )
    protected_branches: bool = Field(
        default=False,
        description="Deploy only from branches with protection rules (GitHub mode 1 of 2).",
    )
    custom_branch_policies: bool = Field(
        default=True,
        description="Deploy only from the branches and tags listed here (GitHub mode 2 of 2).",
    )
    branches: tuple[BranchPattern, ...] = Field(
        default=(), description="Branch patterns allowed to deploy (custom policies)."
    )
    tags: tuple[BranchPattern, ...] = Field(
        default=(), description="Tag patterns allowed to deploy (custom policies)."
    )


class RegistryConfig(_Model):
    """Registry pull access (``cicd:registry``); the token is ``cicd:registryToken``."""

    server: str = Field(default="ghcr.io", description="Registry host. Default ghcr.io.")
    username: Slug = Field(description="Account that owns the pull token.")
    pin_digest: bool = Field(
        default=False,
        description="Resolve app.imageTag to its digest with pulumi-docker and deploy "
        "image@sha256:... Default false.",
    )


class CanaryStep(_Model):
    """One canary step: send `weight` percent to the new version, then pause."""

    weight: Percent = Field(description="Traffic percent for the new version (1..100).")
    pause: Duration | None = Field(
        default=None,
        description="How long to wait; omitted means wait until a person promotes.",
    )


class AnalysisConfig(_Model):
    """Background analysis that aborts a bad canary."""

    enabled: bool = Field(default=True, description="Run analysis during the canary.")
    interval: Duration = Field(default="30s", description="Time between measurements.")
    failure_limit: Annotated[int, AfterValidator(_between(0, 20))] = Field(
        default=2, description="Failed measurements tolerated before the rollout aborts."
    )
    success_rate: Annotated[float, AfterValidator(_float_between(0.5, 1.0))] = Field(
        default=0.95, description="Minimum ratio of non-5xx responses (with Prometheus)."
    )
    prometheus_address: HttpUrl | None = Field(
        default=None, description="Prometheus URL; when set the success rate is checked too."
    )
    prometheus_namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace Prometheus scrapes from; with prometheusAddress set the "
        "namespace's network policy lets it reach the metrics port. Default monitoring.",
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Port the app serves /metrics on. Default: app.port.",
    )


class NginxRoutingConfig(_Model):
    """Exact traffic split through the NGINX ingress controller."""

    host: Annotated[
        str,
        AfterValidator(
            _matches(re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"), "must be a host name")
        ),
    ] = Field(description="Host the stack's Ingress serves; Argo Rollouts splits its traffic.")
    ingress_class_name: DnsLabel = Field(
        default="nginx", description="IngressClass of the NGINX controller. Default nginx."
    )


class CanaryConfig(_Model):
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
        description="Install the Argo Rollouts controller (Helm) from this stack; one stack "
        "per cluster.",
    )
    controller_namespace: DnsLabel = Field(
        default="argo-rollouts", description="Namespace of the controller."
    )
    controller_chart_version: str = Field(
        default="2.40.5", description="argo-rollouts Helm chart version."
    )
    step_deadline: Duration = Field(
        default="3m",
        description="Longest a step may take to scale (the Rollout's progressDeadlineSeconds; "
        "Argo Rollouts aborts a step that takes longer). The workflow's wait is derived from "
        "it and the pauses. Default 3m.",
    )
    rollback_window: Annotated[int, AfterValidator(_between(1, 10))] = Field(
        default=2,
        description="Revisions within which going back skips the canary steps (Argo "
        "rollbackWindow): a rollback to the previous stable digest is one fast scale-up. "
        "Default 2.",
    )


class ScannersConfig(_Model):
    """Security scanners of the CI workflow."""

    trivy_severity: str = Field(
        default="CRITICAL,HIGH", description="Trivy severities that fail the build."
    )
    snyk: bool = Field(default=True, description="Snyk on dependencies; needs cicd:snykToken.")
    sonarqube: bool = Field(default=False, description="SonarQube; needs cicd:sonarToken.")
    sonarqube_host_url: HttpsUrl | None = Field(
        default=None, description="SonarQube server URL (with sonarqube: true)."
    )
    sarif_upload: bool = Field(
        default=True,
        description="Upload Trivy's SARIF report to GitHub code scanning (needs code scanning: "
        "public repositories, or GitHub Advanced Security on private ones). Off: Trivy's exit "
        "code still gates, its table goes to the job log.",
    )


class NotificationsConfig(_Model):
    """Who hears about what."""

    discord: bool = Field(
        default=True, description="Build status on develop to Discord; cicd:discordWebhookUrl."
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


class PipelineCommands(_Model):
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


class PipelineConfig(_Model):
    """The shared CI pipeline (``cicd:pipeline``; dev stack only)."""

    node_version: Annotated[
        str, AfterValidator(_matches(re.compile(r"^[0-9]+(\.[0-9]+){0,2}$"), "must be a version"))
    ] = Field(default="22", description="Node.js version.")
    packages: Annotated[
        tuple[
            Annotated[
                str,
                AfterValidator(
                    _matches(_NPM_NAME, "must be an npm package name such as api or @acme/api")
                ),
            ],
            ...,
        ],
        AfterValidator(_package_list),
    ] = Field(
        description='Workspace packages by their npm name (package.json "name", scoped or '
        f"not), each unit-tested in its own matrix job; 1 to {MAX_MATRIX_JOBS}, no repeats."
    )
    commands: PipelineCommands = Field(default=PipelineCommands(), description="Commands.")
    build_context: str = Field(default=".", description="Docker build context.")
    dockerfile: str = Field(default="Dockerfile", description="Dockerfile path.")
    coverage_path: str = Field(
        default="coverage",
        description="Coverage report folder, relative to each package's own folder (where "
        "Vitest and Jest write it when run in the workspace).",
    )
    scanners: ScannersConfig = Field(default=ScannersConfig(), description="Scanners.")
    notifications: NotificationsConfig = Field(
        default=NotificationsConfig(), description="Notifications."
    )


class DeployTests(_Model):
    """Checks a deploy workflow runs against the deployed environment."""

    integration: Command | None = Field(default=None, description="Integration tests (dev).")
    e2e: Command | None = Field(default=None, description="End-to-end tests (staging).")
    performance_script: str | None = Field(default=None, description="k6 script path (staging).")


class DeployConfig(_Model):
    """The environment's deploy workflow (``cicd:deploy``)."""

    enabled: bool = Field(
        description="Whether the deploy workflow may run (DEPLOY_ENABLED). Prod ships false: "
        "prepared, not activated."
    )
    node_version: str = Field(default="22", description="Node.js version for test steps.")
    rollout_timeout: Duration | None = Field(
        default=None,
        description="How long one run waits for the rollout. Default: derived from the canary "
        "steps (pauses plus one step deadline per weight); when set it must be at least that.",
    )
    job_timeout_minutes: Annotated[int, AfterValidator(_between(10, 360))] = Field(
        default=60,
        description="timeout-minutes of the deploy job; must hold the wait, the health check "
        "and a rollback. Default 60.",
    )
    image_policy: bool | None = Field(
        default=None,
        description="Render a sigstore policy-controller ClusterImagePolicy that admits into "
        "the namespace only images signed by this repository's CI. Default true in staging "
        "and prod, false in dev.",
    )
    health_check_retries: Annotated[int, AfterValidator(_between(1, 60))] = Field(
        default=10, description="Attempts of the post-deploy health check."
    )
    tests: DeployTests = Field(default=DeployTests(), description="Tests after the deploy.")


class BranchProtectionConfig(_Model):
    """Protection of the branch this stack owns (``cicd:branchProtection``)."""

    branch: BranchPattern = Field(description="develop in dev, main in prod.")
    required_approvals: Annotated[int, AfterValidator(_between(1, 6))] = Field(
        default=1, description="Approving reviews a pull request needs."
    )
    require_code_owner_reviews: bool = Field(default=False, description="CODEOWNERS must approve.")
    dismiss_stale_reviews: bool = Field(default=True, description="New commits dismiss approvals.")


# Secret keys: declared in Pulumi.yaml, read with get_secret, never part of a section object.
REGISTRY_TOKEN_KEY: Final = "registryToken"
PIPELINE_SECRET_KEYS: Final = {
    "snykToken": "SNYK_TOKEN",
    "sonarToken": "SONAR_TOKEN",
    "discordWebhookUrl": "DISCORD_WEBHOOK_URL",
    "slackWebhookUrl": "SLACK_WEBHOOK_URL",
}

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
)


class StackSettings(_Model):
    """All plain (non-secret) sections of one stack."""

    app: AppConfig
    environment: EnvironmentConfig
    cluster: ClusterConfig
    access: AccessConfig = AccessConfig()
    approval: ApprovalConfig
    registry: RegistryConfig
    canary: CanaryConfig = CanaryConfig()
    pipeline: PipelineConfig | None = None
    deploy: DeployConfig
    branch_protection: BranchProtectionConfig | None = None

    @property
    def release_plan(self) -> ReleasePlan:
        """The canary steps as a plan; a Deployment is one step straight to 100%."""
        steps = (
            tuple(
                PlanStep(
                    step.weight,
                    duration_seconds(step.pause) if step.pause else None,
                    step.pause,
                )
                for step in self.canary.steps
            )
            if self.canary.enabled
            else (PlanStep(100, None, None),)
        )
        return ReleasePlan(steps, duration_seconds(self.canary.step_deadline))

    @property
    def rollout_wait_seconds(self) -> int:
        """What one deploy run waits for the rollout: the config's timeout or the plan's wait."""
        if self.deploy.rollout_timeout is not None:
            return duration_seconds(self.deploy.rollout_timeout)
        return self.release_plan.wait_seconds

    @property
    def image_policy_enabled(self) -> bool:
        if self.deploy.image_policy is not None:
            return self.deploy.image_policy
        return self.environment.name.is_protected


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
    sections: StackSettings
    secrets: Secrets
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Cross-field rules: each yields Problems with explicit paths.
# --------------------------------------------------------------------------------------------


def _canary_rules(s: StackSettings) -> Iterable[Problem]:
    canary = s.canary
    previous = 0
    for index, step in enumerate(canary.steps):
        if step.weight <= previous:
            yield Problem(
                f"canary.steps[{index}].weight",
                f"must be greater than the previous step's weight {previous}",
                str(step.weight),
            )
        previous = max(previous, step.weight)
    if canary.enabled and not canary.steps:
        yield Problem("canary.steps", "must list at least one step when canary.enabled is true")
    if canary.enabled and canary.analysis.enabled and s.app.health_path is None:
        yield Problem(
            "app.healthPath",
            "is required when canary analysis is enabled (the analysis probes it)",
            "null",
        )
    if s.app.health_path is not None and not s.app.health_path.startswith("/"):
        yield Problem("app.healthPath", "must start with '/'", s.app.health_path)
    yield from _timing_rules(s)


def _timing_rules(s: StackSettings) -> Iterable[Problem]:
    """Reject timing that cannot fit: a wait shorter than the steps, a job shorter than the wait."""
    if s.canary.enabled and not s.canary.steps:
        return
    plan = s.release_plan
    if s.deploy.rollout_timeout is not None:
        timeout = duration_seconds(s.deploy.rollout_timeout)
        if timeout < plan.wait_seconds:
            yield Problem(
                "deploy.rolloutTimeout",
                f"must be at least {plan.wait_seconds}s: the canary steps between manual pauses "
                f"take up to that (pauses plus {s.canary.step_deadline} per weight step)",
                s.deploy.rollout_timeout,
            )
    needed = job_seconds_needed(
        s.rollout_wait_seconds, plan.rollback_seconds, s.deploy.health_check_retries
    )
    if s.deploy.job_timeout_minutes * 60 < needed:
        yield Problem(
            "deploy.jobTimeoutMinutes",
            f"must be at least {-(-needed // 60)}: the job waits up to "
            f"{s.rollout_wait_seconds}s for the rollout, then checks health and may roll back",
            str(s.deploy.job_timeout_minutes),
        )


def _approval_rules(s: StackSettings) -> Iterable[Problem]:
    env = s.environment.name
    a = s.approval
    for kind in ("teams", "users"):
        entries = getattr(a.reviewers, kind)
        if len(entries) > 6:
            yield Problem(
                f"approval.reviewers.{kind}",
                "must list at most 6 entries (GitHub's limit)",
                str(len(entries)),
            )
    if a.protected_branches == a.custom_branch_policies:
        yield Problem(
            "approval",
            "must set exactly one of protectedBranches and customBranchPolicies to true",
            f"protectedBranches={str(a.protected_branches).lower()}, "
            f"customBranchPolicies={str(a.custom_branch_policies).lower()}",
        )
    if a.custom_branch_policies and not (a.branches or a.tags):
        yield Problem(
            "approval.branches", "must list a branch or tag when customBranchPolicies is true"
        )
    if a.protected_branches and (a.branches or a.tags):
        yield Problem(
            "approval.branches",
            "must be empty when protectedBranches is true (GitHub ignores them)",
        )
    if env.is_protected:
        if not (a.reviewers.teams or a.reviewers.users):
            yield Problem("approval.reviewers", f"must name at least one reviewer in {env}")
        if not a.prevent_self_review:
            yield Problem("approval.preventSelfReview", f"must be true in {env}", "false")
        if a.can_admins_bypass:
            yield Problem("approval.canAdminsBypass", f"must be false in {env}", "true")
    if env is Environment.PROD:
        if a.protected_branches:
            yield Problem(
                "approval.protectedBranches",
                "must be false in prod: prod deploys only from main or release tags",
                "true",
            )
        for index, branch in enumerate(a.branches):
            if branch != "main":
                yield Problem(f"approval.branches[{index}]", "must be main in prod", branch)
        for index, tag in enumerate(a.tags):
            if not re.fullmatch(r"v[0-9A-Za-z.*]*", tag):
                yield Problem(
                    f"approval.tags[{index}]", "must be a release tag pattern such as v*", tag
                )


def _environment_rules(s: StackSettings, stack: str) -> Iterable[Problem]:
    env = s.environment
    if env.name.value != stack:
        yield Problem("environment.name", f"must match the stack name '{stack}'", env.name.value)
    if env.name.is_protected and env.pod_security_level is not PodSecurityLevel.RESTRICTED:
        yield Problem(
            "environment.podSecurity", f"must be restricted in {env.name}", env.pod_security_level
        )
    for name in env.variables:
        try:
            _github_secret_name(name)
        except ValueError as err:
            yield Problem(f"environment.variables.{name}", str(err), name)
    names = [secret.name for secret in env.secrets]
    for index, name in enumerate(names):
        if name in names[:index] or name == "KUBECONFIG":
            yield Problem(
                f"environment.secrets[{index}].name",
                "must be unique and not KUBECONFIG (the stack writes that one)",
                name,
            )
    if s.pipeline is not None and env.name is not Environment.DEV:
        yield Problem("pipeline", "must only be set in the dev stack, which owns ci.yml")
    if s.pipeline is None and env.name is Environment.DEV:
        yield Problem("pipeline", "is required in the dev stack, which owns ci.yml")
    expected_branch = {Environment.DEV: s.app.default_branch, Environment.PROD: "main"}
    bp = s.branch_protection
    wanted = expected_branch.get(env.name)
    if wanted is None and bp is not None:
        yield Problem(
            "branchProtection", f"must not be set in {env.name}: dev and prod own the branches"
        )
    elif wanted is not None and (bp is None or bp.branch != wanted):
        yield Problem(
            "branchProtection.branch",
            f"must be {wanted} in {env.name}",
            None if bp is None else bp.branch,
        )
    if s.app.image.split("/")[0] != s.registry.server:
        yield Problem("app.image", f"must be in the registry {s.registry.server}", s.app.image)
    if s.app.image_tag == "latest":
        yield Problem("app.imageTag", "must pin a version, never latest", "latest")
    sonar = s.pipeline.scanners if s.pipeline else None
    if sonar is not None and sonar.sonarqube and sonar.sonarqube_host_url is None:
        yield Problem("pipeline.scanners.sonarqubeHostUrl", "is required when sonarqube is true")


def _warnings(s: StackSettings) -> Iterable[str]:
    canary = s.canary
    if canary.enabled and canary.nginx is None and canary.steps:
        smallest = min(step.weight for step in canary.steps)
        if s.app.replicas * smallest < 100:
            yield (
                f"cicd:canary.steps: without traffic routing the smallest weight {smallest}% "
                f"needs at least {-(-100 // smallest)} replicas to be honoured "
                f"(app.replicas is {s.app.replicas}); Argo Rollouts rounds to whole pods"
            )


# --------------------------------------------------------------------------------------------
# Formatting pydantic errors into Problems
# --------------------------------------------------------------------------------------------

_TYPE_WORDS: Final = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
    "extra_forbidden": "is not a known setting",
}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"str", "int"}:  # union member tags, not keys
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems_from(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        path = _path(item["loc"])
        kind = item["type"]
        if kind == "value_error":
            message = str(item["msg"]).removeprefix("Value error, ")
        elif kind == "enum":
            message = f"must be one of {item['ctx']['expected'].replace(chr(39), '')}"
        else:
            message = _TYPE_WORDS.get(kind, str(item["msg"]).lower())
        if path in seen:  # a union reports each member; one line per key is enough
            continue
        seen.add(path)
        got = None if kind == "missing" else _show(item["input"])
        problems.append(Problem(path, message, got))
    return problems


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def parse_sections(
    raw: Mapping[str, Any], stack: str
) -> tuple[StackSettings | None, list[Problem]]:
    """Validate the plain sections of a stack (already decoded from YAML/JSON)."""
    try:
        settings = StackSettings.model_validate(dict(raw))
    except ValidationError as err:
        return None, _problems_from(err)
    problems = [
        *_environment_rules(settings, stack),
        *_approval_rules(settings),
        *_canary_rules(settings),
    ]
    return settings, problems


def _required_secret_keys(s: StackSettings) -> dict[str, str]:
    """Secret config keys this stack needs, with why."""
    needed = {REGISTRY_TOKEN_KEY: "registry pull access"}
    if s.pipeline is not None:
        scanners, notify = s.pipeline.scanners, s.pipeline.notifications
        if scanners.snyk:
            needed["snykToken"] = "pipeline.scanners.snyk is true"
        if scanners.sonarqube:
            needed["sonarToken"] = "pipeline.scanners.sonarqube is true"
        if notify.discord:
            needed["discordWebhookUrl"] = "pipeline.notifications.discord is true"
        if notify.slack:
            needed["slackWebhookUrl"] = "pipeline.notifications.slack is true"
    for secret in s.environment.secrets:
        needed[secret.config_key] = f"environment secret {secret.name} reads it"
    return needed


def load() -> Settings:
    """Read and validate the current stack's config; raise ConfigError listing every problem."""
    stack = pulumi.get_stack()
    stack_file = f"Pulumi.{stack}.yaml"
    cfg = pulumi.Config(NAMESPACE)
    problems: list[Problem] = []

    raw: dict[str, Any] = {}
    for section in SECTIONS:
        if runtime_config.is_config_secret(f"{NAMESPACE}:{section}"):
            problems.append(
                Problem(section, "must not contain secure values; secrets are separate keys")
            )
            continue
        try:
            value = cfg.get_object(section)
        except pulumi.ConfigTypeError:
            problems.append(Problem(section, "must be a mapping", "a non-object value"))
            continue
        # Pulumi.yaml declares `default: {}` for optional sections: empty means unset. A missing
        # required section is reported by pydantic.
        if value not in (None, {}):
            raw[section] = value

    settings, section_problems = parse_sections(raw, stack)
    problems.extend(section_problems)

    known = set(SECTIONS) | {REGISTRY_TOKEN_KEY, *PIPELINE_SECRET_KEYS}
    # Keys that environment.secrets names, read from the raw mapping so that a problem elsewhere
    # in the section does not turn them into "unknown" noise.
    raw_secrets = (
        (raw.get("environment") or {}).get("secrets")
        if isinstance(raw.get("environment"), dict)
        else None
    )
    for entry in raw_secrets if isinstance(raw_secrets, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("configKey"), str):
            known.add(entry["configKey"])
    for full_key in sorted(_all_config_keys()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key in known or cfg.get(key) == "":
            continue  # an empty value is an optional key's declared default in Pulumi.yaml
        if runtime_config.is_config_secret(full_key):
            problems.append(
                Problem(key, "is set but nothing reads it (no environment.secrets entry)")
            )
        else:
            problems.append(Problem(key, "is not a known setting"))

    github_owner = pulumi.Config("github").get("owner")
    if not github_owner:
        problems.append(
            Problem("owner", "is required (the GitHub organisation)", namespace="github")
        )

    secrets: Secrets | None = None
    if settings is not None:
        needed = _required_secret_keys(settings)
        for key, why in needed.items():
            if cfg.get(key) in (None, ""):
                problems.append(
                    Problem(key, f"is required ({why}); set it with pulumi config set --secret")
                )
            elif not runtime_config.is_config_secret(f"{NAMESPACE}:{key}"):
                problems.append(
                    Problem(
                        key,
                        "must be set with pulumi config set --secret, not in plain text",
                        "[secret]",
                    )
                )
        if not problems:
            secrets = Secrets(
                registry_token=cfg.require_secret(REGISTRY_TOKEN_KEY),
                pipeline={
                    PIPELINE_SECRET_KEYS[key]: cfg.require_secret(key)
                    for key in PIPELINE_SECRET_KEYS
                    if key in needed
                },
                environment={
                    secret.name: cfg.require_secret(secret.config_key)
                    for secret in settings.environment.secrets
                },
            )

    if problems or settings is None or secrets is None or not github_owner:
        raise ConfigError(stack_file, problems)
    return Settings(
        stack=stack,
        stack_file=stack_file,
        github_owner=github_owner,
        sections=settings,
        secrets=secrets,
        warnings=tuple(_warnings(settings)),
    )


def _all_config_keys() -> set[str]:
    keys = set(runtime_config.CONFIG.get())
    keys |= set(runtime_config.get_config_env())
    return keys
