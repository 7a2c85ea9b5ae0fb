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
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components.messages import escape
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
        """One line, whatever the values hold: escaped (components/messages.py)."""
        got = f" (got {self.got})" if self.got is not None else ""
        return escape(f"{stack_file}: {self.namespace}:{self.path} {self.message}{got}")


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
# URL paths, queries and fragments: RFC 3986 characters only (no space, no '{', so no '${{').
_URL_TAIL = r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?"
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?" + _URL_TAIL + "$")
_HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?" + _URL_TAIL + "$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/@+-]{1,255}$")
_NODE_VERSION = re.compile(r"^[0-9]{1,3}(\.[0-9]+){0,2}$")
_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_TRIVY_SEVERITIES: Final = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# GitHub logins: letters, digits and single hyphens, at most 39 characters.
_USER_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Team slugs as in github.com/orgs/ORG/teams/SLUG: lower case, digits, '-' and '_'.
_TEAM_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
_NUMERIC_ID = re.compile(r"^[0-9]+$")
# Names that say "this is a secret": such a value must never sit in a stack file in plain text.
_SECRET_LOOKING = re.compile(
    r"(token|secret|passw(or)?d|pwd|webhook|api_?key|private_?key|credential|auth)", re.IGNORECASE
)
_EXPRESSION = "${{"
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
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise ValueError("must not contain control characters")
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
HealthPath = Annotated[
    str,
    AfterValidator(
        _matches(
            _URL_PATH, "must be a URL path starting with '/', without spaces, such as /healthz"
        )
    ),
]
RelativePath = Annotated[
    str,
    AfterValidator(
        _matches(
            _RELATIVE_PATH,
            "must be a path inside the repository: letters, digits, . _ / @ + -, "
            "not absolute, no '..'",
        )
    ),
]
NodeVersion = Annotated[
    str,
    AfterValidator(_matches(_NODE_VERSION, "must be a Node.js version such as 22 or 22.11.0")),
]
SemVer = Annotated[
    str, AfterValidator(_matches(_SEMVER, "must be a semantic version such as 2.40.5"))
]


def _trivy_severity(value: str) -> str:
    parts = value.split(",")
    if not value or any(part not in _TRIVY_SEVERITIES for part in parts):
        raise ValueError(
            f"must be a comma-separated list of {', '.join(_TRIVY_SEVERITIES)} "
            "(Trivy's severities, no spaces)"
        )
    return value


TrivySeverity = Annotated[str, AfterValidator(_trivy_severity)]


def _reviewer(pattern: re.Pattern[str], words: str) -> Callable[[Any], Any]:
    """A reviewer is a numeric id (positive) or a slug/login in GitHub's syntax."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"{words}, or a numeric id; not true/false")
        if isinstance(value, int) or (isinstance(value, str) and _NUMERIC_ID.fullmatch(value)):
            if int(value) <= 0:
                raise ValueError("must be a positive numeric id (GitHub ids start at 1)")
            return value
        if isinstance(value, str) and pattern.fullmatch(value):
            return value
        raise ValueError(f"{words}, or a numeric id")

    return check


def _is_type(annotation: Any, *types: type) -> bool:
    """Whether a field's annotation is one of ``types`` or an optional of one (not a wider union)."""
    if annotation in types:
        return True
    args = [arg for arg in getattr(annotation, "__args__", ()) if arg is not type(None)]
    return len(args) == 1 and args[0] in types


_HOST = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
HostName = Annotated[str, AfterValidator(_matches(_HOST, "must be a host name"))]


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            "must be a CIDR block such as 10.20.0.0/16 (host bits zero) or 2001:db8::/32"
        ) from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


class _Model(BaseModel):
    """Base for every section: frozen, camelCase keys in YAML, unknown keys rejected.

    Two rules hold for every field of every section, before its own type is checked:

    - types are strict where coercion would hide a mistake: a boolean is not a number
      (pydantic would read ``replicas: true`` as 1), and a switch is ``true`` or ``false``, not
      ``"yes"``, ``"false"`` or ``0``; a quoted number (``replicas: "3"``) is a string;
    - no string may contain ``${{``: values from config are data. Only the workflow generator
      writes GitHub expressions (components/workflows/model.py refuses any other), so a config
      value can never become an expression in a workflow file.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        field_info = cls.model_fields.get(info.field_name or "")
        annotation = field_info.annotation if field_info is not None else None
        if isinstance(value, bool) and _is_type(annotation, int, float):
            raise ValueError("must be a number, not true/false")
        numeric = isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9.]+\s*", value)
        if numeric and _is_type(annotation, int, float):
            raise ValueError("must be a number, not a string (remove the quotes)")
        if value is not None and not isinstance(value, bool) and _is_type(annotation, bool):
            raise ValueError("must be true or false (unquoted)")
        strings: list[Any] = [value]
        if isinstance(value, list):
            strings = value
        elif isinstance(value, dict) and getattr(annotation, "__origin__", None) is dict:
            strings = [*value, *value.values()]
        if any(isinstance(item, str) and _EXPRESSION in item for item in strings):
            raise ValueError(
                "must not contain '${{': GitHub expressions are written by the generator only; "
                "config values are data"
            )
        return value


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


class ClusterAccess(StrEnum):
    """How the deploy workflows authenticate to the cluster (``cicd:cluster.access``)."""

    TOKEN = "token"
    GITHUB_OIDC = "githubOidc"


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
    health_path: HealthPath | None = Field(
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
    platform_stack: Annotated[
        str,
        AfterValidator(
            _matches(
                re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"),
                "must be a fully qualified stack name ORG/PROJECT/STACK, "
                "such as acme/cicd-platform/nonprod",
            )
        ),
    ] = Field(
        description="The platform stack of this cluster (platform/ project), read through a "
        "StackReference: ingress class and namespace, Argo Rollouts and monitoring namespaces, "
        "GitHub OIDC trust. Never repeated here."
    )
    access: ClusterAccess = Field(
        default=ClusterAccess.TOKEN,
        description="How the deploy workflows authenticate: token (a ServiceAccount token in "
        "the environment's KUBECONFIG secret) or githubOidc (a short-lived GitHub OIDC token "
        "per run, trusted by the API server; no stored credential). Default token.",
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
TeamReviewer = Annotated[
    Reviewer,
    BeforeValidator(_reviewer(_TEAM_SLUG, "must be a team slug (lower case, digits, '-', '_')")),
]
UserReviewer = Annotated[
    Reviewer,
    BeforeValidator(_reviewer(_USER_LOGIN, "must be a GitHub login (letters, digits, '-')")),
]


class ReviewersConfig(_Model):
    """Required reviewers: slugs (looked up to ids) or numeric ids."""

    teams: tuple[TeamReviewer, ...] = Field(
        default=(), description="Team slugs or numeric team ids; at most 6."
    )
    users: tuple[UserReviewer, ...] = Field(
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
    metrics_port: Port | None = Field(
        default=None,
        description="Port the app serves /metrics on. Default: app.port.",
    )


class NginxRoutingConfig(_Model):
    """Exact traffic split through the NGINX ingress controller."""

    host: HostName | None = Field(
        default=None,
        description="Deprecated: the split uses the stack's one Ingress (cicd:ingress.host). "
        "When set it must equal that host.",
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
        description="Removed: the Argo Rollouts controller is cluster-scoped and installed by "
        "the platform project (platform/Pulumi.<cluster>.yaml). Must be false.",
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

    trivy_severity: TrivySeverity = Field(
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

    node_version: NodeVersion = Field(default="22", description="Node.js version.")
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
    build_context: RelativePath = Field(default=".", description="Docker build context.")
    dockerfile: RelativePath = Field(default="Dockerfile", description="Dockerfile path.")
    coverage_path: RelativePath = Field(
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
    performance_script: RelativePath | None = Field(
        default=None, description="k6 script path (staging)."
    )


class DeployConfig(_Model):
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


class IngressConfig(_Model):
    """The environment's one Ingress, with TLS from cert-manager (``cicd:ingress``).

    The IngressClass and the controller's namespace come from the platform stack. A canary with
    ``canary.nginx`` splits traffic on this same Ingress.
    """

    host: HostName | None = Field(
        default=None,
        description="Host the Ingress serves. Default the host of environment.url, so the "
        "health checks and E2E tests reach what the stack exposes.",
    )
    cluster_issuer: DnsLabel = Field(
        description="cert-manager ClusterIssuer that issues the TLS certificate "
        "(annotation cert-manager.io/cluster-issuer)."
    )
    tls_secret_name: DnsLabel | None = Field(
        default=None,
        description="Secret cert-manager writes the certificate to. Default <app.name>-tls.",
    )


class Protocol(StrEnum):
    """Transport protocol of a NetworkPolicy port."""

    TCP = "TCP"
    UDP = "UDP"


class EgressPort(_Model):
    """One destination port of an egress rule."""

    port: Port = Field(description="Destination port (1..65535).")
    protocol: Protocol = Field(default=Protocol.TCP, description="TCP or UDP. Default TCP.")


class EgressRule(_Model):
    """Where the app may connect to besides DNS: CIDR blocks and/or namespaces, on given ports."""

    name: ShortDnsLabel = Field(
        description="Names the NetworkPolicy allow-egress-<name>, such as database."
    )
    cidrs: tuple[Cidr, ...] = Field(
        default=(), description="Destination CIDR blocks (outside the cluster: a database, an API)."
    )
    namespaces: tuple[DnsLabel, ...] = Field(
        default=(), description="Destination namespaces in the cluster (all their pods)."
    )
    ports: tuple[EgressPort, ...] = Field(
        description="Destination ports; at least one, so a rule never opens every port."
    )


class NetworkConfig(_Model):
    """Network policy additions to the namespace's default deny (``cicd:network``)."""

    egress: tuple[EgressRule, ...] = Field(
        default=(),
        description="Egress allow-list of the app's pods, one NetworkPolicy per entry. "
        "Default none: only DNS.",
    )


_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class GrafanaDashboardConfig(_Model):
    """The delivery-metrics dashboard as a ConfigMap for the Grafana sidecar."""

    enabled: bool = Field(
        default=False,
        description='Ship the dashboard ConfigMap (label grafana_dashboard: "1"). Default '
        "false. It belongs with Grafana in the platform stack; dev holds it until it moves.",
    )
    namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace the Grafana sidecar watches. Default monitoring.",
    )
    folder: str | None = Field(
        default=None,
        description="Grafana folder (the sidecar's grafana_folder annotation); null: the "
        "sidecar's default folder.",
    )


class MetricsConfig(_Model):
    """Delivery metrics job (``cicd:metrics``; dev stack only, which owns the shared files)."""

    enabled: bool = Field(
        default=False,
        description="Commit metrics.yml and the delivery_metrics package. Default false.",
    )
    schedule: Annotated[
        str, AfterValidator(_matches(_CRON, "must be a cron expression of five fields"))
    ] = Field(default="17 6 * * *", description="When the job runs (UTC cron). Default 06:17.")
    pushgateway_url: HttpUrl | None = Field(
        default=None,
        description="Prometheus Pushgateway base URL; the figures are pushed there when set.",
    )
    windows: tuple[Annotated[int, AfterValidator(_between(1, 90))], ...] = Field(
        default=(7, 30), description="Window lengths in days, each compared with the one before."
    )
    environments: tuple[Slug, ...] = Field(
        default=("development", "staging", "production"),
        description="GitHub environments whose deployments are measured.",
    )
    grafana_dashboard: GrafanaDashboardConfig = Field(
        default=GrafanaDashboardConfig(), description="Grafana dashboard ConfigMap."
    )


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
    "ingress",
    "network",
    "metrics",
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
    ingress: IngressConfig
    network: NetworkConfig = NetworkConfig()
    metrics: MetricsConfig | None = None

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


def ingress_host(s: StackSettings) -> str:
    """The host of the environment's Ingress: ``ingress.host``, else the host of its URL."""
    return s.ingress.host or str(urlsplit(s.environment.url).hostname)


def _cluster_side_rules(s: StackSettings) -> Iterable[Problem]:
    """Ingress, egress and what moved to the platform project."""
    if s.canary.install_controller:
        yield Problem(
            "canary.installController",
            "must be false: the Argo Rollouts controller is installed by the platform project "
            "(platform/Pulumi.<cluster>.yaml); see the README's migration steps",
            "true",
        )
    nginx = s.canary.nginx
    if nginx is not None and nginx.host is not None and nginx.host != ingress_host(s):
        yield Problem(
            "canary.nginx.host",
            f"must equal the Ingress host {ingress_host(s)}: the canary splits the stack's "
            "one Ingress",
            nginx.host,
        )
    names = [rule.name for rule in s.network.egress]
    for index, rule in enumerate(s.network.egress):
        path = f"network.egress[{index}]"
        if rule.name in names[:index]:
            yield Problem(f"{path}.name", "must be unique", rule.name)
        if not (rule.cidrs or rule.namespaces):
            yield Problem(path, "must name at least one destination in cidrs or namespaces")
        if not rule.ports:
            yield Problem(f"{path}.ports", "must list at least one port")


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
        yield Problem(
            "pipeline",
            f"must be removed from the {env.name} stack: only the dev stack sets it (dev owns "
            "ci.yml)",
        )
    if s.pipeline is None and env.name is Environment.DEV:
        yield Problem("pipeline", "is required in the dev stack, which owns ci.yml")
    expected_branch = {Environment.DEV: s.app.default_branch, Environment.PROD: "main"}
    bp = s.branch_protection
    wanted = expected_branch.get(env.name)
    if wanted is None and bp is not None:
        yield Problem(
            "branchProtection",
            f"must be removed from the {env.name} stack: dev protects {s.app.default_branch} "
            "and prod protects main",
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


def _metrics_rules(s: StackSettings) -> Iterable[Problem]:
    metrics = s.metrics
    if metrics is None:
        return
    if s.environment.name is not Environment.DEV:
        yield Problem("metrics", "must only be set in the dev stack, which owns the shared files")
    if not metrics.windows or len(set(metrics.windows)) != len(metrics.windows):
        yield Problem("metrics.windows", "must list distinct window lengths", str(metrics.windows))
    if not metrics.environments:
        yield Problem("metrics.environments", "must name at least one GitHub environment")
    if metrics.grafana_dashboard.enabled and not metrics.enabled:
        yield Problem(
            "metrics.grafanaDashboard.enabled",
            "needs metrics.enabled: the dashboard shows what the job pushes",
            "true",
        )
    if metrics.grafana_dashboard.enabled and metrics.pushgateway_url is None:
        yield Problem(
            "metrics.pushgatewayUrl",
            "is required when the Grafana dashboard is enabled (Prometheus reads the Pushgateway)",
        )


STACK_VARIABLES: Final = frozenset(
    {"NAMESPACE", "WORKLOAD_NAME", "WORKLOAD_KIND", "APP_URL", "IMAGE", "DEPLOY_ENABLED"}
)
"""Environment variables the stack writes itself (``__main__.py``); config may not set them."""

REPOSITORY_VARIABLES: Final = frozenset({"PROD_DEPLOY_ENABLED"})
"""Repository variables a stack writes; an environment variable of that name would shadow it."""

MAX_ENVIRONMENT_VARIABLES: Final = 100
"""GitHub's limit of configuration variables per environment."""

MAX_VARIABLE_BYTES: Final = 48 * 1024
"""GitHub's limit on the size of one configuration variable (48 KB)."""

MAX_GROUP_NAME: Final = 253
"""Longest RBAC subject name accepted here (a Kubernetes object name's limit)."""


def _limit_rules(s: StackSettings) -> Iterable[Problem]:
    """Values GitHub or Kubernetes would refuse at apply time, refused now with the limit named."""
    env = s.environment
    for kind in ("teams", "users"):
        entries = [str(entry) for entry in getattr(s.approval.reviewers, kind)]
        for index, entry in enumerate(entries):
            if entry.lower() in (e.lower() for e in entries[:index]):
                yield Problem(
                    f"approval.reviewers.{kind}[{index}]", "lists the same reviewer twice", entry
                )
    for kind in ("branches", "tags"):
        patterns = getattr(s.approval, kind)
        for index, pattern in enumerate(patterns):
            if pattern in patterns[:index]:
                yield Problem(f"approval.{kind}[{index}]", "lists the same pattern twice", pattern)
    own = env.github_environment_name.lower()
    for other, default in DEFAULT_GITHUB_ENVIRONMENT.items():
        if other is not env.name and own == default.lower():
            yield Problem(
                "environment.githubEnvironment",
                f"is the {other} stack's GitHub environment; each stack owns its own "
                f"(default {DEFAULT_GITHUB_ENVIRONMENT[env.name]})",
                env.github_environment_name,
            )
    stack_written = len(STACK_VARIABLES)
    if len(env.variables) + stack_written > MAX_ENVIRONMENT_VARIABLES:
        yield Problem(
            "environment.variables",
            f"must list at most {MAX_ENVIRONMENT_VARIABLES - stack_written} variables: GitHub "
            f"allows {MAX_ENVIRONMENT_VARIABLES} per environment and the stack writes "
            f"{stack_written} itself",
            str(len(env.variables)),
        )
    for name, value in env.variables.items():
        path = f"environment.variables.{name}"
        if name.upper() in STACK_VARIABLES | REPOSITORY_VARIABLES:
            yield Problem(
                path,
                "is written by the stack itself; remove it from environment.variables",
                name,
            )
        elif _SECRET_LOOKING.search(name):
            yield Problem(
                path,
                "looks like a secret, and variables are shown unmasked in logs: use "
                "environment.secrets with a config key set by pulumi config set --secret",
            )
        if len(value.encode()) > MAX_VARIABLE_BYTES:
            yield Problem(path, "must be at most 48 KB (GitHub's limit per variable)")
    for kind in ("viewer_groups", "operator_groups"):
        for index, group in enumerate(getattr(s.access, kind)):
            if (
                not group.strip()
                or group != group.strip()
                or len(group) > MAX_GROUP_NAME
                or re.search(r"[\x00-\x1f\x7f]", group)
            ):
                yield Problem(
                    f"access.{to_camel(kind)}[{index}]",
                    f"must be a group name: not empty, no surrounding spaces or control "
                    f"characters, at most {MAX_GROUP_NAME} characters",
                    group,
                )


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
        *_cluster_side_rules(settings),
        *_metrics_rules(settings),
        *_limit_rules(settings),
    ]
    return settings, problems


def _required_secret_keys(s: StackSettings) -> dict[str, str]:
    """Secret config keys this stack needs, with why."""
    needed = {REGISTRY_TOKEN_KEY: "registry pull access"}
    # Only the dev stack's pipeline is real; elsewhere the section is an error of its own, and
    # asking for its secrets too would send the reader the wrong way.
    if s.pipeline is not None and s.environment.name is Environment.DEV:
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
    broken: list[str] = []  # sections already reported: pydantic's "is required" would contradict
    for section in SECTIONS:
        if runtime_config.is_config_secret(f"{NAMESPACE}:{section}"):
            problems.append(
                Problem(section, "must not contain secure values; secrets are separate keys")
            )
            broken.append(section)
            continue
        try:
            value = cfg.get_object(section)
        except pulumi.ConfigTypeError:
            problems.append(Problem(section, "must be a mapping", _show(cfg.get(section))))
            broken.append(section)
            continue
        # Pulumi.yaml declares `default: {}` for optional sections: empty means unset. A missing
        # required section is reported by pydantic.
        if value not in (None, {}):
            raw[section] = value

    settings, section_problems = parse_sections(raw, stack)
    problems.extend(
        p
        for p in section_problems
        if not any(p.path == b or p.path.startswith((f"{b}.", f"{b}[")) for b in broken)
    )

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
    problems.extend(_key_problems(cfg, known, stack))

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


READ_NAMESPACES: Final = {NAMESPACE: None, "github": frozenset({"owner"}), "pulumi": None}
"""Config namespaces this program reads, with the keys read there (None: checked elsewhere or
the engine's own). Anything else in the stack file is a typo or a leftover, never silently kept:
the GitHub provider is explicit and takes only ``github:owner`` (its token comes from
``GITHUB_TOKEN``), and the Kubernetes provider takes its context from ``cicd:cluster``."""


def _key_problems(cfg: pulumi.Config, known: set[str], stack: str) -> Iterable[Problem]:
    """Keys nothing reads, and secret-looking keys in plain text (read or not)."""
    for full_key in sorted(_all_config_keys()):
        namespace, _, key = full_key.partition(":")
        secure = runtime_config.is_config_secret(full_key)
        value = pulumi.Config(namespace).get(key) if namespace else None
        if value == "":
            continue  # an empty value is an optional key's declared default in Pulumi.yaml
        if not secure and _SECRET_LOOKING.search(key) and namespace != "pulumi":
            yield Problem(
                key,
                "looks like a secret but is in plain text: remove it from the file, rotate it, "
                "and set it with pulumi config set --secret",
                namespace=namespace,
            )
            continue
        if namespace not in READ_NAMESPACES:
            yield Problem(
                key,
                f"is in the namespace {namespace!r}, which this program does not read "
                f"(its settings are under {NAMESPACE}:)",
                namespace=namespace,
            )
            continue
        read_here = READ_NAMESPACES[namespace]
        if read_here is not None and key not in read_here:
            yield Problem(
                key,
                f"is not read by this program (it reads only {', '.join(sorted(read_here))} "
                f"from {namespace}:)",
                namespace=namespace,
            )
            continue
        if namespace != NAMESPACE:
            continue
        if key in PIPELINE_SECRET_KEYS and stack != Environment.DEV.value:
            yield Problem(
                key,
                "is only read by the dev stack (a repository secret of ci.yml): remove it here",
            )
        elif key in known:
            continue
        elif secure:
            yield Problem(key, "is set but nothing reads it (no environment.secrets entry)")
        else:
            yield Problem(key, "is not a known setting")


def _all_config_keys() -> set[str]:
    keys = set(runtime_config.CONFIG.get())
    keys |= set(runtime_config.get_config_env())
    return keys


# --------------------------------------------------------------------------------------------
# The platform project (platform/): what is cluster-scoped, one stack per cluster
# --------------------------------------------------------------------------------------------

PLATFORM_NAMESPACE: Final = "cicd-platform"
"""Config namespace (and project name) of the platform project: ``cicd-platform:rollouts``."""

GITHUB_OIDC_ISSUER: Final = "https://token.actions.githubusercontent.com"
"""The issuer of the ID tokens GitHub Actions jobs request (``id-token: write``)."""


class PlatformClusterConfig(_Model):
    """What the environments expect of their cluster (``cicd-platform:cluster``).

    The ingress controller and the monitoring stack are installed by the cluster's admins; the
    platform stack records where they are, and the environment stacks read it from here.
    """

    name: DnsLabel = Field(description="The cluster, as the stack: nonprod or prod.")
    kube_context: str | None = Field(
        default=None, description="kubeconfig context Pulumi uses; null means the current one."
    )
    ingress_class_name: DnsLabel = Field(
        default="nginx", description="IngressClass of the NGINX ingress controller. Default nginx."
    )
    ingress_namespace: DnsLabel = Field(
        default="ingress-nginx",
        description="Namespace of the ingress controller (allowed to reach apps). "
        "Default ingress-nginx.",
    )
    monitoring_namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of Prometheus (allowed to scrape apps). Default monitoring.",
    )


class RolloutsControllerConfig(_Model):
    """The Argo Rollouts controller (``cicd-platform:rollouts``)."""

    namespace: DnsLabel = Field(
        default="argo-rollouts", description="Namespace of the controller. Default argo-rollouts."
    )
    chart_version: SemVer = Field(
        default="2.40.5", description="argo-rollouts Helm chart version. Default 2.40.5."
    )


class PolicyControllerConfig(_Model):
    """The sigstore policy-controller (``cicd-platform:policyController``).

    Chosen over Kyverno because its ClusterImagePolicy verifies exactly the keyless cosign
    identity CI signs with (issuer + subject of the Fulcio certificate). The per-environment
    ClusterImagePolicy objects belong to the environment stacks.
    """

    enabled: bool = Field(default=True, description="Install it. Default true.")
    namespace: DnsLabel = Field(
        default="cosign-system", description="Namespace of the webhook. Default cosign-system."
    )
    chart_version: SemVer = Field(
        default="0.6.5", description="sigstore policy-controller Helm chart version."
    )


class GithubOidcConfig(_Model):
    """Trust in GitHub's OIDC issuer (``cicd-platform:githubOidc``), for ``cluster.access:
    githubOidc`` in the environment stacks. Rendered as a structured authentication
    configuration (``apiserver.config.k8s.io/v1`` AuthenticationConfiguration) that the cluster
    admin applies to the API server, or maps onto the managed cluster's OIDC provider.
    """

    enabled: bool = Field(default=False, description="Trust GitHub's OIDC issuer. Default false.")
    audience: (
        Annotated[
            str,
            AfterValidator(
                _matches(re.compile(r"^[A-Za-z0-9:/._-]{1,200}$"), "must be an audience")
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="The aud the API server accepts and workflows request, unique per cluster "
        "(a token for one cluster is useless on another). Required when enabled.",
    )
    username_prefix: Annotated[
        str,
        AfterValidator(_matches(re.compile(r"^[a-z0-9-]+:$"), "must end with ':', e.g. github:")),
    ] = Field(
        default="github:",
        description="Claim-mapping prefix of the username (the token's sub), so that a GitHub "
        "identity can never collide with another issuer's. Default github:.",
    )
    repositories: tuple[
        Annotated[
            str,
            AfterValidator(
                _matches(re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), "must be OWNER/REPO")
            ),
        ],
        ...,
    ] = Field(
        default=(),
        description="Repositories whose tokens the cluster accepts at all (claim validation on "
        "the repository claim). Required when enabled.",
    )


PLATFORM_SECTIONS: Final = ("cluster", "rollouts", "policyController", "githubOidc")


class PlatformSettings(_Model):
    """All sections of one platform stack."""

    cluster: PlatformClusterConfig
    rollouts: RolloutsControllerConfig = RolloutsControllerConfig()
    policy_controller: PolicyControllerConfig = PolicyControllerConfig()
    github_oidc: GithubOidcConfig = GithubOidcConfig()


def parse_platform(
    raw: Mapping[str, Any], stack: str
) -> tuple[PlatformSettings | None, list[Problem]]:
    """Validate a platform stack's sections; problems name ``cicd-platform:`` paths."""
    try:
        settings = PlatformSettings.model_validate(dict(raw))
    except ValidationError as err:
        return None, [
            Problem(p.path, p.message, p.got, PLATFORM_NAMESPACE) for p in _problems_from(err)
        ]
    problems: list[Problem] = []
    if settings.cluster.name != stack:
        problems.append(
            Problem(
                "cluster.name",
                f"must match the stack name '{stack}'",
                settings.cluster.name,
                PLATFORM_NAMESPACE,
            )
        )
    oidc = settings.github_oidc
    if oidc.enabled and oidc.audience is None:
        problems.append(
            Problem("githubOidc.audience", "is required when enabled", None, PLATFORM_NAMESPACE)
        )
    if oidc.enabled and not oidc.repositories:
        problems.append(
            Problem(
                "githubOidc.repositories",
                "must list at least one OWNER/REPO when enabled",
                None,
                PLATFORM_NAMESPACE,
            )
        )
    return settings, problems


def load_platform() -> PlatformSettings:
    """Read and validate the current platform stack's config; raise ConfigError on problems."""
    stack = pulumi.get_stack()
    stack_file = f"Pulumi.{stack}.yaml"
    cfg = pulumi.Config(PLATFORM_NAMESPACE)
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    for section in PLATFORM_SECTIONS:
        try:
            value = cfg.get_object(section)
        except pulumi.ConfigTypeError:
            problems.append(
                Problem(section, "must be a mapping", "a non-object value", PLATFORM_NAMESPACE)
            )
            continue
        if value not in (None, {}):
            raw[section] = value
    for full_key in sorted(_all_config_keys()):
        namespace, _, key = full_key.partition(":")
        if namespace == PLATFORM_NAMESPACE and key not in PLATFORM_SECTIONS:
            problems.append(Problem(key, "is not a known setting", None, PLATFORM_NAMESPACE))
    settings, section_problems = parse_platform(raw, stack)
    problems.extend(section_problems)
    if problems or settings is None:
        raise ConfigError(stack_file, problems)
    return settings
