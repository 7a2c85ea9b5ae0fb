"""The guardrail rules of the ``cicd-guardrails`` policy pack, as plain functions.

Each rule reads one resource, or a stack's resources, exactly as CrossGuard hands them to a
policy: pulumi-policy's ``ResourceValidationArgs`` (resource rules) or the ``PolicyResource``
items of ``StackValidationArgs.resources`` (stack rules), described structurally by
:class:`CrossGuardResource`. ``policy/__main__.py`` passes those objects straight through, so
there is no second representation of a resource to keep in step with pulumi-policy; nothing here
imports ``pulumi_policy`` at run time, so the rules are tested without the analyzer. Properties
are camelCase, as the provider receives them, and may be plain dicts or pulumi-policy's
read-only proxies: the rules only use ``Mapping``/``Sequence``.

Resource rules return a list of messages. Stack rules, which need several resources at once,
return :class:`Violation` objects that carry the URN of the resource to blame.

The pack knows nothing of the offline render. In particular CrossGuard hands a policy every
secret decrypted and unmarked (pulumi-policy's ``deserialize_properties``), so no rule here can
or does judge whether a value was a Pulumi secret; that the render shows every secret value as
``[secret]`` is checked by the render's own tests (tests/test_kubernetes.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

DEFAULT_REVIEWED_ENVIRONMENTS: Final = ("staging", "production")
DEFAULT_PRODUCTION_ENVIRONMENTS: Final = ("production",)
PROTECTED_NAMESPACE_LABELS: Final = frozenset({"staging", "prod"})
"""Values of a Namespace's ``environment`` label whose credentials need a reviewed environment."""

KUBECONFIG: Final = "KUBECONFIG"
NAMESPACE_VARIABLE: Final = "NAMESPACE"
"""The GitHub environment variable that names the namespace an environment deploys to."""

# Type tokens.
K8S_PREFIX: Final = "kubernetes:"
RBAC_PREFIX: Final = "kubernetes:rbac.authorization.k8s.io/"
NAMESPACE: Final = "kubernetes:core/v1:Namespace"
ROLE_BINDING: Final = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
REPOSITORY_ENVIRONMENT: Final = "github:index/repositoryEnvironment:RepositoryEnvironment"
DEPLOYMENT_POLICY: Final = (
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
)
ENVIRONMENT_SECRET: Final = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"
ENVIRONMENT_VARIABLE: Final = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
REPOSITORY_SECRET: Final = "github:index/actionsSecret:ActionsSecret"
ORGANIZATION_SECRET: Final = "github:index/actionsOrganizationSecret:ActionsOrganizationSecret"
GITHUB_SECRETS: Final = frozenset({ENVIRONMENT_SECRET, REPOSITORY_SECRET, ORGANIZATION_SECRET})

# Where the pod spec sits, by Kubernetes kind (the last part of the type token; a Rollout is a
# CustomResource whose token is ``kubernetes:argoproj.io/v1alpha1:Rollout``).
_TEMPLATE: Final = ("spec", "template", "spec")
POD_SPEC_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": _TEMPLATE,
    "StatefulSet": _TEMPLATE,
    "DaemonSet": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "ReplicationController": _TEMPLATE,
    "Job": _TEMPLATE,
    "Rollout": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ANALYSIS_TEMPLATES: Final = frozenset({"AnalysisTemplate", "ClusterAnalysisTemplate"})
ROLE_KINDS: Final = frozenset({"Role", "ClusterRole", "RolePatch", "ClusterRolePatch"})
CLUSTER_ROLE_BINDING_KINDS: Final = frozenset({"ClusterRoleBinding", "ClusterRoleBindingPatch"})

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CONTAINER_LISTS: Final = ("initContainers", "containers")


# --------------------------------------------------------------------------------------------
# Inputs and results
# --------------------------------------------------------------------------------------------


@runtime_checkable
class CrossGuardResource(Protocol):
    """One resource as CrossGuard gives it to a policy: what the rules read of it.

    pulumi-policy's ``ResourceValidationArgs`` and ``PolicyResource`` both match (same attribute
    names and types; pulumi_policy/policy.py); the rules read nothing else, so a caller needs no
    adapter. Members are read-only properties, so plain and frozen attributes both match;
    ``runtime_checkable`` lets a test assert the match on the installed classes.
    """

    @property
    def resource_type(self) -> str:
        """The type token: ``kubernetes:apps/v1:Deployment``."""

    @property
    def name(self) -> str:
        """The Pulumi resource name (the last part of the URN)."""

    @property
    def props(self) -> Mapping[str, Any]:
        """Inputs (resource rules) or outputs (stack rules), camelCase, secrets unwrapped."""

    @property
    def urn(self) -> str:
        """The resource's URN, which stack rules report a violation against."""


def kind_of(resource: CrossGuardResource) -> str:
    """The last part of the type token: ``Deployment``, ``RepositoryEnvironment``, ..."""
    return resource.resource_type.rsplit(":", 1)[-1]


def label_of(resource: CrossGuardResource) -> str:
    """How messages name a resource: ``Deployment 'webshop-app'``."""
    return f"{kind_of(resource)} '{resource.name}'"


@dataclass(frozen=True)
class Violation:
    """A stack rule's finding, with the URN of the resource it is about (or None)."""

    message: str
    urn: str | None = None


@dataclass(frozen=True)
class GuardrailConfig:
    """The policy config: which GitHub environments are staging/prod. Defaults in the fields."""

    reviewed_environments: frozenset[str] = field(default=frozenset(DEFAULT_REVIEWED_ENVIRONMENTS))
    """GitHub environments that need reviewers: default staging and production."""
    production_environments: frozenset[str] = field(
        default=frozenset(DEFAULT_PRODUCTION_ENVIRONMENTS)
    )
    """GitHub environments that deploy to prod: default production. Always reviewed too."""

    @classmethod
    def from_policy_config(cls, config: Mapping[str, Any]) -> GuardrailConfig:
        """Read ``reviewedEnvironments``/``productionEnvironments``; missing keys keep defaults."""
        return cls(
            reviewed_environments=_names(
                config, "reviewedEnvironments", DEFAULT_REVIEWED_ENVIRONMENTS
            ),
            production_environments=_names(
                config, "productionEnvironments", DEFAULT_PRODUCTION_ENVIRONMENTS
            ),
        )

    def needs_review(self, environment: str) -> bool:
        return (
            environment in self.reviewed_environments or environment in self.production_environments
        )


def _names(config: Mapping[str, Any], key: str, default: Sequence[str]) -> frozenset[str]:
    value = config.get(key)
    if value is None:
        return frozenset(default)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"policy config {key} must be a list of GitHub environment names")
    return frozenset(str(item) for item in value)


# --------------------------------------------------------------------------------------------
# Small helpers: props are CrossGuard's read-only proxies or plain dicts (Mapping/Sequence)
# --------------------------------------------------------------------------------------------


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _mappings(node: Any) -> list[Mapping[str, Any]]:
    if isinstance(node, str) or not isinstance(node, Sequence):
        return []
    return [item for item in node if isinstance(item, Mapping)]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str) or not isinstance(node, Sequence):
        return []
    return [item for item in node if isinstance(item, str)]


def _environment_of(resource: CrossGuardResource) -> str:
    return str(resource.props.get("environment") or "")


def _secret_name(resource: CrossGuardResource) -> str:
    return str(resource.props.get("secretName") or "").upper()


# --------------------------------------------------------------------------------------------
# 1 + 2: images and containers
# --------------------------------------------------------------------------------------------


def pod_specs(resource: CrossGuardResource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every pod spec a Kubernetes resource carries, with where it sits (for messages)."""
    if not resource.resource_type.startswith(K8S_PREFIX):
        return
    path = POD_SPEC_PATHS.get(kind_of(resource))
    if path is not None:
        spec = _get(resource.props, *path)
        if isinstance(spec, Mapping):
            yield ".".join(path), spec
    elif kind_of(resource) in ANALYSIS_TEMPLATES:
        for index, metric in enumerate(_mappings(_get(resource.props, "spec", "metrics"))):
            spec = _get(metric, "provider", "job", "spec", "template", "spec")
            if isinstance(spec, Mapping):
                yield f"spec.metrics[{index}].provider.job.spec.template.spec", spec


def containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(description, container) for every init container and container of a pod spec."""
    for list_name in _CONTAINER_LISTS:
        for index, container in enumerate(_mappings(pod_spec.get(list_name))):
            name = container.get("name") or f"{list_name}[{index}]"
            word = "init container" if list_name == "initContainers" else "container"
            yield f"{word} '{name}'", container


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None when it names a version tag or a digest.

    A value known only after an update never gets here: CrossGuard's property proxy raises
    ``UnknownValueError`` when a rule reads it, and the engine reports the policy as not run
    during preview instead of a violation.
    """
    if not isinstance(image, str) or not image:
        return "sets no image"
    reference, _, digest = image.partition("@")
    if digest:
        if _DIGEST.fullmatch(digest):
            return None
        return f"image '{image}' has a malformed digest (expected sha256: and 64 hex digits)"
    last_part = reference.rsplit("/", 1)[-1]  # a registry host may carry a :port
    if ":" not in last_part:
        return f"image '{image}' has no tag, which means latest"
    tag = last_part.rsplit(":", 1)[1]
    if not tag or tag.lower() == "latest":
        return f"image '{image}' uses the moving tag 'latest'"
    return None


def pinned_images(resource: CrossGuardResource) -> list[str]:
    """Rule 1: every container image is pinned to a version tag or a digest."""
    messages = []
    for _, spec in pod_specs(resource):
        for described, container in containers(spec):
            problem = image_problem(container.get("image"))
            if problem is not None:
                messages.append(
                    f"{label_of(resource)}: {described} {problem}; pin a version tag "
                    "(for example 1.4.2) or a digest (@sha256:...)"
                )
    return messages


def container_settings_missing(
    container: Mapping[str, Any], pod_spec: Mapping[str, Any]
) -> list[str]:
    """The settings a container lacks for resource limits and the restricted security profile.

    ``runAsNonRoot`` and ``seccompProfile`` may come from the pod's securityContext (the
    container's own value wins, as in Kubernetes); the others exist only per container.
    """
    missing = []
    limits = _get(container, "resources", "limits")
    for resource_name in ("cpu", "memory"):
        if not _get(limits, resource_name):
            missing.append(f"resources.limits.{resource_name}")
    own = container.get("securityContext")
    own = own if isinstance(own, Mapping) else {}
    pod = pod_spec.get("securityContext")
    pod = pod if isinstance(pod, Mapping) else {}

    run_as_non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if run_as_non_root is not True:
        missing.append("securityContext.runAsNonRoot: true")
    if own.get("allowPrivilegeEscalation") is not False:
        missing.append("securityContext.allowPrivilegeEscalation: false")
    if own.get("readOnlyRootFilesystem") is not True:
        missing.append("securityContext.readOnlyRootFilesystem: true")
    if own.get("privileged") is True:
        missing.append("securityContext.privileged: false")
    capabilities = own.get("capabilities")
    if "ALL" not in _strings(_get(capabilities, "drop")):
        missing.append("securityContext.capabilities.drop: [ALL]")
    added = [cap for cap in _strings(_get(capabilities, "add")) if cap != "NET_BIND_SERVICE"]
    if added:
        missing.append(f"no securityContext.capabilities.add (has {', '.join(added)})")
    seccomp = own.get("seccompProfile") or pod.get("seccompProfile")
    if _get(seccomp, "type") != "RuntimeDefault":
        missing.append("securityContext.seccompProfile.type: RuntimeDefault (pod or container)")
    return missing


def hardened_containers(resource: CrossGuardResource) -> list[str]:
    """Rule 2: limits on cpu and memory, and the restricted security context, per container."""
    messages = []
    for _, spec in pod_specs(resource):
        for described, container in containers(spec):
            missing = container_settings_missing(container, spec)
            if missing:
                messages.append(f"{label_of(resource)}: {described} must set {'; '.join(missing)}")
    return messages


# --------------------------------------------------------------------------------------------
# 3 + 4: RBAC
# --------------------------------------------------------------------------------------------


def no_wildcard_rbac(resource: CrossGuardResource) -> list[str]:
    """Rule 3: no Role or ClusterRole grants ``*`` verbs, resources or API groups."""
    if not resource.resource_type.startswith(RBAC_PREFIX) or kind_of(resource) not in ROLE_KINDS:
        return []
    messages = []
    for index, rule in enumerate(_mappings(resource.props.get("rules"))):
        for key in ("verbs", "resources", "apiGroups"):
            if "*" in _strings(rule.get(key)):
                messages.append(
                    f"{label_of(resource)}: rules[{index}].{key} contains '*'; "
                    f"list the {key} the subject needs"
                )
    return messages


def no_cluster_role_binding(resource: CrossGuardResource) -> list[str]:
    """Rule 4: this stack binds nothing cluster-wide."""
    if (
        not resource.resource_type.startswith(RBAC_PREFIX)
        or kind_of(resource) not in CLUSTER_ROLE_BINDING_KINDS
    ):
        return []
    return [
        f"{label_of(resource)}: this stack must not create ClusterRoleBindings; bind the role in "
        "the environment's namespace with a RoleBinding"
    ]


# --------------------------------------------------------------------------------------------
# 5: reviewed GitHub environments
# --------------------------------------------------------------------------------------------


def reviewer_ids(environment: CrossGuardResource) -> list[Any]:
    """Every team and user id in a RepositoryEnvironment's ``reviewers``."""
    ids: list[Any] = []
    for entry in _mappings(environment.props.get("reviewers")):
        for key in ("teams", "users"):
            value = entry.get(key)
            if isinstance(value, Sequence) and not isinstance(value, str):
                ids.extend(value)
    return ids


def review_missing(environment: CrossGuardResource) -> list[str]:
    """What a RepositoryEnvironment lacks for a review by someone other than the deployer."""
    missing = []
    if not reviewer_ids(environment):
        missing.append("required reviewers (reviewers.teams or reviewers.users)")
    if environment.props.get("preventSelfReview") is not True:
        missing.append("preventSelfReview: true")
    return missing


def reviewed_environment(resource: CrossGuardResource, config: GuardrailConfig) -> list[str]:
    """Rule 5: staging and prod environments need reviewers, no self-review, no admin bypass."""
    if resource.resource_type != REPOSITORY_ENVIRONMENT:
        return []
    name = _environment_of(resource)
    if not config.needs_review(name):
        return []
    missing = review_missing(resource)
    # The provider's default for canAdminsBypass is true, so it must be set explicitly.
    if resource.props.get("canAdminsBypass") is not False:
        missing.append("canAdminsBypass: false (the provider's default lets admins skip review)")
    if not missing:
        return []
    return [f"{label_of(resource)} (GitHub environment '{name}') must set {'; '.join(missing)}"]


# --------------------------------------------------------------------------------------------
# 7: no secret in plain text
# --------------------------------------------------------------------------------------------


def no_plaintext_secrets(resource: CrossGuardResource) -> list[str]:
    """Rule 7: GitHub Actions secrets never use ``plaintextValue``.

    ``plaintextValue`` is the provider's deprecated way to hand over a secret, and its presence is
    visible whatever its value. Whether ``value`` (or a Kubernetes Secret's ``data``) was a Pulumi
    secret is not: CrossGuard shows the policy the decrypted value with no mark, so the pack does
    not guess from the value's text.
    """
    if resource.resource_type not in GITHUB_SECRETS:
        return []
    if resource.props.get("plaintextValue") is None:
        return []
    return [
        f"{label_of(resource)}: plaintextValue is deprecated and must not be used; "
        "pass the secret as value= from a config secret (pulumi config set --secret)"
    ]


# --------------------------------------------------------------------------------------------
# 6 (stack): prod deploys only from main or release tags
# --------------------------------------------------------------------------------------------


def prod_deploy_sources(
    resources: Iterable[CrossGuardResource], config: GuardrailConfig
) -> list[Violation]:
    """Rule 6: prod environments use custom branch policies that allow only main and v* tags."""
    violations = []
    for resource in resources:
        env = _environment_of(resource)
        if env not in config.production_environments:
            continue
        if resource.resource_type == REPOSITORY_ENVIRONMENT:
            policy = resource.props.get("deploymentBranchPolicy")
            if (
                _get(policy, "customBranchPolicies") is not True
                or _get(policy, "protectedBranches") is not False
            ):
                violations.append(
                    Violation(
                        f"{label_of(resource)} (GitHub environment '{env}') must set "
                        "deploymentBranchPolicy {customBranchPolicies: true, "
                        "protectedBranches: false} so that only main and release tags deploy",
                        resource.urn,
                    )
                )
        elif resource.resource_type == DEPLOYMENT_POLICY:
            branch = resource.props.get("branchPattern")
            tag = resource.props.get("tagPattern")
            if branch is not None and branch != "main":
                violations.append(
                    Violation(
                        f"{label_of(resource)}: GitHub environment '{env}' must deploy only from "
                        f"branch main, not branchPattern '{branch}'",
                        resource.urn,
                    )
                )
            if tag is not None and not str(tag).startswith("v"):
                violations.append(
                    Violation(
                        f"{label_of(resource)}: GitHub environment '{env}' must deploy only from "
                        f"release tags starting with v (such as v*), not tagPattern '{tag}'",
                        resource.urn,
                    )
                )
    return violations


# --------------------------------------------------------------------------------------------
# Stack rule: credentials follow the review
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackFacts:
    """What the credentials rule needs to know about one stack, gathered in one pass."""

    namespace_owners: Mapping[str, tuple[str, ...]]
    """Namespace -> GitHub environments whose NAMESPACE variable names it."""
    deployer_namespaces: tuple[str, ...]
    """Namespaces in which the stack binds a ServiceAccount (the deployer) with a RoleBinding."""
    namespace_levels: Mapping[str, str]
    """Namespace -> its ``environment`` label (dev, staging, prod)."""
    environments: Mapping[str, CrossGuardResource]
    """GitHub environment name -> its RepositoryEnvironment."""
    oidc_subjects: tuple[tuple[str, str, str], ...] = ()
    """(namespace, user, RoleBinding URN) of each User subject that is a GitHub OIDC identity
    (``cluster.access: githubOidc``): its name holds ``repo:OWNER/REPO:``."""

    @classmethod
    def of(cls, resources: Iterable[CrossGuardResource]) -> StackFacts:
        owners: dict[str, list[str]] = {}
        deployers: set[str] = set()
        levels: dict[str, str] = {}
        environments: dict[str, CrossGuardResource] = {}
        oidc: list[tuple[str, str, str]] = []
        for resource in resources:
            props = resource.props
            if (
                resource.resource_type == ENVIRONMENT_VARIABLE
                and str(props.get("variableName") or "").upper() == NAMESPACE_VARIABLE
            ):
                owners.setdefault(str(props.get("value")), []).append(_environment_of(resource))
            elif resource.resource_type == ROLE_BINDING:
                namespace = _get(props, "metadata", "namespace")
                if not (isinstance(namespace, str) and namespace):
                    continue
                for subject in _mappings(props.get("subjects")):
                    if subject.get("kind") == "ServiceAccount":
                        deployers.add(namespace)
                    elif subject.get("kind") == "User" and _GITHUB_SUB.search(
                        str(subject.get("name") or "")
                    ):
                        oidc.append((namespace, str(subject["name"]), resource.urn))
            elif resource.resource_type == NAMESPACE:
                name = _get(props, "metadata", "name")
                level = _get(props, "metadata", "labels", "environment")
                if isinstance(name, str) and isinstance(level, str):
                    levels[name] = level
            elif resource.resource_type == REPOSITORY_ENVIRONMENT:
                environments[_environment_of(resource)] = resource
        return cls(
            namespace_owners={ns: tuple(sorted(set(envs))) for ns, envs in owners.items()},
            deployer_namespaces=tuple(sorted(deployers)),
            namespace_levels=levels,
            environments=environments,
            oidc_subjects=tuple(oidc),
        )


_GITHUB_SUB: Final = re.compile(r"repo:[^:/]+/[^:]+:")
"""A GitHub Actions OIDC ``sub`` (after any claim-mapping prefix) starts with repo:OWNER/REPO:."""
_ENVIRONMENT_SUB: Final = re.compile(r"repo:[^:/]+/[^:]+:environment:(?P<environment>[^:]+)$")


def credentials_follow_review(
    resources: Sequence[CrossGuardResource], config: GuardrailConfig
) -> list[Violation]:
    """Every KUBECONFIG lives only in the GitHub environment of the namespace it can write to,
    and for staging and prod that environment needs a review by someone else.

    The same holds in ``githubOidc`` mode, where no credential is stored: a RoleBinding may
    grant a GitHub OIDC identity only as ``repo:OWNER/REPO:environment:NAME`` (a token GitHub
    issues only to jobs of environment NAME, after its review), NAME must be the environment of
    that namespace, and for staging and prod NAME needs a review by someone else. A subject for
    a branch, tag or pull request would skip the review entirely.

    Which namespace a KUBECONFIG unlocks: the namespaces in which this stack binds a
    ServiceAccount with a RoleBinding (the deployer). Which GitHub environment owns a namespace:
    the environment whose ``NAMESPACE`` variable names it. A namespace needs a reviewed
    environment when that environment is configured as staging/prod or the namespace's
    ``environment`` label is staging or prod.
    """
    facts = StackFacts.of(resources)
    violations = []
    for namespace, owners in sorted(facts.namespace_owners.items()):
        if len(owners) > 1:
            violations.append(
                Violation(
                    f"namespace {namespace} is claimed by several GitHub environments "
                    f"({', '.join(repr(o) for o in owners)}) through their NAMESPACE variable; "
                    "exactly one environment may deploy to a namespace"
                )
            )
    for resource in resources:
        if resource.resource_type not in GITHUB_SECRETS or _secret_name(resource) != KUBECONFIG:
            continue
        if resource.resource_type != ENVIRONMENT_SECRET:
            violations.append(
                Violation(
                    f"{label_of(resource)}: KUBECONFIG must not be a repository or organisation "
                    "secret, which every workflow job can read; store it as an environment "
                    "secret of the namespace's GitHub environment",
                    resource.urn,
                )
            )
            continue
        violations.extend(_kubeconfig_path_violations(resource, facts, config))
    for namespace, user, urn in facts.oidc_subjects:
        violations.extend(_oidc_path_violations(namespace, user, urn or None, facts, config))
    return violations


def _oidc_path_violations(
    namespace: str, user: str, urn: str | None, facts: StackFacts, config: GuardrailConfig
) -> Iterator[Violation]:
    match = _ENVIRONMENT_SUB.search(user)
    if match is None:
        yield Violation(
            f"RoleBinding in namespace {namespace} grants the GitHub OIDC identity '{user}', "
            "which is not a deployment environment's (repo:OWNER/REPO:environment:NAME); a "
            "branch, tag or pull-request token skips the environment's review",
            urn,
        )
        return
    environment_name = match["environment"]
    owners = facts.namespace_owners.get(namespace, ())
    if environment_name not in owners:
        owner_names = " or ".join(f"'{o}'" for o in owners) or "none"
        yield Violation(
            f"RoleBinding in namespace {namespace} grants GitHub environment "
            f"'{environment_name}' (OIDC '{user}'), which is not the environment of that "
            f"namespace ({owner_names}); set NAMESPACE={namespace} in the environment that "
            "deploys it and bind that one",
            urn,
        )
        return
    level = facts.namespace_levels.get(namespace)
    if not (config.needs_review(environment_name) or level in PROTECTED_NAMESPACE_LABELS):
        return
    environment = facts.environments.get(environment_name)
    missing = review_missing(environment) if environment is not None else ["declared here"]
    if missing:
        yield Violation(
            f"GitHub environment '{environment_name}' gets OIDC access to namespace {namespace} "
            f"without a review by someone else; its RepositoryEnvironment must "
            f"{'be ' if environment is None else 'set '}{'; '.join(missing)}",
            urn,
        )


def _kubeconfig_path_violations(
    secret: CrossGuardResource, facts: StackFacts, config: GuardrailConfig
) -> Iterator[Violation]:
    stored_in = _environment_of(secret)
    if not facts.deployer_namespaces:
        yield Violation(
            f"KUBECONFIG in GitHub environment '{stored_in}' ({label_of(secret)}): this stack binds "
            "no ServiceAccount with a RoleBinding, so the namespace it unlocks is unknown; "
            "declare the deployer's RoleBinding in this stack",
            secret.urn,
        )
        return
    for namespace in facts.deployer_namespaces:
        owners = facts.namespace_owners.get(namespace, ())
        if not owners:
            yield Violation(
                f"KUBECONFIG for namespace {namespace} is stored in GitHub environment "
                f"'{stored_in}', but no GitHub environment claims that namespace; set the "
                f"environment variable NAMESPACE={namespace} in the environment that deploys it",
                secret.urn,
            )
            continue
        if stored_in not in owners:
            owner_names = " or ".join(f"'{o}'" for o in owners)
            yield Violation(
                f"KUBECONFIG for namespace {namespace} is stored in GitHub environment "
                f"'{stored_in}', which is not the environment of that namespace ({owner_names})",
                secret.urn,
            )
            continue
        level = facts.namespace_levels.get(namespace)
        if not (config.needs_review(stored_in) or level in PROTECTED_NAMESPACE_LABELS):
            continue
        environment = facts.environments.get(stored_in)
        if environment is None:
            yield Violation(
                f"KUBECONFIG for namespace {namespace} is stored in GitHub environment "
                f"'{stored_in}', which this stack does not declare, so its required review "
                "cannot be verified; declare the RepositoryEnvironment in this stack",
                secret.urn,
            )
            continue
        missing = review_missing(environment)
        if missing:
            yield Violation(
                f"KUBECONFIG for namespace {namespace} is readable in GitHub environment "
                f"'{stored_in}' without a review by someone else; {label_of(environment)} must "
                f"set {'; '.join(missing)}",
                secret.urn,
            )
