"""The ``cicd-guardrails`` CrossGuard policy pack: `pulumi preview --policy-pack policy`.

This module only wires the plain rules in ``rules.py`` into pulumi-policy; every rule is
mandatory. CrossGuard's own objects go to the rules as they are: ``ResourceValidationArgs`` to a
resource rule, the ``PolicyResource`` list of ``StackValidationArgs.resources`` to a stack rule.
Both match ``rules.CrossGuardResource`` structurally, which mypy checks on the calls below, so
there is no adapter copying fields.

The Pulumi CLI runs this file as ``__main__`` with the pack's own directory on ``sys.path``;
tests import it as ``policy.__main__``, which builds the policies without starting the analyzer
server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:
    from policy import rules
except ModuleNotFoundError:  # run by the Pulumi CLI: the pack directory itself is on sys.path
    import rules  # type: ignore[import-not-found, no-redef]

PACK_NAME: Final = "cicd-guardrails"

_ENVIRONMENT_NAMES: Final = {"type": "array", "items": {"type": "string", "minLength": 1}}
ENVIRONMENT_CONFIG: Final = PolicyConfigSchema(
    properties={
        "reviewedEnvironments": {
            **_ENVIRONMENT_NAMES,
            "description": "GitHub environments of staging and prod, which need reviewers.",
            "default": list(rules.DEFAULT_REVIEWED_ENVIRONMENTS),
        },
        "productionEnvironments": {
            **_ENVIRONMENT_NAMES,
            "description": "GitHub environments that deploy to prod (always reviewed too).",
            "default": list(rules.DEFAULT_PRODUCTION_ENVIRONMENTS),
        },
    }
)

ResourceCheck = Callable[[rules.CrossGuardResource, rules.GuardrailConfig], list[str]]
StackCheck = Callable[
    [Sequence[rules.CrossGuardResource], rules.GuardrailConfig], list[rules.Violation]
]


def _config(config: Mapping[str, Any]) -> rules.GuardrailConfig:
    return rules.GuardrailConfig.from_policy_config(config)


def resource_policy(
    name: str, description: str, check: ResourceCheck, *, configurable: bool = False
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args, _config(args.get_config())):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_CONFIG if configurable else None,
    )


def stack_policy(name: str, description: str, check: StackCheck) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for violation in check(args.resources, _config(args.get_config())):
            report_violation(violation.message, violation.urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_CONFIG,
    )


POLICIES: Final = [
    resource_policy(
        "pinned-images",
        "Every container image is pinned to a version tag or a digest, never latest or untagged.",
        lambda resource, _: rules.pinned_images(resource),
    ),
    resource_policy(
        "hardened-containers",
        "Every container has cpu and memory limits and the restricted security context.",
        lambda resource, _: rules.hardened_containers(resource),
    ),
    resource_policy(
        "no-wildcard-rbac",
        "No Role or ClusterRole grants '*' verbs, resources or API groups.",
        lambda resource, _: rules.no_wildcard_rbac(resource),
    ),
    resource_policy(
        "no-cluster-role-binding",
        "The stack creates no ClusterRoleBinding: access is granted per namespace.",
        lambda resource, _: rules.no_cluster_role_binding(resource),
    ),
    resource_policy(
        "reviewed-github-environments",
        "Staging and prod GitHub environments need reviewers, self-review prevention and no "
        "admin bypass.",
        rules.reviewed_environment,
        configurable=True,
    ),
    resource_policy(
        "no-plaintext-secrets",
        "GitHub Actions secrets never use the deprecated plaintextValue. (CrossGuard shows "
        "policies secrets decrypted, so whether a value was a Pulumi secret cannot be seen here.)",
        lambda resource, _: rules.no_plaintext_secrets(resource),
    ),
    stack_policy(
        "prod-deploys-from-main-or-release-tags",
        "The prod GitHub environment uses custom branch policies allowing only main and v* tags.",
        rules.prod_deploy_sources,
    ),
    stack_policy(
        "credentials-follow-the-review",
        "Each KUBECONFIG is stored only in the GitHub environment of its namespace, and for "
        "staging and prod that environment needs a review by someone else.",
        rules.credentials_follow_review,
    ),
]


if __name__ == "__main__":
    PolicyPack(
        name=PACK_NAME, policies=list(POLICIES), enforcement_level=EnforcementLevel.MANDATORY
    )
