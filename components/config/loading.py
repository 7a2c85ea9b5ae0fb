"""Loading: the only code that reads ``pulumi.Config`` for the environment project.

Every problem is collected before anything is registered, then raised as one
:class:`~components.config.problems.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    ValidationError,
)

from components.config.fields import SECRET_LOOKING
from components.config.pipeline import ScannersWithSonarQube
from components.config.problems import NAMESPACE, ConfigError, Problem, problems_from, show_value
from components.config.rules import (
    approval_rules,
    canary_rules,
    cluster_side_rules,
    environment_rules,
    limit_rules,
    metrics_rules,
    warnings_of,
)
from components.config.settings import (
    PIPELINE_SECRET_KEYS,
    REGISTRY_TOKEN_KEY,
    SECTIONS,
    Secrets,
    Settings,
    StackSettings,
)
from components.vocabulary import Environment


def parse_sections(
    raw: Mapping[str, Any], stack: str
) -> tuple[StackSettings | None, list[Problem]]:
    """Validate the plain sections of a stack (already decoded from YAML/JSON)."""
    try:
        settings = StackSettings.model_validate(dict(raw))
    except ValidationError as err:
        return None, problems_from(err)
    problems = [
        *environment_rules(settings, stack),
        *approval_rules(settings),
        *canary_rules(settings),
        *cluster_side_rules(settings),
        *metrics_rules(settings),
        *limit_rules(settings),
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
        if isinstance(scanners, ScannersWithSonarQube):
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
            problems.append(Problem(section, "must be a mapping", show_value(cfg.get(section))))
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
        warnings=tuple(warnings_of(settings)),
    )


READ_NAMESPACES: Final = {NAMESPACE: None, "github": frozenset({"owner"}), "pulumi": None}
"""Config namespaces this program reads, with the keys read there (None: checked elsewhere or
the engine's own). Anything else in the stack file is a typo or a leftover, never silently kept:
the GitHub provider is explicit and takes only ``github:owner`` (its token comes from
``GITHUB_TOKEN``), and the Kubernetes provider takes its context from ``cicd:cluster``."""


def _key_problems(cfg: pulumi.Config, known: set[str], stack: str) -> Iterable[Problem]:
    """Keys nothing reads, and secret-looking keys in plain text (read or not)."""
    for full_key in sorted(all_config_keys()):
        namespace, _, key = full_key.partition(":")
        secure = runtime_config.is_config_secret(full_key)
        value = pulumi.Config(namespace).get(key) if namespace else None
        if value == "":
            continue  # an empty value is an optional key's declared default in Pulumi.yaml
        if not secure and SECRET_LOOKING.search(key) and namespace != "pulumi":
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


def all_config_keys() -> set[str]:
    keys = set(runtime_config.CONFIG.get())
    keys |= set(runtime_config.get_config_env())
    return keys
