"""The guardrail rules: each passes a good resource and names the problem in a bad one.

Rules are called directly (no Pulumi CLI) on pulumi-policy's own objects, built by one helper,
:func:`resource`, exactly as CrossGuard builds them: a ``PolicyResource`` whose props are
deserialized and behind CrossGuard's read-only, unknown-checking proxies. So every test here also
proves that the real pulumi-policy classes are what the rules take (mypy checks the same
structurally). The CrossGuard wiring is exercised through the pack's policies; the rules also run
on the three real stacks through the one harness, the offline render.

Whether the render shows every secret as ``[secret]`` is the render's business, not the pack's:
that check lives in tests/test_kubernetes.py.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import (
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    deserialize_properties,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy import rules
from policy.__main__ import PACK_NAME, POLICIES
from policy.rules import GuardrailConfig, Violation
from render.engine import UNKNOWN, Registration
from tests.conftest import STACKS, render_variant, rendered, stack_config

DEFAULTS = GuardrailConfig()
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
K8S_SECRET = "kubernetes:core/v1:Secret"


# --------------------------------------------------------------------------------------------
# The one way tests build a resource: CrossGuard's own object
# --------------------------------------------------------------------------------------------


def crossguard_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Props as CrossGuard passes them: deserialized, behind its read-only proxies."""
    return unknown_checking_proxy(deserialize_properties(copy.deepcopy(dict(props))))


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource(type_token: str, name: str, props: Mapping[str, Any], urn: str = "") -> PolicyResource:
    """One resource as CrossGuard gives it to a stack rule: pulumi-policy's ``PolicyResource``,
    built the way its analyzer builds one (pulumi_policy/policy.py). Resource rules get a
    ``ResourceValidationArgs`` with the same four attributes; see :func:`validation_args`."""
    return PolicyResource(
        type_token, crossguard_props(props), urn, name, options(), None, None, [], {}
    )


def validation_args(
    source: PolicyResource, config: Mapping[str, Any] | None = None
) -> ResourceValidationArgs:
    """What CrossGuard hands a resource policy for the same resource."""
    return ResourceValidationArgs(
        source.resource_type, source.props, source.urn, source.name, options(), None, config
    )


# --------------------------------------------------------------------------------------------
# Builders of good resources; each test breaks one thing
# --------------------------------------------------------------------------------------------


def good_container(name: str = "app", image: str = "ghcr.io/acme/webshop:1.4.2") -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def workload(
    type_token: str = DEPLOYMENT,
    *,
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    pod_security: dict[str, Any] | None = None,
) -> PolicyResource:
    pod: dict[str, Any] = {"containers": containers or [good_container()]}
    if init_containers is not None:
        pod["initContainers"] = init_containers
    if pod_security is not None:
        pod["securityContext"] = pod_security
    props = {"metadata": {"name": "web"}, "spec": {"template": {"spec": pod}}}
    return resource(type_token, "web", props)


def environment(name: str = "production", **changes: Any) -> PolicyResource:
    props: dict[str, Any] = {
        "environment": name,
        "reviewers": [{"teams": [43943673], "users": []}],
        "preventSelfReview": True,
        "canAdminsBypass": False,
        "waitTimer": 15,
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
    }
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return resource(rules.REPOSITORY_ENVIRONMENT, f"{name}-environment", props, f"urn:{name}")


def deployment_policy(
    env: str, *, branch: str | None = None, tag: str | None = None
) -> PolicyResource:
    props: dict[str, Any] = {"environment": env, "repository": "webshop"}
    if branch is not None:
        props["branchPattern"] = branch
    if tag is not None:
        props["tagPattern"] = tag
    name = f"{env}-{branch or tag}"
    return resource(rules.DEPLOYMENT_POLICY, name, props, f"urn:{name}")


def env_secret(
    env: str, name: str = "KUBECONFIG", value: Any = "apiVersion: v1\nkind: Config"
) -> PolicyResource:
    """An environment secret as CrossGuard shows it: the value decrypted, nothing marking it."""
    props = {"environment": env, "secretName": name, "value": value, "repository": "webshop"}
    return resource(rules.ENVIRONMENT_SECRET, f"secret-{name.lower()}", props, f"urn:secret:{env}")


def namespace_variable(env: str, namespace: str) -> PolicyResource:
    props = {"environment": env, "variableName": "NAMESPACE", "value": namespace}
    return resource(rules.ENVIRONMENT_VARIABLE, f"variable-namespace-{env}", props)


def deployer_binding(namespace: str) -> PolicyResource:
    props = {
        "metadata": {"name": "deployer", "namespace": namespace},
        "roleRef": {"kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    }
    return resource(rules.ROLE_BINDING, "deployer", props)


def namespace(name: str, level: str) -> PolicyResource:
    props = {"metadata": {"name": name, "labels": {"environment": level}}}
    return resource(rules.NAMESPACE, "namespace", props)


def prod_stack(kubeconfig_env: str = "production") -> list[PolicyResource]:
    """A minimal prod stack as the contract describes it (section: credentials follow review)."""
    return [
        namespace("webshop-prod", "prod"),
        deployer_binding("webshop-prod"),
        environment("production"),
        namespace_variable("production", "webshop-prod"),
        env_secret(kubeconfig_env),
    ]


# --------------------------------------------------------------------------------------------
# 1: pinned images
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/acme/webshop:1.4.2",
        "registry.local:5000/webshop:2024.1",
        "ghcr.io/acme/webshop@sha256:" + "a" * 64,
        "ghcr.io/acme/webshop:1.4.2@sha256:" + "b" * 64,
    ],
)
def test_pinned_image_passes(image: str) -> None:
    assert rules.image_problem(image) is None


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/acme/webshop:latest", "uses the moving tag 'latest'"),
        ("ghcr.io/acme/webshop:LATEST", "uses the moving tag 'latest'"),
        ("ghcr.io/acme/webshop", "has no tag, which means latest"),
        ("registry.local:5000/webshop", "has no tag, which means latest"),
        ("ghcr.io/acme/webshop@sha256:123", "has a malformed digest"),
        ("", "sets no image"),
    ],
)
def test_unpinned_image_fails(image: str, problem: str) -> None:
    assert problem in (rules.image_problem(image) or "")


def test_pinned_images_pass_on_a_good_deployment() -> None:
    assert rules.pinned_images(workload()) == []


def test_pinned_images_name_the_workload_and_container() -> None:
    bad = workload(ROLLOUT, init_containers=[good_container("migrate", "ghcr.io/acme/db:latest")])
    assert rules.pinned_images(bad) == [
        "Rollout 'web': init container 'migrate' image 'ghcr.io/acme/db:latest' uses the "
        "moving tag 'latest'; pin a version tag (for example 1.4.2) or a digest (@sha256:...)"
    ]


def test_pinned_images_find_pods_cron_jobs_and_analysis_jobs() -> None:
    latest = {"containers": [good_container(image="busybox")]}
    pod = resource("kubernetes:core/v1:Pod", "p", {"spec": latest})
    cron = resource(
        "kubernetes:batch/v1:CronJob",
        "c",
        {"spec": {"jobTemplate": {"spec": {"template": {"spec": latest}}}}},
    )
    analysis = resource(
        "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate",
        "a",
        {"spec": {"metrics": [{"provider": {"job": {"spec": {"template": {"spec": latest}}}}}]}},
    )
    for workload_kind in (pod, cron, analysis):
        assert len(rules.pinned_images(workload_kind)) == 1, rules.kind_of(workload_kind)


def test_a_rollout_without_an_image_is_a_violation() -> None:
    """The Rollout is created with its image (components/workload.py, issue 22): one without
    any has nothing pinned."""
    container = good_container()
    del container["image"]
    assert rules.pinned_images(workload(ROLLOUT, containers=[container])) == [
        "Rollout 'web': container 'app' sets no image; pin a version tag "
        "(for example 1.4.2) or a digest (@sha256:...)"
    ]


def test_pinned_images_ignore_other_providers() -> None:
    lookalike = workload(containers=[good_container(image="busybox")])
    assert len(rules.pinned_images(lookalike)) == 1
    other = resource("aws:ecs/service:Service", "web", lookalike.props)
    assert rules.pinned_images(other) == []


# --------------------------------------------------------------------------------------------
# 2: limits and the restricted security context
# --------------------------------------------------------------------------------------------


def test_hardened_container_passes() -> None:
    assert rules.hardened_containers(workload()) == []


def test_pod_level_run_as_non_root_and_seccomp_count() -> None:
    container = good_container()
    del container["securityContext"]["runAsNonRoot"]
    del container["securityContext"]["seccompProfile"]
    pod_security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert (
        rules.hardened_containers(workload(containers=[container], pod_security=pod_security)) == []
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("resources", "limits", "cpu"), None, "resources.limits.cpu"),
        (("resources", "limits", "memory"), None, "resources.limits.memory"),
        (("securityContext", "runAsNonRoot"), False, "securityContext.runAsNonRoot: true"),
        (
            ("securityContext", "allowPrivilegeEscalation"),
            None,
            "securityContext.allowPrivilegeEscalation: false",
        ),
        (
            ("securityContext", "readOnlyRootFilesystem"),
            False,
            "securityContext.readOnlyRootFilesystem: true",
        ),
        (("securityContext", "capabilities", "drop"), ["NET_RAW"], "capabilities.drop: [ALL]"),
        (("securityContext", "capabilities", "add"), ["SYS_ADMIN"], "(has SYS_ADMIN)"),
        (("securityContext", "privileged"), True, "securityContext.privileged: false"),
        (
            ("securityContext", "seccompProfile", "type"),
            "Unconfined",
            "seccompProfile.type: RuntimeDefault",
        ),
    ],
)
def test_container_missing_a_setting_fails(
    path: tuple[str, ...], value: Any, expected: str
) -> None:
    container = good_container()
    node = container
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    messages = rules.hardened_containers(workload(containers=[container]))
    assert len(messages) == 1
    assert messages[0].startswith("Deployment 'web': container 'app' must set ")
    assert expected in messages[0]


def test_container_value_overrides_the_pod() -> None:
    container = good_container()
    container["securityContext"]["runAsNonRoot"] = False
    messages = rules.hardened_containers(
        workload(containers=[container], pod_security={"runAsNonRoot": True})
    )
    assert messages == [
        "Deployment 'web': container 'app' must set securityContext.runAsNonRoot: true"
    ]


# --------------------------------------------------------------------------------------------
# 3 + 4: RBAC
# --------------------------------------------------------------------------------------------


def role(type_token: str, rule: Mapping[str, Any]) -> PolicyResource:
    return resource(type_token, "deployer", {"rules": [rule]})


GOOD_RULE: dict[str, Any] = {
    "apiGroups": ["argoproj.io"],
    "resources": ["rollouts"],
    "verbs": ["get", "patch", "watch"],
}


def test_role_with_named_verbs_passes() -> None:
    assert rules.no_wildcard_rbac(role(ROLE, GOOD_RULE)) == []


@pytest.mark.parametrize("key", ["verbs", "resources", "apiGroups"])
@pytest.mark.parametrize("type_token", [ROLE, CLUSTER_ROLE])
def test_wildcard_in_a_role_fails(type_token: str, key: str) -> None:
    bad = role(type_token, {**GOOD_RULE, key: ["*"]})
    kind = type_token.rsplit(":", 1)[1]
    assert rules.no_wildcard_rbac(bad) == [
        f"{kind} 'deployer': rules[0].{key} contains '*'; list the {key} the subject needs"
    ]


def test_role_binding_is_allowed() -> None:
    assert rules.no_cluster_role_binding(deployer_binding("webshop-dev")) == []


def test_cluster_role_binding_fails() -> None:
    binding = resource(CLUSTER_ROLE_BINDING, "everyone-admin", {"roleRef": {"name": "admin"}})
    assert rules.no_cluster_role_binding(binding) == [
        "ClusterRoleBinding 'everyone-admin': this stack must not create ClusterRoleBindings; "
        "bind the role in the environment's namespace with a RoleBinding"
    ]


# --------------------------------------------------------------------------------------------
# 5: reviewed environments, and the policy config that names them
# --------------------------------------------------------------------------------------------


def test_reviewed_production_environment_passes() -> None:
    assert rules.reviewed_environment(environment("production"), DEFAULTS) == []


def test_development_needs_no_reviewers() -> None:
    dev = environment("development", reviewers=[], preventSelfReview=False)
    assert rules.reviewed_environment(dev, DEFAULTS) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"reviewers": [{"teams": [], "users": []}]},
            "required reviewers (reviewers.teams or reviewers.users)",
        ),
        ({"reviewers": None}, "required reviewers"),
        ({"preventSelfReview": False}, "preventSelfReview: true"),
        ({"canAdminsBypass": None}, "canAdminsBypass: false"),
    ],
)
def test_staging_without_review_fails(changes: dict[str, Any], expected: str) -> None:
    messages = rules.reviewed_environment(environment("staging", **changes), DEFAULTS)
    assert len(messages) == 1
    assert messages[0].startswith(
        "RepositoryEnvironment 'staging-environment' (GitHub environment 'staging') must set "
    )
    assert expected in messages[0]


def test_environment_names_come_from_policy_config() -> None:
    config = GuardrailConfig.from_policy_config(
        {"reviewedEnvironments": ["qa"], "productionEnvironments": ["prod-eu"]}
    )
    assert config.needs_review("qa")
    assert config.needs_review("prod-eu")
    assert not config.needs_review("staging")
    unreviewed = {"reviewers": [], "preventSelfReview": False}
    assert rules.reviewed_environment(environment("prod-eu", **unreviewed), config) != []
    assert rules.reviewed_environment(environment("staging", **unreviewed), config) == []


def test_policy_config_defaults_and_bad_values() -> None:
    assert GuardrailConfig.from_policy_config({}) == DEFAULTS
    assert DEFAULTS.reviewed_environments == {"staging", "production"}
    assert DEFAULTS.production_environments == {"production"}
    with pytest.raises(ValueError, match="reviewedEnvironments must be a list"):
        GuardrailConfig.from_policy_config({"reviewedEnvironments": "staging"})


# --------------------------------------------------------------------------------------------
# 6: prod deploys only from main or release tags
# --------------------------------------------------------------------------------------------


def test_prod_from_main_and_v_tags_passes() -> None:
    resources = [
        environment("production"),
        deployment_policy("production", branch="main"),
        deployment_policy("production", tag="v*"),
        deployment_policy("staging", branch="develop"),
    ]
    assert rules.prod_deploy_sources(resources, DEFAULTS) == []


def test_prod_from_another_branch_or_tag_fails() -> None:
    develop = deployment_policy("production", branch="develop")
    any_tag = deployment_policy("production", tag="*")
    assert rules.prod_deploy_sources([develop, any_tag], DEFAULTS) == [
        Violation(
            "RepositoryEnvironmentDeploymentPolicy 'production-develop': GitHub environment "
            "'production' must deploy only from branch main, not branchPattern 'develop'",
            "urn:production-develop",
        ),
        Violation(
            "RepositoryEnvironmentDeploymentPolicy 'production-*': GitHub environment "
            "'production' must deploy only from release tags starting with v (such as v*), "
            "not tagPattern '*'",
            "urn:production-*",
        ),
    ]


@pytest.mark.parametrize(
    "policy",
    [None, {"protectedBranches": True, "customBranchPolicies": False}],
    ids=["no branch policy", "protected branches"],
)
def test_prod_without_custom_branch_policies_fails(policy: dict[str, bool] | None) -> None:
    prod = environment("production", deploymentBranchPolicy=policy)
    assert rules.prod_deploy_sources([prod], DEFAULTS) == [
        Violation(
            "RepositoryEnvironment 'production-environment' (GitHub environment 'production') "
            "must set deploymentBranchPolicy {customBranchPolicies: true, protectedBranches: "
            "false} so that only main and release tags deploy",
            "urn:production",
        )
    ]


# --------------------------------------------------------------------------------------------
# 7: no secret in plain text
# --------------------------------------------------------------------------------------------


def on_the_wire(value: Any) -> dict[str, Any]:
    """A value the program passed as a Pulumi secret, as the engine sends it to the analyzer."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


@pytest.mark.parametrize("type_token", sorted(rules.GITHUB_SECRETS))
def test_secret_passed_as_value_passes(type_token: str) -> None:
    props = {"secretName": "SENTRY_DSN", "value": on_the_wire("https://key@sentry.example/1")}
    secret = resource(type_token, "sentry", props)
    # What policy/README.md says of the real engine: the rule sees the plain value, unmarked.
    assert secret.props["value"] == "https://key@sentry.example/1"
    assert rules.no_plaintext_secrets(secret) == []


@pytest.mark.parametrize("type_token", sorted(rules.GITHUB_SECRETS))
def test_plaintext_value_property_fails(type_token: str) -> None:
    secret = resource(type_token, "snyk", {"secretName": "SNYK_TOKEN", "plaintextValue": "x"})
    assert rules.no_plaintext_secrets(secret) == [
        f"{rules.kind_of(secret)} 'snyk': plaintextValue is deprecated and must not be used; "
        "pass the secret as value= from a config secret (pulumi config set --secret)"
    ]
    # Marking it secret does not help: the deprecated property is what is refused.
    marked = resource(type_token, "snyk", {"plaintextValue": on_the_wire("x")})
    assert len(rules.no_plaintext_secrets(marked)) == 1


def test_secretness_is_not_guessed_from_a_value() -> None:
    """A secret and a plain string arrive alike, so neither a GitHub secret's value nor a
    Kubernetes Secret's data is judged by its text (the render's tests check secretness)."""
    plain = resource(rules.ENVIRONMENT_SECRET, "dsn", {"value": "https://key@sentry.example/1"})
    secret = resource(rules.ENVIRONMENT_SECRET, "dsn", {"value": on_the_wire("x")})
    data = resource(K8S_SECRET, "pull", {"plaintextValue": "x", "stringData": {"token": "abc"}})
    assert [rules.no_plaintext_secrets(r) for r in (plain, secret, data)] == [[], [], []]


# --------------------------------------------------------------------------------------------
# Stack rule: credentials follow the review
# --------------------------------------------------------------------------------------------


def test_kubeconfig_in_its_reviewed_environment_passes() -> None:
    assert rules.credentials_follow_review(prod_stack(), DEFAULTS) == []


def test_kubeconfig_in_another_environment_fails() -> None:
    assert rules.credentials_follow_review(prod_stack("development"), DEFAULTS) == [
        Violation(
            "KUBECONFIG for namespace webshop-prod is stored in GitHub environment "
            "'development', which is not the environment of that namespace ('production')",
            "urn:secret:development",
        )
    ]


def test_kubeconfig_as_repository_secret_fails() -> None:
    repo_secret = resource(
        rules.REPOSITORY_SECRET, "kube", {"secretName": "kubeconfig", "value": "kubeconfig"}, "u"
    )
    violations = rules.credentials_follow_review([*prod_stack(), repo_secret], DEFAULTS)
    assert violations == [
        Violation(
            "ActionsSecret 'kube': KUBECONFIG must not be a repository or organisation secret, "
            "which every workflow job can read; store it as an environment secret of the "
            "namespace's GitHub environment",
            "u",
        )
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"reviewers": []}, "required reviewers (reviewers.teams or reviewers.users)"),
        ({"preventSelfReview": False}, "preventSelfReview: true"),
    ],
)
def test_kubeconfig_in_unreviewed_prod_environment_fails(
    changes: dict[str, Any], expected: str
) -> None:
    stack = [r for r in prod_stack() if r.resource_type != rules.REPOSITORY_ENVIRONMENT]
    stack.append(environment("production", **changes))
    [violation] = rules.credentials_follow_review(stack, DEFAULTS)
    assert violation.message == (
        "KUBECONFIG for namespace webshop-prod is readable in GitHub environment 'production' "
        "without a review by someone else; RepositoryEnvironment 'production-environment' must "
        f"set {expected}"
    )


def test_prod_namespace_label_needs_review_whatever_the_environment_is_called() -> None:
    stack = [
        namespace("webshop-prod", "prod"),
        deployer_binding("webshop-prod"),
        environment("live", reviewers=[]),
        namespace_variable("live", "webshop-prod"),
        env_secret("live"),
    ]
    [violation] = rules.credentials_follow_review(stack, DEFAULTS)
    assert "readable in GitHub environment 'live' without a review" in violation.message


def test_dev_kubeconfig_needs_no_review() -> None:
    stack = [
        namespace("webshop-dev", "dev"),
        deployer_binding("webshop-dev"),
        environment("development", reviewers=[], preventSelfReview=False),
        namespace_variable("development", "webshop-dev"),
        env_secret("development"),
    ]
    assert rules.credentials_follow_review(stack, DEFAULTS) == []


def test_unclaimed_or_doubly_claimed_namespace_fails() -> None:
    unclaimed = [r for r in prod_stack() if r.resource_type != rules.ENVIRONMENT_VARIABLE]
    [violation] = rules.credentials_follow_review(unclaimed, DEFAULTS)
    assert violation.message.startswith(
        "KUBECONFIG for namespace webshop-prod is stored in GitHub environment 'production', "
        "but no GitHub environment claims that namespace"
    )
    doubly = [*prod_stack(), namespace_variable("development", "webshop-prod")]
    messages = [v.message for v in rules.credentials_follow_review(doubly, DEFAULTS)]
    assert messages == [
        "namespace webshop-prod is claimed by several GitHub environments ('development', "
        "'production') through their NAMESPACE variable; exactly one environment may deploy "
        "to a namespace"
    ]


def test_kubeconfig_without_a_deployer_binding_fails() -> None:
    stack = [r for r in prod_stack() if r.resource_type != rules.ROLE_BINDING]
    [violation] = rules.credentials_follow_review(stack, DEFAULTS)
    assert "binds no ServiceAccount with a RoleBinding" in violation.message


def test_reviewed_environment_missing_from_the_stack_fails() -> None:
    stack = [r for r in prod_stack() if r.resource_type != rules.REPOSITORY_ENVIRONMENT]
    [violation] = rules.credentials_follow_review(stack, DEFAULTS)
    assert "which this stack does not declare" in violation.message


# --------------------------------------------------------------------------------------------
# The CrossGuard wiring, with pulumi-policy's own argument classes
# --------------------------------------------------------------------------------------------


def policy_named(name: str) -> Any:
    [found] = [p for p in POLICIES if p.name == name]
    return found


def test_pack_declares_every_rule_as_mandatory() -> None:
    assert PACK_NAME == "cicd-guardrails"
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 8
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in POLICIES)
    stack_policies = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}
    assert stack_policies == {
        "prod-deploys-from-main-or-release-tags",
        "credentials-follow-the-review",
    }


def test_pulumi_policy_objects_are_what_the_rules_take() -> None:
    """The Protocol names what CrossGuard's classes hold; a renamed attribute fails here."""
    stack_item = deployment_policy("production", branch="main")
    assert isinstance(stack_item, rules.CrossGuardResource)
    assert isinstance(validation_args(stack_item), rules.CrossGuardResource)
    assert not isinstance(options(), rules.CrossGuardResource)
    assert rules.label_of(validation_args(stack_item)) == (
        "RepositoryEnvironmentDeploymentPolicy 'production-main'"
    )


def test_resource_policy_reports_through_crossguard() -> None:
    policy = policy_named("reviewed-github-environments")
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[tuple[str, str | None]] = []
    bad = validation_args(environment("staging", preventSelfReview=False))
    policy.validate(bad, lambda message, urn: reported.append((message, urn)))
    assert reported == [
        (
            "RepositoryEnvironment 'staging-environment' (GitHub environment 'staging') must "
            "set preventSelfReview: true",
            None,
        )
    ]
    reported.clear()
    policy.validate(validation_args(environment("staging")), lambda m, u: reported.append((m, u)))
    assert reported == []


def test_resource_policy_reads_environment_names_from_policy_config() -> None:
    policy = policy_named("reviewed-github-environments")
    unreviewed = environment("qa", reviewers=[])
    reported: list[str] = []
    policy.validate(validation_args(unreviewed), lambda m, _u: reported.append(m))
    assert reported == []
    config = {"reviewedEnvironments": ["qa"]}
    policy.validate(validation_args(unreviewed, config), lambda m, _u: reported.append(m))
    assert len(reported) == 1
    assert "required reviewers" in reported[0]


def test_container_policy_reads_crossguard_proxies() -> None:
    policy = policy_named("hardened-containers")
    container = good_container()
    del container["resources"]
    reported: list[str] = []
    bad = validation_args(workload(containers=[container]))
    policy.validate(bad, lambda message, _urn: reported.append(message))
    assert reported == [
        "Deployment 'web': container 'app' must set resources.limits.cpu; resources.limits.memory"
    ]


def test_an_unknown_value_stops_the_rule_as_in_a_preview() -> None:
    """During preview CrossGuard's proxy raises on a value known only after the update; the
    analyzer turns that into "can't run policy during preview", not a violation or a pass."""
    container = good_container(image=UNKNOWN_STRING_VALUE)
    policy = policy_named("pinned-images")
    with pytest.raises(UnknownValueError) as caught:
        policy.validate(validation_args(workload(containers=[container])), lambda m, u: None)
    assert caught.value.message == (
        "string value at .spec.template.spec.containers.0.image can't be known during preview"
    )


def test_plaintext_secret_policy_reports_through_crossguard() -> None:
    policy = policy_named("no-plaintext-secrets")
    secret = resource(rules.REPOSITORY_SECRET, "snyk", {"plaintextValue": on_the_wire("x")})
    reported: list[str] = []
    policy.validate(validation_args(secret), lambda m, _u: reported.append(m))
    assert reported == [
        "ActionsSecret 'snyk': plaintextValue is deprecated and must not be used; pass the "
        "secret as value= from a config secret (pulumi config set --secret)"
    ]


def test_stack_policy_reports_through_crossguard_with_the_urn() -> None:
    policy = policy_named("credentials-follow-the-review")
    reported: list[tuple[str, str | None]] = []
    args = StackValidationArgs(prod_stack("development"), None)
    policy.validate(args, lambda m, u: reported.append((m, u)))
    assert reported == [
        (
            "KUBECONFIG for namespace webshop-prod is stored in GitHub environment "
            "'development', which is not the environment of that namespace ('production')",
            "urn:secret:development",
        )
    ]


def test_stack_policy_reads_environment_names_from_policy_config() -> None:
    policy = policy_named("prod-deploys-from-main-or-release-tags")
    live = deployment_policy("live", branch="develop")
    reported: list[str] = []
    policy.validate(StackValidationArgs([live], None), lambda m, _u: reported.append(m))
    assert reported == []
    config = {"productionEnvironments": ["live"]}
    policy.validate(StackValidationArgs([live], config), lambda m, _u: reported.append(m))
    assert len(reported) == 1
    assert "not branchPattern 'develop'" in reported[0]


# --------------------------------------------------------------------------------------------
# The real stacks, through the offline render
# --------------------------------------------------------------------------------------------


def _as_the_engine_sends(value: Any) -> Any:
    """The render's "[unknown]" back into the engine's unknown value, which CrossGuard's proxy
    refuses to read; everything else as rendered ("[secret]" stands for a decrypted value)."""
    if value == UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {key: _as_the_engine_sends(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_the_engine_sends(item) for item in value]
    return value


def crossguard_view(registrations: Iterable[Registration]) -> list[PolicyResource]:
    """A render's registrations as CrossGuard hands them to a stack rule."""
    return [resource(r.type, r.name, _as_the_engine_sends(r.inputs), r.urn) for r in registrations]


def every_rule(resources: list[PolicyResource]) -> list[str]:
    messages: list[str] = []
    for item in resources:
        messages += rules.pinned_images(item)
        messages += rules.hardened_containers(item)
        messages += rules.no_wildcard_rbac(item)
        messages += rules.no_cluster_role_binding(item)
        messages += rules.reviewed_environment(item, DEFAULTS)
        messages += rules.no_plaintext_secrets(item)
    for violation in [
        *rules.prod_deploy_sources(resources, DEFAULTS),
        *rules.credentials_follow_review(resources, DEFAULTS),
    ]:
        messages.append(violation.message)
    return messages


def is_kubeconfig(registration: Registration) -> bool:
    return registration.type == rules.ENVIRONMENT_SECRET and (
        registration.inputs.get("secretName") == rules.KUBECONFIG
    )


@pytest.mark.parametrize("stack", STACKS)
def test_real_stack_passes_every_rule(stack: str) -> None:
    registrations = rendered(stack).resources
    resources = crossguard_view(registrations)
    namespace_name = stack_config(stack)["cicd:environment"]["namespace"]
    facts = rules.StackFacts.of(resources)
    # The stack rule must have something to judge: one KUBECONFIG, a deployer, an owner.
    assert len([r for r in registrations if is_kubeconfig(r)]) == 1
    assert facts.deployer_namespaces == (namespace_name,)
    assert namespace_name in facts.namespace_owners
    assert any(rules.pod_specs(r) for r in resources), "no workload rendered"
    assert every_rule(resources) == []


def test_prod_kubeconfig_stored_in_development_is_caught() -> None:
    registrations = [
        dataclasses.replace(r, inputs={**r.inputs, "environment": "development"})
        if is_kubeconfig(r)
        else r
        for r in rendered("prod").resources
    ]
    namespace_name = stack_config("prod")["cicd:environment"]["namespace"]
    violations = rules.credentials_follow_review(crossguard_view(registrations), DEFAULTS)
    assert [v.message for v in violations] == [
        f"KUBECONFIG for namespace {namespace_name} is stored in GitHub environment "
        "'development', which is not the environment of that namespace ('production')"
    ]


# --------------------------------------------------------------------------------------------
# credentials follow the review: cluster.access githubOidc (no stored credential)
# --------------------------------------------------------------------------------------------


def oidc_binding(namespace: str, user: str) -> PolicyResource:
    props = {
        "metadata": {"name": "deployer", "namespace": namespace},
        "roleRef": {"kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
    }
    return resource(rules.ROLE_BINDING, "deployer", props, f"urn:binding:{namespace}")


def oidc_prod_stack(user: str, **environment_changes: Any) -> list[PolicyResource]:
    return [
        namespace("webshop-prod", "prod"),
        oidc_binding("webshop-prod", user),
        environment("production", **environment_changes),
        namespace_variable("production", "webshop-prod"),
    ]


PROD_SUB = "github:repo:acme/webshop:environment:production"


def test_oidc_subject_of_the_reviewed_environment_passes() -> None:
    assert rules.credentials_follow_review(oidc_prod_stack(PROD_SUB), DEFAULTS) == []


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            "github:repo:acme/webshop:ref:refs/heads/main",
            "which is not a deployment environment's (repo:OWNER/REPO:environment:NAME)",
        ),
        ("github:repo:acme/webshop:pull_request", "skips the environment's review"),
        (
            "github:repo:acme/webshop:environment:development",
            "grants GitHub environment 'development' (OIDC "
            "'github:repo:acme/webshop:environment:development'), which is not the environment "
            "of that namespace ('production')",
        ),
    ],
)
def test_oidc_subject_outside_the_namespace_environment_fails(user: str, expected: str) -> None:
    [violation] = rules.credentials_follow_review(oidc_prod_stack(user), DEFAULTS)
    assert expected in violation.message
    assert violation.urn == "urn:binding:webshop-prod"


def test_oidc_subject_of_an_unreviewed_prod_environment_fails() -> None:
    [violation] = rules.credentials_follow_review(oidc_prod_stack(PROD_SUB, reviewers=[]), DEFAULTS)
    assert violation.message == (
        "GitHub environment 'production' gets OIDC access to namespace webshop-prod without a "
        "review by someone else; its RepositoryEnvironment must set required reviewers "
        "(reviewers.teams or reviewers.users)"
    )
    undeclared = [
        r for r in oidc_prod_stack(PROD_SUB) if r.resource_type != rules.REPOSITORY_ENVIRONMENT
    ]
    [violation] = rules.credentials_follow_review(undeclared, DEFAULTS)
    assert "its RepositoryEnvironment must be declared here" in violation.message


def test_rendered_oidc_stack_passes_every_rule_and_is_judged() -> None:
    registrations = render_variant("staging", {"cicd:cluster.access": "githubOidc"}).resources
    resources = crossguard_view(registrations)
    facts = rules.StackFacts.of(resources)
    assert [(ns, user) for ns, user, _ in facts.oidc_subjects] == [
        ("webshop-staging", "github:repo:acme/webshop:environment:staging")
    ]
    assert not any(is_kubeconfig(r) for r in registrations)
    assert every_rule(resources) == []
    unreviewed = [
        dataclasses.replace(r, inputs={**r.inputs, "reviewers": []})
        if r.type == rules.REPOSITORY_ENVIRONMENT
        else r
        for r in registrations
    ]
    assert any("gets OIDC access" in m for m in every_rule(crossguard_view(unreviewed)))
