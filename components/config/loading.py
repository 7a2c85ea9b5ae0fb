"""Loading: the one reader of ``pulumi.Config``, for both projects.

:func:`read_stack` reads a stack file the same way for the environment project (``cicd``,
:data:`ENVIRONMENT_STACK`, :func:`load`) and the platform project (``cicd-platform``,
``components.config.platform``): each section of the project's namespace as an object, every
other key refused unless something reads it, required plain values and secrets checked, and
every problem collected before anything is registered, then raised as one
:class:`~components.config.problems.ConfigError` with one line per problem naming the stack file
and the key path. What differs between the projects (namespace, sections, models and rules,
secret keys, what is read from other namespaces) is a :class:`StackSchema`, data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Generic, TypeVar

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    ValidationError,
)

from components.chain import default_tier
from components.config.fields import SECRET_LOOKING, ConfigModel
from components.config.github_provider import (
    BASE_URL_KEY,
    OWNER_KEY,
    TOKEN_KEY,
    GitHubProviderSettings,
    base_url_problem,
)
from components.config.keys import closest, unknown_key
from components.config.kubernetes_provider import (
    CONTEXT_KEY,
    KUBECONFIG_KEY,
    KubernetesProviderSettings,
    both_contexts,
    context_problem,
)
from components.config.notifications import CHANNEL_SECRET_KEY, first_stage_notifications
from components.config.pipeline import ScannersWithSonarQube
from components.config.problems import NAMESPACE, ConfigError, Problem, problems_from, show_value
from components.config.rescan import WEBHOOK_KEY
from components.config.rules import (
    approval_rules,
    canary_rules,
    cluster_side_rules,
    environment_rules,
    limit_rules,
    metrics_rules,
    plan_rules,
    stage_branching_rules,
    warnings_of,
)
from components.config.runner import runner_problems
from components.config.settings import (
    PIPELINE_SECRET_KEYS,
    REGISTRY_TOKEN_KEY,
    SECTIONS,
    Secrets,
    Settings,
    StackSettings,
)
from components.config.siblings import chain_of, chain_problems, project_directory
from components.vocabulary import ClusterAccess

SettingsT = TypeVar("SettingsT", bound=ConfigModel)

Rules = Callable[[SettingsT, str], Iterable[Problem]]
"""(validated settings, stack name) -> problems: a project's cross-field rules."""


def _no_keys(raw: Mapping[str, Any], stack: str) -> Mapping[str, str | None]:
    return {}


def _none_required(settings: ConfigModel) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class StackSchema(Generic[SettingsT]):
    """What one project's stack files hold; :func:`read_stack` does the reading.

    ``model`` validates the sections (each a field, camelCase as in the file), then ``rules``
    check what crosses fields or depends on the stack; both name paths under ``namespace``.
    ``secret_keys`` gives, for the raw sections and the stack, the project's keys besides its
    sections that the stack file may hold (each set with ``--secret``): None where this stack
    reads the key, else the message that says why not (e.g. a dev-only key in staging).
    ``required_secrets`` gives, for validated settings, the secret keys this stack must set,
    with why; they are returned as secret Outputs. ``required_values`` are plain keys of other
    namespaces that must be set (full key -> why), returned as strings.
    """

    namespace: str
    sections: tuple[str, ...]
    model: type[SettingsT]
    rules: Rules[SettingsT]
    reads: Mapping[str, frozenset[str] | None]
    """Config namespaces the program reads, its own among them, with the keys read there (None:
    checked elsewhere, or the engine's own). Anything else is a typo or a leftover, refused."""
    secret_keys: Callable[[Mapping[str, Any], str], Mapping[str, str | None]] = _no_keys
    unread_secret: str = "is not a known key"
    """The message for a secure key of the project's namespace that nothing reads."""
    required_secrets: Callable[[SettingsT], Mapping[str, str]] = _none_required
    required_values: Mapping[str, str] = field(default_factory=dict)
    optional_values: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)
    """Plain keys of other namespaces that may be set (full key -> why the value is refused, or
    None); set ones are returned with the required values."""
    optional_secrets: frozenset[str] = frozenset()
    """Keys of other namespaces that may be set, only with ``--secret`` (e.g. ``github:token``);
    set ones are returned as secret Outputs."""
    project_rules: Rules[SettingsT] | None = None
    """Rules that read beside the stack file (the sibling stack files of the chain,
    components/config/siblings.py): run by :func:`read_stack` once the sections are valid, not
    by :meth:`parse`, which checks one stack's sections alone."""

    def parse(self, raw: Mapping[str, Any], stack: str) -> tuple[SettingsT | None, list[Problem]]:
        """Validate the sections (already decoded from YAML/JSON), then the rules."""
        try:
            settings = self.model.model_validate(dict(raw))
        except ValidationError as err:
            return None, [
                replace(p, namespace=self.namespace) for p in problems_from(err, self.model)
            ]
        return settings, list(self.rules(settings, stack))


@dataclass(frozen=True)
class StackFile(Generic[SettingsT]):
    """A stack file read without problems: its settings, secrets and required plain values."""

    stack: str
    file: str
    settings: SettingsT
    secrets: Mapping[str, pulumi.Output[str]]
    values: Mapping[str, str]
    other_secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """The set keys of :attr:`StackSchema.optional_secrets`, by full key."""


def read_stack(schema: StackSchema[SettingsT]) -> StackFile[SettingsT]:
    """Read and validate the current stack's config; raise ConfigError listing every problem.

    Problems come in the order a reader fixes them: sections that are not objects, what the
    models and rules say about the rest (nothing under a section already reported, where
    "is required" would contradict "must be a mapping"), keys nothing reads, required values,
    required secrets. Secrets are read only when nothing else is wrong.
    """
    stack = pulumi.get_stack()
    stack_file = f"Pulumi.{stack}.yaml"
    own = schema.namespace
    cfg = pulumi.Config(own)
    problems: list[Problem] = []

    raw: dict[str, Any] = {}
    broken: list[str] = []
    for section in schema.sections:
        if runtime_config.is_config_secret(f"{own}:{section}"):
            problems.append(
                Problem(
                    section,
                    "must not contain secure values; secrets are separate keys",
                    namespace=own,
                )
            )
            broken.append(section)
            continue
        try:
            value = cfg.get_object(section)
        except pulumi.ConfigTypeError:
            problems.append(
                Problem(section, "must be a mapping", show_value(cfg.get(section)), own)
            )
            broken.append(section)
            continue
        # Pulumi.yaml declares `default: {}` for optional sections: empty means unset. A missing
        # required section is reported by the model.
        if value not in (None, {}):
            raw[section] = value

    settings, section_problems = schema.parse(raw, stack)
    if settings is not None and schema.project_rules is not None:
        already = {p.path for p in section_problems}
        section_problems += [
            p for p in schema.project_rules(settings, stack) if p.path not in already
        ]
    problems.extend(
        p
        for p in section_problems
        if not any(p.path == b or p.path.startswith((f"{b}.", f"{b}[")) for b in broken)
    )
    problems.extend(_key_problems(schema, schema.secret_keys(raw, stack)))

    values: dict[str, str] = {}
    for full_key, why in schema.required_values.items():
        namespace, _, key = full_key.partition(":")
        value = pulumi.Config(namespace).get(key)
        if value:
            values[full_key] = value
        else:
            problems.append(Problem(key, f"is required ({why})", namespace=namespace))
    for full_key, refused in schema.optional_values.items():
        namespace, _, key = full_key.partition(":")
        value = pulumi.Config(namespace).get(key)
        if not value:
            continue
        secure = runtime_config.is_config_secret(full_key)
        why_not = refused(value)
        if why_not is not None:
            problems.append(
                Problem(key, why_not, "[secret]" if secure else show_value(value), namespace)
            )
        else:
            values[full_key] = value
    other_secret_keys = []
    for full_key in sorted(schema.optional_secrets):
        namespace, _, key = full_key.partition(":")
        if pulumi.Config(namespace).get(key) in (None, ""):
            continue
        if runtime_config.is_config_secret(full_key):
            other_secret_keys.append(full_key)
        elif not SECRET_LOOKING.search(key):  # else _key_problems has said so already
            problems.append(
                Problem(
                    key,
                    "must be set with pulumi config set --secret, not in plain text",
                    "[secret]",
                    namespace,
                )
            )

    secrets: dict[str, pulumi.Output[str]] = {}
    if settings is not None:
        needed = schema.required_secrets(settings)
        for key, why in needed.items():
            if cfg.get(key) in (None, ""):
                problems.append(
                    Problem(
                        key,
                        f"is required ({why}); set it with pulumi config set --secret",
                        namespace=own,
                    )
                )
            elif not runtime_config.is_config_secret(f"{own}:{key}"):
                problems.append(
                    Problem(
                        key,
                        "must be set with pulumi config set --secret, not in plain text",
                        "[secret]",
                        own,
                    )
                )
        if not problems:
            secrets = {key: cfg.require_secret(key) for key in needed}

    if problems or settings is None:
        raise ConfigError(stack_file, problems)
    other_secrets = {
        full_key: pulumi.Config(full_key.partition(":")[0]).require_secret(
            full_key.partition(":")[2]
        )
        for full_key in other_secret_keys
    }
    return StackFile(stack, stack_file, settings, secrets, values, other_secrets)


def _key_problems(
    schema: StackSchema[SettingsT], secret_keys: Mapping[str, str | None]
) -> Iterable[Problem]:
    """Keys nothing reads, and secret-looking keys in plain text (read or not).

    A key that nothing reads names the closest key that something does, at its level: a
    namespace (``cicd2:`` -> ``cicd:``), a key of another namespace (``github:ownr`` ->
    ``owner``) or a section or secret key of the project's own namespace.
    """
    own = schema.namespace
    # The keys of the project's namespace this stack reads: its sections and its secret keys.
    own_keys = [*schema.sections, *(k for k, why_not in secret_keys.items() if why_not is None)]
    namespaces = [n for n in schema.reads if n != "pulumi"]
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
        if namespace not in schema.reads:
            near = closest(namespace, namespaces)
            yield Problem(
                key,
                f"is in the namespace {namespace!r}, which this program does not read "
                f"(its settings are under {own}:)"
                + (f"; did you mean {near}:{key}?" if near else ""),
                namespace=namespace,
            )
            continue
        read_here = schema.reads[namespace]
        if read_here is not None and key not in read_here:
            near = closest(key, read_here)
            yield Problem(
                key,
                f"is not read by this program (it reads only {', '.join(sorted(read_here))} "
                f"from {namespace}:)" + (f"; did you mean {near}?" if near else ""),
                namespace=namespace,
            )
            continue
        if namespace != own:
            continue
        if key in schema.sections:
            continue
        if key in secret_keys:
            why_not = secret_keys[key]
            if why_not is not None:
                yield Problem(key, why_not, namespace=own)
        elif secure:
            near = closest(key, own_keys)
            yield Problem(
                key,
                schema.unread_secret + (f"; did you mean {near}?" if near else ""),
                namespace=own,
            )
        else:
            yield Problem(key, unknown_key(key, own_keys), namespace=own)


# --------------------------------------------------------------------------------------------
# The environment project (cicd): Pulumi.<stack>.yaml of each stage of the chain
# --------------------------------------------------------------------------------------------


def _environment_stack_rules(settings: StackSettings, stack: str) -> list[Problem]:
    """The cross-field rules (components/config/rules.py), in the order they are reported."""
    return [
        *environment_rules(settings, stack),
        *approval_rules(settings),
        *canary_rules(settings),
        *cluster_side_rules(settings),
        *metrics_rules(settings),
        *limit_rules(settings),
        *plan_rules(settings),
        *_runner_rules(settings),
    ]


def _runner_rules(settings: StackSettings) -> Iterable[Problem]:
    """``deploy.runner`` (components/config/runner.py); the visibility is known where the
    pipeline section is (the first stage)."""
    pipeline = settings.pipeline
    return runner_problems(
        settings.deploy.runner,
        in_cluster=settings.cluster.access is ClusterAccess.IN_CLUSTER,
        public_repository=pipeline.github.public if pipeline is not None else None,
    )


def _chain_rules(settings: StackSettings, stack: str) -> list[Problem]:
    """What needs the sibling stack files: the chain, then the branching preset's rules for
    this stack's place in it (the production role is the chain's, not the tier's)."""
    environment = settings.environment
    if environment.name != stack:
        return []  # environment.name is the one problem
    if environment.tier is None and default_tier(environment.name) is None:
        return []  # environment.tier is the one problem: without it there is no role
    directory = project_directory()
    problems = chain_problems(environment, directory)
    if problems:
        return problems
    return list(stage_branching_rules(settings, chain_of(environment, directory)))


def _secret_keys(raw: Mapping[str, Any], stack: str) -> dict[str, str | None]:
    """The secret keys a stack file may hold: the registry token, the keys that
    ``environment.secrets`` names, and the pipeline's (first stage only: elsewhere, remove
    them)."""
    keys: dict[str, str | None] = {REGISTRY_TOKEN_KEY: None}
    # Read from the raw mapping so that a problem elsewhere in the section does not turn them
    # into "unknown" noise.
    environment = raw.get("environment")
    raw_secrets = environment.get("secrets") if isinstance(environment, dict) else None
    for entry in raw_secrets if isinstance(raw_secrets, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("configKey"), str):
            keys[entry["configKey"]] = None
    # The first stage is the one without promotesFrom (read raw, as above).
    first = not (isinstance(environment, dict) and environment.get("promotesFrom") is not None)
    for key in PIPELINE_SECRET_KEYS:
        keys[key] = (
            None
            if first
            else "is only read by the first stage (a repository secret of ci.yml): remove it here"
        )
    return keys


def _required_secret_keys(s: StackSettings) -> dict[str, str]:
    """Secret config keys this stack needs, with why."""
    needed = {REGISTRY_TOKEN_KEY: "registry pull access"}
    # Only the first stage's pipeline is real; elsewhere the section is an error of its own, and
    # asking for its secrets too would send the reader the wrong way.
    if s.pipeline is not None and s.environment.is_first:
        scanners, notify = s.pipeline.scanners, s.pipeline.notifications
        if scanners.snyk:
            needed["snykToken"] = "pipeline.scanners.snyk is true"
        if isinstance(scanners, ScannersWithSonarQube):
            needed["sonarToken"] = "pipeline.scanners.sonarqube is true"
        for channel in notify.used_channels:
            needed[CHANNEL_SECRET_KEY[channel]] = notify.why_needed(channel)
        rescan = s.pipeline.rescan
        if rescan.enabled and notify.legacy:  # else it follows the security route
            needed.setdefault(
                WEBHOOK_KEY[rescan.channel], f"pipeline.rescan.channel is {rescan.channel.value}"
            )
    metrics = s.metrics_on
    if metrics is not None and metrics.pushgateway_auth != "none":
        needed["pushgatewayCredentials"] = f"metrics.pushgatewayAuth is {metrics.pushgateway_auth}"
    for secret in s.environment.secrets:
        needed[secret.config_key] = f"environment secret {secret.name} reads it"
    return needed


READ_NAMESPACES: Final = {
    NAMESPACE: None,
    "github": frozenset({"owner", "token", "baseUrl"}),
    "kubernetes": frozenset({"kubeconfig", "context"}),
    "pulumi": None,
}
"""Config namespaces this program reads, with the keys read there (None: checked elsewhere or
the engine's own). Anything else in the stack file is a typo or a leftover, never silently kept:
the GitHub provider is explicit and takes ``github:owner``, ``github:token`` (a secret; unset,
the provider reads ``GITHUB_TOKEN``) and ``github:baseUrl`` (GitHub Enterprise Server), see
components/config/github_provider.py; the Kubernetes provider takes ``kubernetes:kubeconfig`` (a
secret) and its context from ``cicd:cluster.kubeContext`` or ``kubernetes:context``, see
components/config/kubernetes_provider.py."""

GITHUB_OWNER_KEY: Final = OWNER_KEY

ENVIRONMENT_STACK: Final = StackSchema[StackSettings](
    namespace=NAMESPACE,
    sections=SECTIONS,
    model=StackSettings,
    rules=_environment_stack_rules,
    reads=READ_NAMESPACES,
    secret_keys=_secret_keys,
    unread_secret="is set but nothing reads it (no environment.secrets entry)",
    required_secrets=_required_secret_keys,
    required_values={GITHUB_OWNER_KEY: "the GitHub organisation"},
    optional_values={BASE_URL_KEY: base_url_problem, CONTEXT_KEY: context_problem},
    optional_secrets=frozenset({TOKEN_KEY, KUBECONFIG_KEY}),
    project_rules=lambda settings, stack: _chain_rules(settings, stack),
)
"""The environment project's stack files: ``cicd:`` sections, secrets, ``github:owner``."""


def parse_sections(
    raw: Mapping[str, Any], stack: str
) -> tuple[StackSettings | None, list[Problem]]:
    """Validate the plain sections of a stack (already decoded from YAML/JSON)."""
    return ENVIRONMENT_STACK.parse(raw, stack)


def load() -> Settings:
    """Read and validate the current stack's config; raise ConfigError listing every problem."""
    read = read_stack(ENVIRONMENT_STACK)
    settings, secrets = read.settings, read.secrets
    own = settings.pipeline.notifications if settings.pipeline is not None else None
    chain = chain_of(settings.environment, project_directory())
    notifications, problem = first_stage_notifications(own, chain.first.name, project_directory())
    if notifications is None:
        raise ConfigError(read.file, [problem] if problem is not None else [])
    return Settings(
        kubernetes_provider=kubernetes_provider(read, settings.cluster.kube_context, NAMESPACE),
        stack=read.stack,
        stack_file=read.file,
        github_owner=read.values[GITHUB_OWNER_KEY],
        github_provider=GitHubProviderSettings(
            owner=read.values[GITHUB_OWNER_KEY],
            token=read.other_secrets.get(TOKEN_KEY),
            base_url=read.values.get(BASE_URL_KEY),
        ),
        sections=settings,
        chain=chain,
        secrets=Secrets(
            registry_token=secrets[REGISTRY_TOKEN_KEY],
            pipeline={
                variable: secrets[key]
                for key, variable in PIPELINE_SECRET_KEYS.items()
                if key in secrets
            },
            environment={
                secret.name: secrets[secret.config_key] for secret in settings.environment.secrets
            },
        ),
        warnings=tuple(warnings_of(settings)),
        notifications=notifications,
    )


def kubernetes_provider(
    read: StackFile[Any], section_context: str | None, namespace: str
) -> KubernetesProviderSettings:
    """``kubernetes:kubeconfig`` and the context (section key or ``kubernetes:context``, not
    both) for the explicit Kubernetes provider."""
    provider_context = read.values.get(CONTEXT_KEY)
    if provider_context is not None and section_context is not None:
        raise ConfigError(read.file, [both_contexts("cluster.kubeContext", namespace)])
    return KubernetesProviderSettings(
        kubeconfig=read.other_secrets.get(KUBECONFIG_KEY),
        context=section_context or provider_context,
    )


def all_config_keys() -> set[str]:
    keys = set(runtime_config.CONFIG.get())
    keys |= set(runtime_config.get_config_env())
    return keys
