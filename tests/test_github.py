"""GitHub side: environments, reviewers, branch/tag policies, secrets, variables, protection."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from render.engine import SECRET, Rendered, stable_id
from render.tree import (
    T_ENV_SECRET,
    T_ENV_VARIABLE,
    T_ENVIRONMENT,
    T_POLICY,
    T_PROTECTION,
    T_REPO_SECRET,
    github_settings,
)
from tests.conftest import STACKS, config_problems, files, render_variant, rendered

GITHUB_ENV = {"dev": "development", "staging": "staging", "prod": "production"}


def settings_of(stack: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files(stack)["github/settings.yaml"])
    return data


@pytest.mark.parametrize(
    ("stack", "teams", "wait", "bypass", "branches", "tags"),
    [
        ("dev", [], 0, True, ["develop"], []),
        ("staging", ["webshop-leads"], 0, False, ["develop", "release/*"], []),
        ("prod", ["webshop-leads", "sre"], 15, False, ["main"], ["v*"]),
    ],
)
def test_environment_per_stack(
    stack: str, teams: list[str], wait: int, bypass: bool, branches: list[str], tags: list[str]
) -> None:
    environments = settings_of(stack)["environments"]
    assert list(environments) == [GITHUB_ENV[stack]]
    env = environments[GITHUB_ENV[stack]]
    assert env["reviewers"]["teams"] == [stable_id("team", t) for t in teams]  # looked-up ids
    assert env["wait_timer"] == wait
    # Self-review prevention only where reviewers exist: GitHub answers 422 without them (dev).
    assert env["prevent_self_review"] is bool(teams)
    assert env["can_admins_bypass"] is bypass
    assert (env["custom_branch_policies"], env["protected_branches"]) == (True, False)
    assert env["branch_patterns"] == branches
    assert env["tag_patterns"] == tags


def test_reviewers_given_as_numeric_ids_and_users_are_used_as_is() -> None:
    result = render_variant(
        "staging", {"cicd:approval.reviewers": {"teams": [4242], "users": ["octocat", 17]}}
    )
    env = github_settings(result)["environments"]["staging"]
    assert env["reviewers"] == {"teams": [4242], "users": [stable_id("user", "octocat"), 17]}


def test_deployment_policies_are_created_after_their_environment() -> None:
    for policy in rendered("prod").of_type(T_POLICY):
        assert "webshop-environment" in policy.options["depends_on"]


def test_protected_environments_cannot_deploy_without_an_approval() -> None:
    for stack in ("staging", "prod"):
        (env,) = rendered(stack).of_type(T_ENVIRONMENT)
        assert env.inputs["reviewers"][0]["teams"], stack
        assert env.inputs["preventSelfReview"] is True
        assert env.inputs["canAdminsBypass"] is False


def test_kubeconfig_is_stored_only_in_its_own_environment(stack: str) -> None:
    result = rendered(stack)
    kubeconfigs = [
        s for s in result.of_type(T_ENV_SECRET) if s.inputs["secretName"] == "KUBECONFIG"
    ]
    assert [k.inputs["environment"] for k in kubeconfigs] == [GITHUB_ENV[stack]]
    assert kubeconfigs[0].inputs["value"] == SECRET
    assert not any(s.inputs["secretName"] == "KUBECONFIG" for s in result.of_type(T_REPO_SECRET))


def test_environment_variables_the_workflows_read(stack: str) -> None:
    variables = settings_of(stack)["environments"][GITHUB_ENV[stack]]["variables"]
    assert variables["NAMESPACE"] == f"webshop-{stack}"
    assert variables["WORKLOAD_NAME"] == "webshop"
    assert variables["WORKLOAD_KIND"] == ("Deployment" if stack == "dev" else "Rollout")
    # The image repository is in the workflow file itself (IMAGE at the top, as in ci.yml),
    # since verify runs outside the environment and could not read an environment variable.
    assert "IMAGE" not in variables
    assert variables["DEPLOY_ENABLED"] == ("false" if stack == "prod" else "true")
    on = render_variant("prod", {"cicd:deploy.enabled": True})
    assert (
        github_settings(on)["environments"]["production"]["variables"]["DEPLOY_ENABLED"] == "true"
    )


def test_secret_rotation_outside_pulumi_is_a_switch() -> None:
    prod = {s.inputs["secretName"]: s for s in rendered("prod").of_type(T_ENV_SECRET)}
    assert prod["SENTRY_DSN"].options["ignore_changes"] == ["remoteUpdatedAt"]
    assert prod["KUBECONFIG"].options["ignore_changes"] == []
    staging = {s.inputs["secretName"]: s for s in rendered("staging").of_type(T_ENV_SECRET)}
    assert staging["SENTRY_DSN"].options["ignore_changes"] == []


def test_repository_secrets_and_branch_protection_owners() -> None:
    assert settings_of("dev")["repository_secrets"] == [
        "DISCORD_WEBHOOK_URL",
        "SLACK_WEBHOOK_URL",
        "SNYK_TOKEN",
    ]
    assert settings_of("staging")["repository_secrets"] == []
    assert settings_of("prod")["repository_secrets"] == []
    assert list(settings_of("dev")["branch_protection"]) == ["develop"]
    assert list(settings_of("staging")["branch_protection"]) == []
    assert list(settings_of("prod")["branch_protection"]) == ["main"]
    for secret in rendered("dev").of_type(T_REPO_SECRET):
        assert secret.inputs["value"] == SECRET
    no_snyk = render_variant("dev", {"cicd:pipeline.scanners.snyk": False})
    names = [s.inputs["secretName"] for s in no_snyk.of_type(T_REPO_SECRET)]
    assert "SNYK_TOKEN" not in names


def _protection(result: Rendered) -> dict[str, Any]:
    (protection,) = result.of_type(T_PROTECTION)
    return protection.inputs


def test_branch_protection_requires_checks_reviews_and_no_force_push() -> None:
    main = _protection(rendered("prod"))
    assert main["pattern"] == "main"
    assert main["allowsForcePushes"] is False
    assert main["enforceAdmins"] is False  # the stack's admin token commits workflow files
    assert main["requiredStatusChecks"][0]["strict"] is True
    assert main["requiredStatusChecks"][0]["contexts"]  # the CI job names
    review = main["requiredPullRequestReviews"][0]
    assert review["requiredApprovingReviewCount"] == 2
    assert review["requireCodeOwnerReviews"] is True


def test_variables_never_hold_a_secret(stack: str) -> None:
    for variable in rendered(stack).of_type(T_ENV_VARIABLE):
        assert variable.inputs["value"] != SECRET


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        (
            "prod",
            {"cicd:approval.reviewers.users": [f"u{i}" for i in range(7)]},
            "cicd:approval.reviewers.users must list at most 6 entries",
        ),
        (
            "staging",
            {"cicd:environment.secrets[0].name": "SENTRY-DSN"},
            "cicd:environment.secrets[0].name must contain only letters, digits and '_'",
        ),
        (
            "staging",
            {"cicd:environment.variables": {"lower_case": "x"}},
            "cicd:environment.variables.lower_case must be upper case",
        ),
        (
            "prod",
            {"cicd:approval.waitTimer": 43201},
            "cicd:approval.waitTimer must be between 0 and 43200",
        ),
        (
            "staging",
            {"cicd:approval.protectedBranches": True, "cicd:approval.customBranchPolicies": True},
            "cicd:approval must set exactly one of protectedBranches and customBranchPolicies",
        ),
        (
            "staging",
            {"cicd:approval.protectedBranches": False, "cicd:approval.customBranchPolicies": False},
            "cicd:approval must set exactly one of protectedBranches and customBranchPolicies",
        ),
    ],
)
def test_bad_github_config(stack: str, changes: dict[str, Any], expected: str) -> None:
    lines = config_problems(stack, changes)
    assert any(f"Pulumi.{stack}.yaml: {expected}" in line for line in lines), lines


def test_no_secret_value_anywhere_in_settings(stack: str) -> None:
    text = files(stack)["github/settings.yaml"]
    assert "offline-render" not in text


def test_stacks_are_the_three_environments() -> None:
    assert [rendered(s).outputs["githubEnvironment"] for s in STACKS] == list(GITHUB_ENV.values())


# The refs an environment deploys from, and who may make them (rulesets).

ADMIN, MAINTAIN, WRITE = 5, 2, 4


def test_who_may_create_the_refs_each_environment_deploys_from() -> None:
    """A dispatch runs the workflow file of its ref, so whoever can push a v* tag or a release/*
    branch could run their own deploy workflow with the environment's secrets once a reviewer
    approves: only maintainers and admins may create, move or delete those refs."""
    assert settings_of("dev")["rulesets"] == {}  # develop only: branch protection covers it
    assert settings_of("staging")["rulesets"] == {
        "staging: deploy branches": {
            "target": "branch",
            "refs": ["refs/heads/release/*"],  # develop is the default branch: not restricted
            "restricted": ["creation", "deletion", "nonFastForward"],  # pushes and merges stay
            "bypass": [ADMIN, MAINTAIN],
        }
    }
    assert settings_of("prod")["rulesets"] == {
        "production: deploy tags": {
            "target": "tag",
            "refs": ["refs/tags/v*"],  # main is prod's protected branch: not restricted
            "restricted": ["creation", "deletion", "nonFastForward", "update"],
            "bypass": [ADMIN, MAINTAIN],
        }
    }


def test_deploy_ref_roles_come_from_config() -> None:
    only_admins = render_variant("prod", {"cicd:approval.deployRefRoles": ["admin"]})
    rulesets = github_settings(only_admins)["rulesets"]
    assert rulesets["production: deploy tags"]["bypass"] == [ADMIN]
    everyone = render_variant("staging", {"cicd:approval.deployRefRoles": ["write"]})
    assert github_settings(everyone)["rulesets"]["staging: deploy branches"]["bypass"] == [WRITE]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], "cicd:approval.deployRefRoles must name at least one role"),
        (["admin", "admin"], "cicd:approval.deployRefRoles must not name a role twice"),
        (["owner"], "cicd:approval.deployRefRoles[0] must be one of admin, maintain or write"),
    ],
)
def test_bad_deploy_ref_roles(value: list[str], expected: str) -> None:
    lines = config_problems("prod", {"cicd:approval.deployRefRoles": value})
    assert any(expected in line for line in lines), lines
