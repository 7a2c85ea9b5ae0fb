"""Field types: reusable validated types (Annotated validators) and the base model of every section.

Each check raises ``ValueError`` with the words that follow the key path in the message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

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
USER_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Team slugs as in github.com/orgs/ORG/teams/SLUG: lower case, digits, '-' and '_'.
TEAM_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
_NUMERIC_ID = re.compile(r"^[0-9]+$")
# Names that say "this is a secret": such a value must never sit in a stack file in plain text.
SECRET_LOOKING = re.compile(
    r"(token|secret|passw(or)?d|pwd|webhook|api_?key|private_?key|credential|auth)", re.IGNORECASE
)
_EXPRESSION = "${{"
IMAGE_PATTERN = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMMAND_FORBIDDEN = re.compile(r"\$\{\{")

# GitHub reserves these prefixes for its own secrets and variables.
_RESERVED_PREFIXES: Final = ("GITHUB_",)


def matches(pattern: re.Pattern[str], words: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(words)
        return value

    return check


def between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def float_between(low: float, high: float) -> Callable[[float], float]:
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


def github_secret_name(value: str) -> str:
    if not _GITHUB_NAME.fullmatch(value):
        raise ValueError("must contain only letters, digits and '_' (GitHub's rule)")
    if not _ENV_NAME.fullmatch(value):
        raise ValueError("must be upper case: A-Z, 0-9 and '_', starting with a letter")
    if value.startswith(_RESERVED_PREFIXES):
        raise ValueError("must not start with GITHUB_ (reserved by GitHub)")
    return value


def base64_value(value: str) -> str:
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
    AfterValidator(matches(_QUANTITY, "must be a Kubernetes quantity such as 500m, 2 or 256Mi")),
]
Duration = Annotated[
    str, AfterValidator(matches(_DURATION, "must be a duration such as 30s, 5m or 1h"))
]
HttpsUrl = Annotated[str, AfterValidator(matches(_HTTPS_URL, "must be an https:// URL"))]
HttpUrl = Annotated[str, AfterValidator(matches(_HTTP_URL, "must be an http(s):// URL"))]
Slug = Annotated[
    str, AfterValidator(matches(_SLUG, "must be a GitHub slug: letters, digits, '.', '_', '-'"))
]
BranchPattern = Annotated[
    str,
    AfterValidator(
        matches(_BRANCH_PATTERN, "must be a branch or tag pattern: letters, digits, . _ / * -")
    ),
]
SecretName = Annotated[str, AfterValidator(github_secret_name)]
Command = Annotated[str, AfterValidator(_command)]
Port = Annotated[int, AfterValidator(between(1, 65535))]
Percent = Annotated[int, AfterValidator(between(1, 100))]
ConfigKey = Annotated[
    str,
    AfterValidator(matches(_CONFIG_KEY, "must be a camelCase config key name such as sentryDsn")),
]
HealthPath = Annotated[
    str,
    AfterValidator(
        matches(_URL_PATH, "must be a URL path starting with '/', without spaces, such as /healthz")
    ),
]
RelativePath = Annotated[
    str,
    AfterValidator(
        matches(
            _RELATIVE_PATH,
            "must be a path inside the repository: letters, digits, . _ / @ + -, "
            "not absolute, no '..'",
        )
    ),
]
NodeVersion = Annotated[
    str,
    AfterValidator(matches(_NODE_VERSION, "must be a Node.js version such as 22 or 22.11.0")),
]
SemVer = Annotated[
    str, AfterValidator(matches(_SEMVER, "must be a semantic version such as 2.40.5"))
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


def reviewer_id(pattern: re.Pattern[str], words: str) -> Callable[[Any], Any]:
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
HostName = Annotated[str, AfterValidator(matches(_HOST, "must be a host name"))]


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            "must be a CIDR block such as 10.20.0.0/16 (host bits zero) or 2001:db8::/32"
        ) from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


class ConfigModel(BaseModel):
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
        defer_build=True,
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
