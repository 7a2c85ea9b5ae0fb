"""The GitHub API stand-in answers as GitHub does: the requests are the provider's
(tests/github_api/provider_replay.py, from terraform-provider-github v6.13.0 and go-github v88)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox

from tests.github_api.provider_replay import ProviderError, ProviderReplay
from tests.github_api.server import GitHubStandIn, Repository, StandInWorld

pytestmark = pytest.mark.engine

WORLD = StandInWorld(
    owner="acme",
    users={"octo-admin": 1, "alice": 11, "bob": 12},
    teams={"leads": 21, "sre": 22},
    repositories=(Repository("webshop", default_branch="develop", branches=("develop", "main")),),
)
ENV = "repos/acme/webshop/environments/production"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(WORLD).running() as stand_in:
        yield stand_in


@pytest.fixture
def client(github: GitHubStandIn) -> ProviderReplay:
    return ProviderReplay(github.api_url, "acme", WORLD.token)


def refused(client: ProviderReplay, method: str, path: str, body: Any = None) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        client.request(method, path, body)
    return caught.value


def test_a_request_without_the_token_is_refused(github: GitHubStandIn) -> None:
    err = refused(ProviderReplay(github.api_url, "acme", "wrong"), "GET", "repos/acme/webshop")
    assert err.status == 401
    assert err.body["message"] == "Bad credentials"


def test_rest_is_served_under_api_v3_as_on_enterprise_server(github: GitHubStandIn) -> None:
    assert github.base_url.startswith("http://127.0.0.1:")
    assert github.api_url == github.base_url + "api/v3"
    repo = ProviderReplay(github.api_url, "acme", WORLD.token).request("GET", "repos/acme/webshop")
    assert repo["default_branch"] == "develop"


def test_environment_with_reviewers_wait_timer_and_branch_policy(
    github: GitHubStandIn, client: ProviderReplay
) -> None:
    body = {
        "wait_timer": 15,
        "can_admins_bypass": False,
        "prevent_self_review": True,
        "reviewers": [{"type": "Team", "id": 21}, {"type": "User", "id": 11}],
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    }
    env = client.request("PUT", ENV, body)
    rules = {rule["type"]: rule for rule in env["protection_rules"]}
    assert rules["wait_timer"]["wait_timer"] == 15
    assert rules["required_reviewers"]["prevent_self_review"] is True
    assert [(r["type"], r["reviewer"]["id"]) for r in rules["required_reviewers"]["reviewers"]] == [
        ("Team", 21),
        ("User", 11),
    ]
    assert env["deployment_branch_policy"]["custom_branch_policies"] is True
    assert github.calls[-1].body == body  # recorded as sent


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"prevent_self_review": True}, "prevent_self_review", "required reviewers"),
        ({"wait_timer": 43201}, "wait_timer", "between 0 and 43200"),
        ({"wait_timer": -1}, "wait_timer", "between 0 and 43200"),
        (
            {"reviewers": [{"type": "User", "id": 999}]},
            "reviewers",
            "User reviewer 999 was not found",
        ),
        (
            {"reviewers": [{"type": "Team", "id": 11}]},
            "reviewers",
            "Team reviewer 11 was not found",
        ),
        (
            {"reviewers": [{"type": "User", "id": 11}] * 7},
            "reviewers",
            "up to 6 users or teams",
        ),
        (
            {
                "deployment_branch_policy": {
                    "protected_branches": True,
                    "custom_branch_policies": True,
                }
            },
            "deployment_branch_policy",
            "Only one of",
        ),
    ],
)
def test_environment_settings_github_refuses_are_422(
    client: ProviderReplay, body: dict[str, Any], field: str, says: str
) -> None:
    err = refused(client, "PUT", ENV, body)
    assert err.status == 422
    assert err.body["message"] == "Validation Failed"
    assert err.body["errors"][0]["field"] == field
    assert says in err.body["errors"][0]["message"]
    assert says in str(err)  # what the provider prints: go-github's ErrorResponse text


def test_wait_timer_at_its_limit_is_accepted(client: ProviderReplay) -> None:
    assert (
        client.request("PUT", ENV, {"wait_timer": 43200})["protection_rules"][0]["wait_timer"]
        == 43200
    )


def test_branch_policies_need_custom_mode_and_are_unique(client: ProviderReplay) -> None:
    policies = f"{ENV}/deployment-branch-policies"
    client.request(
        "PUT",
        ENV,
        {"deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}},
    )
    assert refused(client, "POST", policies, {"name": "main", "type": "branch"}).status == 404
    client.request(
        "PUT",
        ENV,
        {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}},
    )
    created = client.request("POST", policies, {"name": "v*", "type": "tag"})
    assert client.request("GET", f"{policies}/{created['id']}") == created
    assert refused(client, "POST", policies, {"name": "v*", "type": "tag"}).status == 303
    client.request("POST", policies, {"name": "v*", "type": "branch"})  # another type: allowed
    assert client.request("GET", policies)["total_count"] == 2


def _seal(public_key_b64: str, value: str) -> str:
    box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
    return base64.b64encode(box.encrypt(value.encode())).decode()


def test_an_environment_secret_opens_only_with_the_key_the_stand_in_served(
    github: GitHubStandIn, client: ProviderReplay
) -> None:
    client.request("PUT", ENV, {})
    repo_id = client.request("GET", "repos/acme/webshop")["id"]
    scope = f"repositories/{repo_id}/environments/production/secrets"
    key = client.request("GET", f"{scope}/public-key")
    assert (key["key_id"], key["key"]) == github.public_key("webshop", "production")
    assert key["key"] != github.public_key("webshop")[1]  # the repository has its own pair

    sealed = _seal(key["key"], "kubeconfig-text")
    client.request(
        "PUT", f"{scope}/KUBECONFIG", {"key_id": key["key_id"], "encrypted_value": sealed}
    )
    assert github.secret_value("webshop", "KUBECONFIG", "production") == "kubeconfig-text"
    assert "kubeconfig-text" not in repr(github.calls)
    assert set(client.request("GET", f"{scope}/KUBECONFIG")) == {"name", "created_at", "updated_at"}

    other_key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    err = refused(
        client,
        "PUT",
        f"{scope}/OTHER",
        {"key_id": key["key_id"], "encrypted_value": _seal(other_key, "x")},
    )
    assert (err.status, err.body["errors"][0]["field"]) == (422, "encrypted_value")
    repo_key = github.public_key("webshop")
    err = refused(
        client,
        "PUT",
        f"{scope}/OTHER",
        {"key_id": repo_key[0], "encrypted_value": _seal(repo_key[1], "x")},
    )
    assert (err.status, err.body["errors"][0]["field"]) == (422, "key_id")


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "1ST", "WITH-DASH", "DOT.NAME"])
def test_secret_and_variable_names_github_refuses(client: ProviderReplay, name: str) -> None:
    key = client.request("GET", "repos/acme/webshop/actions/secrets/public-key")
    err = refused(
        client,
        "PUT",
        f"repos/acme/webshop/actions/secrets/{name}",
        {"key_id": key["key_id"], "encrypted_value": _seal(key["key"], "v")},
    )
    assert err.status == 422
    err = refused(
        client, "POST", "repos/acme/webshop/actions/variables", {"name": name, "value": "v"}
    )
    assert err.status == 422


def test_variables_are_created_once_then_updated(client: ProviderReplay) -> None:
    scope = "repos/acme/webshop/actions/variables"
    client.request("POST", scope, {"name": "DEV_DEPLOY_ENABLED", "value": "true"})
    assert (
        refused(client, "POST", scope, {"name": "DEV_DEPLOY_ENABLED", "value": "x"}).status == 409
    )
    client.request(
        "PATCH", f"{scope}/DEV_DEPLOY_ENABLED", {"name": "DEV_DEPLOY_ENABLED", "value": "false"}
    )
    assert client.request("GET", f"{scope}/DEV_DEPLOY_ENABLED")["value"] == "false"


def test_rulesets_validate_names_and_ref_patterns(client: ProviderReplay) -> None:
    body = {
        "name": "production: deploy tags",
        "target": "tag",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["refs/tags/v*"], "exclude": []}},
        "rules": [{"type": "creation"}, {"type": "update"}],
        "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
    }
    created = client.request("POST", "repos/acme/webshop/rulesets", body)
    assert created["source"] == "acme/webshop"
    assert refused(client, "POST", "repos/acme/webshop/rulesets", body).body["errors"][0][
        "message"
    ] == ("Name must be unique")
    bad = {**body, "name": "other", "conditions": {"ref_name": {"include": ["v*"], "exclude": []}}}
    assert refused(client, "POST", "repos/acme/webshop/rulesets", bad).status == 422


def test_files_need_the_current_sha_to_be_overwritten(
    github: GitHubStandIn, client: ProviderReplay
) -> None:
    path = "repos/acme/webshop/contents/.github/workflows/ci.yml"
    first = {"message": "add", "content": base64.b64encode(b"one").decode(), "branch": "develop"}
    created = client.request("PUT", path, first)
    assert created["content"]["url"].endswith("?ref=develop")
    second = {**first, "content": base64.b64encode(b"two").decode()}
    assert refused(client, "PUT", path, second).status == 422  # "sha" wasn't supplied
    assert refused(client, "PUT", path, {**second, "sha": "0" * 40}).status == 409
    client.request("PUT", path, {**second, "sha": created["content"]["sha"]})
    assert github.file_content("webshop", ".github/workflows/ci.yml", "develop") == "two"


def test_protection_needs_its_four_keys_and_a_review_count_up_to_six(
    client: ProviderReplay,
) -> None:
    path = "repos/acme/webshop/branches/main/protection"
    assert refused(client, "PUT", path, {"enforce_admins": False}).status == 422
    body: dict[str, Any] = {
        "required_status_checks": None,
        "enforce_admins": False,
        "required_pull_request_reviews": {"required_approving_review_count": 7},
        "restrictions": None,
    }
    assert refused(client, "PUT", path, body).status == 422
    body["required_pull_request_reviews"]["required_approving_review_count"] = 2
    assert client.request("PUT", path, body)["enforce_admins"]["enabled"] is False
    assert refused(client, "PUT", "repos/acme/webshop/branches/nope/protection", body).status == 404


def test_team_and_user_lookups(client: ProviderReplay) -> None:
    assert client.request("GET", "orgs/acme/teams/sre")["id"] == 22
    assert client.request("GET", "users/alice")["id"] == 11
    assert refused(client, "GET", "orgs/acme/teams/nobody").status == 404


def test_graphql_branch_protection_rules_as_the_provider_sends_them(github: GitHubStandIn) -> None:
    graphql = ProviderReplay(github.base_url + "api", "acme", WORLD.token)
    repo = graphql.request(
        "POST",
        "graphql",
        {
            "query": "query($name:String!$owner:String!){repository(owner:$owner, name:$name){id}}",
            "variables": {"owner": "acme", "name": "webshop"},
        },
    )
    repo_id = repo["data"]["repository"]["id"]
    missing = graphql.request(
        "POST",
        "graphql",
        {"query": "query($id:ID!){node(id:$id){id}}", "variables": {"id": "webshop"}},
    )
    assert "Could not resolve to a node with the global id of 'webshop'" in str(missing["errors"])
    mutation = "mutation($input:CreateBranchProtectionRuleInput!){createBranchProtectionRule(input: $input){branchProtectionRule{id}}}"
    too_many = {"repositoryId": repo_id, "pattern": "main", "requiredApprovingReviewCount": 7}
    refused_rule = graphql.request(
        "POST", "graphql", {"query": mutation, "variables": {"input": too_many}}
    )
    assert "between 0 and 6" in str(refused_rule["errors"])
    rule = {**too_many, "requiredApprovingReviewCount": 2, "isAdminEnforced": False}
    created = graphql.request("POST", "graphql", {"query": mutation, "variables": {"input": rule}})
    rule_id = created["data"]["createBranchProtectionRule"]["branchProtectionRule"]["id"]
    read = graphql.request(
        "POST",
        "graphql",
        {
            "query": "query($id:ID!){node(id: $id){... on BranchProtectionRule{id,pattern}}}",
            "variables": {"id": rule_id},
        },
    )
    assert read["data"]["node"]["pattern"] == "main"
    assert read["data"]["node"]["requiredApprovingReviewCount"] == 2
