"""Each environment stack's GitHub side, as the provider would create it, against the stand-in.

Given the offline render of dev, then staging, then prod (the order of the going-live steps),
when the provider's calls for every GitHub resource are sent to the GitHub API stand-in, then
GitHub accepts them all, holds what the stack declares (reviewers, wait timer, branch and tag
policies, sealed secrets, variables, protection, rulesets, workflow files) and reading it back
shows no change. The calls are the provider's (tests/github_api/provider_replay.py) until the
pulumi-github provider binary can be built here (docs/github-api.md says why it cannot yet).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from render.engine import stable_id
from tests.conftest import rendered
from tests.github_api.provider_replay import ProviderError, ProviderReplay
from tests.github_api.server import GitHubStandIn, Repository, StandInWorld

pytestmark = pytest.mark.engine

STACKS = ("dev", "staging", "prod")
SECRETS = {
    "KUBECONFIG": "apiVersion: v1\nkind: Config\n",
    "SENTRY_DSN": "https://key@sentry.example/1",
}


def world(*, token_is_admin: bool = True) -> StandInWorld:
    """acme/webshop as the stack files describe it; team ids are the render's looked-up ids."""
    return StandInWorld(
        owner="acme",
        teams={slug: stable_id("team", slug) for slug in ("webshop-leads", "sre")},
        repositories=(
            Repository("webshop", default_branch="develop", branches=("develop", "main")),
        ),
        token_is_admin=token_is_admin,
    )


@pytest.fixture(scope="module")
def applied() -> Iterator[tuple[GitHubStandIn, dict[str, ProviderReplay]]]:
    """One provider state per stack, as each stack has its own, against one GitHub."""
    stand_in = GitHubStandIn(world())
    with stand_in.running():
        replays = {}
        for stack in STACKS:
            replays[stack] = ProviderReplay(stand_in.api_url, "acme", stand_in.world.token, SECRETS)
            replays[stack].apply(rendered(stack).resources)
        yield stand_in, replays


def environment_puts(stand_in: GitHubStandIn) -> dict[str, Any]:
    return {
        c.path.rsplit("/", 1)[1]: c.body
        for c in stand_in.calls_to("PUT", r"/repos/acme/webshop/environments/[^/]+")
    }


def test_every_call_github_answered_was_a_success_or_an_expected_lookup_miss(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    failed = [c for c in stand_in.calls if c.status >= 300]
    # The provider looks for a workflow file before creating it (404 = create, not overwrite).
    assert {(c.method, c.status) for c in failed} == {("GET", 404)}
    assert all("/contents/.github/" in c.path for c in failed)


def test_environments_carry_reviewers_wait_timer_and_self_review(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    puts = environment_puts(stand_in)
    assert set(puts) == {"development", "staging", "production"}
    leads, sre = stable_id("team", "webshop-leads"), stable_id("team", "sre")
    assert puts["development"]["reviewers"] is None  # go-github sends null, never omits it
    assert (
        puts["development"]["prevent_self_review"] is False
    )  # GitHub refuses it without reviewers
    assert puts["staging"]["reviewers"] == [{"type": "Team", "id": leads}]
    assert puts["production"]["reviewers"] == [
        {"type": "Team", "id": leads},
        {"type": "Team", "id": sre},
    ]
    assert puts["production"]["wait_timer"] == 15
    assert puts["staging"]["wait_timer"] == 0  # go-github sends 0 for an unset timer
    for name in ("staging", "production"):
        assert puts[name]["prevent_self_review"] is True
        assert puts[name]["can_admins_bypass"] is False
        assert puts[name]["deployment_branch_policy"] == {
            "protected_branches": False,
            "custom_branch_policies": True,
        }


def test_branch_and_tag_policies_per_environment(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    policies: dict[str, list[tuple[str, str]]] = {}
    for call in stand_in.calls_to(
        "POST", r"/repos/acme/webshop/environments/[^/]+/deployment-branch-policies"
    ):
        policies.setdefault(call.path.split("/")[5], []).append(
            (call.body["type"], call.body["name"])
        )
    assert policies == {
        "development": [("branch", "develop")],
        "staging": [("branch", "develop"), ("branch", "release/*")],
        "production": [("branch", "main"), ("tag", "v*")],
    }


def test_secrets_are_sealed_with_the_key_served_for_their_scope(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    puts = stand_in.calls_to("PUT", r"/repositories/\d+/environments/[^/]+/secrets/[A-Z_]+")
    assert puts
    for call in puts:
        environment, name = call.path.split("/")[4], call.path.split("/")[6]
        assert call.body["key_id"] == stand_in.public_key("webshop", environment)[0]
        assert stand_in.secret_value("webshop", name, environment) == SECRETS[name]
        assert SECRETS[name] not in str(call.body)
        assert base64.b64decode(call.body["encrypted_value"])  # a sealed box, not the value
    kubeconfigs = [c.path.split("/")[4] for c in puts if c.path.endswith("/KUBECONFIG")]
    assert sorted(kubeconfigs) == ["development", "production", "staging"]


def test_variables_and_the_deploy_switches(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    repo_vars = {
        c.body["name"]: c.body["value"]
        for c in stand_in.calls_to("POST", r"/repos/acme/webshop/actions/variables")
    }
    assert repo_vars["PROD_DEPLOY_ENABLED"] == "false"  # prod: prepared, not activated
    assert {"DEV_DEPLOY_ENABLED", "STAGING_DEPLOY_ENABLED"} <= set(repo_vars)
    prod_vars = {
        c.body["name"]: c.body["value"]
        for c in stand_in.calls_to("POST", r"/repos/acme/webshop/environments/production/variables")
    }
    assert prod_vars["NAMESPACE"] == "webshop-prod"


def test_workflow_files_land_before_the_branch_is_protected(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    order = [
        (c.method, c.path)
        for c in stand_in.calls
        if c.method == "PUT" and ("/contents/" in c.path or c.path.endswith("/protection"))
    ]
    for branch_protection in (
        "/repos/acme/webshop/branches/develop/protection",
        "/repos/acme/webshop/branches/main/protection",
    ):
        assert ("PUT", branch_protection) in order
    develop_protected = order.index(("PUT", "/repos/acme/webshop/branches/develop/protection"))
    dev_files = [i for i, (_, p) in enumerate(order) if p.endswith(("ci.yml", "dev-deploy.yml"))]
    assert dev_files and max(dev_files) < develop_protected
    protection = stand_in.repos["webshop"].protection
    assert protection["develop"]["enforce_admins"] is False
    assert (
        protection["main"]["required_pull_request_reviews"]["required_approving_review_count"] >= 1
    )
    (prod_file,) = [r for r in rendered("prod").resources if r.name == "pipeline-prod-deploy"]
    assert (
        stand_in.file_content("webshop", ".github/workflows/prod-deploy.yml")
        == prod_file.inputs["content"]
    )


def test_rulesets_guard_the_deploy_refs(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, _ = applied
    rulesets = {
        c.body["name"]: c.body for c in stand_in.calls_to("POST", r"/repos/acme/webshop/rulesets")
    }
    tags = rulesets["production: deploy tags"]
    assert tags["target"] == "tag"
    assert tags["conditions"]["ref_name"]["include"] == ["refs/tags/v*"]
    assert {r["type"] for r in tags["rules"]} == {
        "creation",
        "update",
        "deletion",
        "non_fast_forward",
    }


def test_reading_everything_back_shows_no_change(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    _, replays = applied
    for stack in STACKS:
        assert replays[stack].drift(rendered(stack).resources) == [], stack


def test_a_change_made_in_github_shows_as_drift(
    applied: tuple[GitHubStandIn, dict[str, ProviderReplay]],
) -> None:
    stand_in, replays = applied
    variable = stand_in.repos["webshop"].variables["PROD_DEPLOY_ENABLED"]
    variable.value = "true"  # someone switched prod on in the GitHub UI
    try:
        drift = replays["prod"].drift(rendered("prod").resources)
    finally:
        variable.value = "false"
    assert drift == ["webshop-variable-prod_deploy_enabled: value: 'true' != 'false'"]


def test_without_an_admin_token_a_workflow_change_after_protection_is_refused() -> None:
    """The first `up` works (files before protection); the next commit to develop needs the
    admin bypass the design chose (enforce_admins off), so a non-admin token gets GitHub's 409."""
    stand_in = GitHubStandIn(world(token_is_admin=False))
    with stand_in.running():
        replay = ProviderReplay(stand_in.api_url, "acme", stand_in.world.token, SECRETS)
        resources = rendered("dev").resources
        replay.apply(resources)
        (ci,) = [r for r in resources if r.name == "pipeline-ci"]
        with pytest.raises(
            ProviderError, match="409 Protected branch update failed for refs/heads/develop"
        ):
            replay.create(ci)
