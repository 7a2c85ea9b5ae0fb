"""The configuration reference: every key of both projects, generated from the models.

:func:`reference_markdown` is the text of docs/configuration.md (``python -m render
config-reference`` writes it; tests/test_config_reference.py fails when the file and the models
disagree). Each key gets its type, default, allowed values, description and the stacks that read
it, all taken from the models: the description is the field's ``Field(description=...)``, the
allowed values are what the field's own validators say when they refuse a value, so the
reference cannot promise what the code does not check.
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config.keys import key_of, models_of
from components.config.platform import PLATFORM_NAMESPACE, PlatformSettings
from components.config.problems import NAMESPACE
from components.config.settings import PIPELINE_SECRET_KEYS, REGISTRY_TOKEN_KEY, StackSettings
from components.config.switch import UNUSED, SwitchedOff

ALL_STACKS: Final = "every stage"
PLATFORM_STACKS: Final = "nonprod, prod"

SECTION_STACKS: Final[Mapping[str, str]] = {
    "pipeline": "the first stage (required there; an error elsewhere)",
    "metrics": "the first stage (an error elsewhere)",
    "branchProtection": "the first stage, tier production (an error elsewhere)",
}
"""Sections not every environment stack reads (components/config/rules.py refuses them
elsewhere); every other section is read by every stage of the chain."""

SECRET_KEYS: Final[Mapping[str, tuple[str, str]]] = {
    REGISTRY_TOKEN_KEY: (
        ALL_STACKS,
        "GitHub token with read:packages: the cluster pulls the image with it (the pull "
        "Secret of cicd:registry). Required.",
    ),
    "snykToken": (
        "the first stage",
        "Snyk API token (repository secret SNYK_TOKEN). Required when "
        "pipeline.scanners.snyk is true.",
    ),
    "sonarToken": (
        "the first stage",
        "SonarQube token (repository secret SONAR_TOKEN). Required when "
        "pipeline.scanners.sonarqube is true.",
    ),
    "discordWebhookUrl": (
        "the first stage",
        "Discord webhook (repository secret DISCORD_WEBHOOK_URL). Required when "
        "pipeline.notifications sends an event to discord (the earlier discord: true, the "
        "default, sends build and deploy results), or pipeline.rescan.channel is discord.",
    ),
    "slackWebhookUrl": (
        "the first stage",
        "Slack webhook (repository secret SLACK_WEBHOOK_URL). Required when "
        "pipeline.notifications sends an event to slack (the earlier slack: true, the default, "
        "sends security findings), or the rescan posts there (its default in the earlier form).",
    ),
    "teamsWebhookUrl": (
        "the first stage",
        "Microsoft Teams Workflows webhook URL (repository secret TEAMS_WEBHOOK_URL). Required "
        "when pipeline.notifications sends an event to teams.",
    ),
    "smtpCredentials": (
        "the first stage",
        "SMTP login as user:password (repository secret SMTP_CREDENTIALS). Required when "
        "pipeline.notifications sends an event to email.",
    ),
    "pushgatewayCredentials": (
        "the first stage",
        "Pushgateway credentials (repository secret PUSHGATEWAY_CREDENTIALS, read only by "
        "metrics.yml): a bearer token, or user:password for basic auth. Required when "
        "metrics.pushgatewayAuth is bearer or basic.",
    ),
    "sentryDsn": (
        "any stack whose environment.secrets names it (staging, prod in the examples)",
        "Example value of an environment.secrets entry: the SENTRY_DSN environment secret. "
        "Any other key named by an environment.secrets configKey works the same way.",
    ),
}
"""The secret keys of ``cicd:`` (set with ``pulumi config set --secret``, never in a section):
who reads them and what for. The pipeline's are :data:`PIPELINE_SECRET_KEYS`."""

OTHER_KEYS: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "github:owner": (
        "string",
        "required",
        ALL_STACKS,
        "GitHub organisation (the GitHub provider's owner). Required.",
    ),
    "github:token": (
        "secret string",
        "unset",
        ALL_STACKS,
        "GitHub token of the stack's explicit GitHub provider; set it with pulumi config set "
        "--secret (plain text is refused). Optional: unset, the provider reads GITHUB_TOKEN. "
        "Needs repository admin and the workflow scope (docs/going-live.md).",
    ),
    "github:baseUrl": (
        "string",
        "unset",
        ALL_STACKS,
        "API base URL of the GitHub provider, for GitHub Enterprise Server "
        "(https://github.example.com/; the provider adds api/v3/). Optional: unset, "
        "github.com. github.com and *.ghe.com only over https and without a path.",
    ),
    "kubernetes:kubeconfig": (
        "secret string",
        "unset",
        f"{ALL_STACKS}; platform {PLATFORM_STACKS}",
        "Kubeconfig (content or path) of the stack's explicit Kubernetes provider; set it with "
        "pulumi config set --secret (plain text is refused). Optional: unset, KUBECONFIG or "
        "~/.kube/config (docs/runners.md).",
    ),
    "kubernetes:context": (
        "string",
        "unset",
        f"{ALL_STACKS}; platform {PLATFORM_STACKS}",
        "Context of the explicit Kubernetes provider, instead of cluster.kubeContext (setting "
        "both is refused). Optional: unset, the kubeconfig's current context.",
    ),
}


@dataclass(frozen=True)
class Row:
    """One key of the reference."""

    key: str
    type: str
    default: str
    allowed: str
    stacks: str
    description: str


def _strip_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    """The bare type and the metadata of Annotated layers (outermost first)."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _members(annotation: Any) -> list[Any]:
    """The members of a union (Optional included), without None; else the type itself."""
    bare, _ = _strip_annotated(annotation)
    if get_origin(bare) in (Union, types.UnionType):
        return [arg for arg in get_args(bare) if arg is not type(None)]
    return [annotation]


def type_name(annotation: Any) -> str:
    """How the stack file spells a value of this annotation."""
    bare, _ = _strip_annotated(annotation)
    members = _members(bare)
    if len(members) > 1:
        if models_of(bare) and all(models_of(m) for m in members):
            return "object"
        return " or ".join(dict.fromkeys(type_name(m) for m in members))
    bare = _strip_annotated(members[0])[0]
    origin = get_origin(bare)
    if origin in (tuple, list):
        return f"list of {type_name(get_args(bare)[0])}"
    if origin is dict:
        return "mapping of string to string"
    if origin is Literal:
        return "string"
    if isinstance(bare, type):
        if issubclass(bare, BaseModel):
            return "object"
        if issubclass(bare, bool):
            return "boolean"
        if issubclass(bare, enum.Enum):
            return "string"
        return {int: "integer", float: "number", str: "string"}.get(bare, bare.__name__)
    return str(bare)


_PROBES: Final[Mapping[type, tuple[Any, ...]]] = {
    str: ("", "\x00 not valid", "${{ x }}", "latest"),
    int: (-(10**9), 10**9),
    float: (-1.0, 10.0),
}
"""Values a field's validators are asked to judge; what they say when they refuse one is the
allowed range (``must be between 1 and 100``), in the words the user would see."""


def _validator_words(bare: Any, metadata: list[Any]) -> list[str]:
    words: list[str] = []
    for item in metadata:
        if not isinstance(item, AfterValidator):
            continue
        for probe in _PROBES.get(bare, ()):
            try:
                item.func(probe)  # type: ignore[call-arg]
            except ValueError as err:
                text = str(err).removeprefix("must be ").removeprefix("must ")
                if text not in words:
                    words.append(text)
            except TypeError:
                break
    return words


def allowed_values(annotation: Any, field_metadata: list[Any] | None = None) -> str:
    """What the field accepts, beyond its type: enum members, ranges, patterns.

    ``field_metadata`` is what pydantic took out of the field's outer ``Annotated``
    (``FieldInfo.metadata``): the validators of a field typed ``Percent`` live there.
    """
    out: list[str] = []
    if field_metadata:
        bare = _strip_annotated(annotation)[0]
        out += _validator_words(bare, field_metadata)
    for member in _members(annotation):
        bare, metadata = _strip_annotated(member)
        origin = get_origin(bare)
        if origin in (tuple, list):
            inner = allowed_values(get_args(bare)[0])
            out += [f"each: {inner}"] if inner else []
            out += _validator_words(bare, metadata)
            continue
        if origin is Literal:
            out.append(", ".join(str(a) for a in get_args(bare)))
        elif isinstance(bare, type) and issubclass(bare, enum.Enum):
            out.append(", ".join(str(m.value) for m in bare))
        out += _validator_words(bare, metadata)
    return "; ".join(dict.fromkeys(out))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def default_text(info: FieldInfo) -> str:
    """The default as the stack file would write it; ``required`` or ``unset`` (null)."""
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel) and hasattr(value, "enabled"):
        return f"enabled: {json.dumps(value.enabled)}"
    return json.dumps(_plain(value), separators=(", ", ": "))


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").replace("``", "`").split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _field_variants(models: list[type[BaseModel]]) -> dict[str, list[tuple[type[BaseModel], str]]]:
    """Keys of these models (a switch's variants together) -> (model, field name) per model."""
    out: dict[str, list[tuple[type[BaseModel], str]]] = {}
    switches = [m.SWITCH for m in models if issubclass(m, SwitchedOff)]
    for key in switches:  # the switch first, then the settings it switches
        out[key] = []
    for model in models:
        for name in model.model_fields:
            if name != UNUSED:
                out.setdefault(key_of(model, name), []).append((model, name))
    return out


def rows(
    prefix: str, models: list[type[BaseModel]], stacks: Mapping[str, str], default_stacks: str
) -> Iterator[Row]:
    """Rows of every key under ``models``, depth first in declaration order.

    A switched section contributes both variants' keys once; a key's default is taken from the
    variant that has one (``canary.enabled`` is false in the off variant, required in the on).
    ``stacks`` gives the readers of top-level keys not read by ``default_stacks``.
    """
    for key, places in _field_variants(models).items():
        infos = [model.model_fields[name] for model, name in places]
        info = next((i for i in infos if not i.is_required()), infos[0])
        default = default_text(info)
        switched_off = [m for m in models if issubclass(m, SwitchedOff)]
        if default == "required" and switched_off and len(places) < len(models):
            default = f"required when {switched_off[0].SWITCH} is true"
        path = f"{prefix}{key}" if prefix.endswith(":") else f"{prefix}.{key}"
        children = models_of(info.annotation)
        described = next((i.description for i in infos if i.description), None)
        description = described or " ".join(_first_sentence(m.__doc__) for m in children[:1])
        reader = stacks.get(key, default_stacks) if prefix.endswith(":") else default_stacks
        yield Row(
            key=path,
            type=type_name(info.annotation),
            default=default,
            allowed=allowed_values(info.annotation, list(info.metadata)),
            stacks=reader,
            description=description,
        )
        if children:
            list_item = get_origin(_strip_annotated(_members(info.annotation)[0])[0]) in (
                tuple,
                list,
            )
            inherited = reader.split(" (")[0]  # the note is said once, on the section
            yield from rows(f"{path}[]" if list_item else path, children, {}, inherited)


def environment_rows() -> list[Row]:
    """Every key a stack file of the environment project (``cicd:``) may set."""
    out = list(rows(f"{NAMESPACE}:", [StackSettings], SECTION_STACKS, ALL_STACKS))
    for key, (stacks, description) in SECRET_KEYS.items():
        out.append(Row(f"{NAMESPACE}:{key}", "secret string", "unset", "", stacks, description))
    for key, (kind, default, stacks, description) in OTHER_KEYS.items():
        out.append(Row(key, kind, default, "", stacks, description))
    return out


def platform_rows() -> list[Row]:
    """Every key a stack file of the platform project (``cicd-platform:``) may set."""
    return list(rows(f"{PLATFORM_NAMESPACE}:", [PlatformSettings], {}, PLATFORM_STACKS))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table_rows: list[Row]) -> list[str]:
    lines = [
        "| key | type | default | allowed values | read by | description |",
        "|---|---|---|---|---|---|",
    ]
    for r in table_rows:
        cells = [
            f"`{r.key}`",
            r.type,
            r.default if r.default.startswith(("required", "unset")) else f"`{r.default}`",
            r.allowed,
            r.stacks,
            r.description,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


COMMAND: Final = "python -m render config-reference"

HEADER: Final = f"""# Configuration reference

<!-- Generated by `{COMMAND}` from components/config/; do not edit by hand.
     tests/test_config_reference.py fails when this file and the models disagree. -->

Every key a stack file may set, taken from the config models (components/config/). A key path
`a.b[].c` is key `c` of each item of the list `b`. **default** `required` means the stack file
must set it; `unset` means null (the description says what that means, often a default that
depends on the stack). **allowed values** are what the key's own checks accept; cross-field rules
(a canary needs steps, staging and prod need a reviewer, ...) are in
[the config rules](../components/config/rules.py) and each is one line naming the key when it
fails. Unknown keys are refused with the closest known key (`did you mean steps?`).

Set a plain value with `pulumi config set --path cicd:canary.analysis.interval 1m -s prod` or by
editing `Pulumi.<stack>.yaml`; a secret with `pulumi config set --secret cicd:registryToken`.
"""

_ENVIRONMENT_INTRO: Final = f"""
## Environment stacks (`{NAMESPACE}:`, Pulumi.<stage>.yaml: dev, staging, prod, ...)

Sections are objects under `{NAMESPACE}:`; secrets are separate string keys under `{NAMESPACE}:`
set with `--secret`, never inside a section. A switch (`canary.enabled`, `metrics.enabled`,
`canary.analysis.enabled`, `pipeline.scanners.sonarqube`) keeps the settings written under it
when off: they are still checked, ignored, and named in a warning.
"""

_PLATFORM_INTRO: Final = f"""
## Platform stacks (`{PLATFORM_NAMESPACE}:`, platform/Pulumi.nonprod/prod.yaml)

One stack per cluster; no secrets. An environment stack names its platform stack in
`{NAMESPACE}:cluster.platformStack` and reads its outputs, never repeating them.
"""


def reference_markdown() -> str:
    """The whole of docs/configuration.md."""
    lines = [HEADER, _ENVIRONMENT_INTRO, *_table(environment_rows()), _PLATFORM_INTRO]
    lines += _table(platform_rows())
    return "\n".join(lines) + "\n"


def check_pipeline_secret_keys() -> set[str]:
    """Pipeline secret keys the reference does not describe (empty when in step)."""
    return set(PIPELINE_SECRET_KEYS) - set(SECRET_KEYS)
