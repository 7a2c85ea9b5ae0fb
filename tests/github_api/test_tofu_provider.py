"""The GitHub provider's own code (terraform-provider-github v6.13.0, what pulumi-github v6.15.0
runs) creates each stack's GitHub side on the stand-in, then plans no change.

Given the offline render of dev, staging and prod (each stack its own state, one GitHub), when
OpenTofu applies their GitHub resources with the Go-built provider (tests/github_api/tofu.py),
then GitHub accepts every request, holds the reviewers, policies, sealed secrets, variables,
rulesets and files the stacks declare, a second plan shows no changes, a reviewer id GitHub
refuses fails with GitHub's 422 as the provider reports it, and self-review prevention without
reviewers is silently dropped (go-github's fallback), which is why the program never sends it. The requests the provider sent are
also the ones tests/github_api/provider_replay.py sends, which keeps that replay honest.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from render.engine import Registration, stable_id
from tests.conftest import real_tool, rendered
from tests.github_api.provider_replay import environment_body
from tests.github_api.server import GitHubStandIn, Repository, StandInWorld
from tests.github_api.tofu import Tofu, main_tf
from tools.gotools import TOOLS_DIR

pytestmark = pytest.mark.engine

STACKS = ("dev", "staging", "prod")
SECRETS = {
    "KUBECONFIG": "apiVersion: v1\nkind: Config\n",
    "SENTRY_DSN": "https://k@sentry.example/1",
}
GITHUB_ENV = {"dev": "development", "staging": "staging", "prod": "production"}


def world() -> StandInWorld:
    return StandInWorld(
        owner="acme",
        teams={slug: stable_id("team", slug) for slug in ("webshop-leads", "sre")},
        repositories=(
            Repository("webshop", default_branch="develop", branches=("develop", "main")),
        ),
    )


def built(name: str) -> Path:
    """A Go-built tool, built by one pytest-xdist worker while the other waits (tofu is a long
    cold build; two workers building it at once would double it and share one output path)."""
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Path(real_tool(name, install=f"python tools/gotools.py {name}"))


def tofu_in(workdir: Path) -> Tofu:
    return Tofu(tofu=built("tofu"), provider=built("terraform-provider-github"), workdir=workdir)


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GitHubStandIn, dict[str, Tofu]]]:
    stand_in = GitHubStandIn(world())
    with stand_in.running():
        runs: dict[str, Tofu] = {}
        for stack in STACKS:
            tofu = tofu_in(tmp_path_factory.mktemp(f"tofu-{stack}"))
            tofu.write(
                main_tf(
                    rendered(stack).resources,
                    owner="acme",
                    base_url=stand_in.base_url,
                    token=stand_in.world.token,
                    secret_values=SECRETS,
                )
            )
            done = tofu.apply()
            assert done.returncode == 0, f"{stack}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            runs[stack] = tofu
        yield stand_in, runs


def test_the_provider_sends_what_the_replay_sends_for_each_environment(
    applied: tuple[GitHubStandIn, dict[str, Tofu]],
) -> None:
    stand_in, _ = applied
    sent = {
        c.path.rsplit("/", 1)[1]: c.body
        for c in stand_in.calls_to("PUT", r"/repos/acme/webshop/environments/[^/]+")
    }
    for stack in STACKS:
        (env,) = [r for r in rendered(stack).resources if r.type.endswith(":RepositoryEnvironment")]
        assert sent[GITHUB_ENV[stack]] == environment_body(env.inputs), stack
    leads = stable_id("team", "webshop-leads")
    assert {"type": "Team", "id": leads} in sent["production"]["reviewers"]
    assert sent["production"]["wait_timer"] == 15
    assert sent["production"]["prevent_self_review"] is True
    assert sent["development"]["prevent_self_review"] is False


def test_policies_secrets_variables_rulesets_and_files_are_on_github(
    applied: tuple[GitHubStandIn, dict[str, Tofu]],
) -> None:
    stand_in, _ = applied
    repo = stand_in.repos["webshop"]
    policies = {
        name: sorted((p["type"], p["name"]) for p in env.policies.values())
        for name, env in repo.environments.items()
    }
    assert policies == {
        "development": [("branch", "develop")],
        "staging": [("branch", "develop"), ("branch", "release/*")],
        "production": [("branch", "main"), ("tag", "v*")],
    }
    for environment in GITHUB_ENV.values():
        assert stand_in.secret_value("webshop", "KUBECONFIG", environment) == SECRETS["KUBECONFIG"]
    sealed = stand_in.calls_to("PUT", r"/repositories/\d+/environments/[^/]+/secrets/KUBECONFIG")
    assert len(sealed) == 3
    assert all(SECRETS["KUBECONFIG"] not in str(c.body) for c in sealed)
    assert repo.variables["PROD_DEPLOY_ENABLED"].value == "false"
    assert {r["name"] for r in repo.rulesets.values()} >= {"production: deploy tags"}
    (prod_file,) = [r for r in rendered("prod").resources if r.name == "pipeline-prod-deploy"]
    assert (
        stand_in.file_content("webshop", ".github/workflows/prod-deploy.yml")
        == (prod_file.inputs["content"])
    )


def test_a_second_plan_shows_no_changes(applied: tuple[GitHubStandIn, dict[str, Tofu]]) -> None:
    _, runs = applied
    for stack, tofu in runs.items():
        done = tofu.plan()
        assert done.returncode == 0, f"{stack}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def test_a_change_made_in_github_is_planned_back(
    applied: tuple[GitHubStandIn, dict[str, Tofu]],
) -> None:
    stand_in, runs = applied
    variable = stand_in.repos["webshop"].variables["PROD_DEPLOY_ENABLED"]
    variable.value = "true"  # someone switched prod on in the GitHub UI
    try:
        done = runs["prod"].plan()
    finally:
        variable.value = "false"
    assert done.returncode == 2, done.stdout[-2000:]
    assert re.search(r'value\s+= "true" -> "false"', done.stdout), done.stdout[-2000:]
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in done.stdout


def _env_resource(stack: str) -> Registration:
    (env,) = [r for r in rendered(stack).resources if r.type.endswith(":RepositoryEnvironment")]
    return env


def _apply_alone(resource: Registration, workdir: Path) -> tuple[GitHubStandIn, Tofu, str, str]:
    stand_in = GitHubStandIn(world())
    with stand_in.running():
        tofu = tofu_in(workdir)
        tofu.write(
            main_tf(
                [resource],
                owner="acme",
                base_url=stand_in.base_url,
                token=stand_in.world.token,
                secret_values=SECRETS,
            )
        )
        done = tofu.apply()
        planned = tofu.plan() if done.returncode == 0 else done
    return stand_in, tofu, done.stdout + done.stderr, str(planned.returncode)


def test_an_unknown_reviewer_id_fails_with_githubs_422(tmp_path: Path) -> None:
    """A numeric team id passes the program's checks (ids are used as given); GitHub refuses an
    id that is no team of the organisation, and the stack stops there."""
    env = _env_resource("staging")
    typo = replace(env, inputs={**env.inputs, "reviewers": [{"teams": [4242], "users": []}]})
    stand_in, _, output, _ = _apply_alone(typo, tmp_path)
    assert "422 Validation Failed" in output
    assert "Team reviewer 4242 was not found" in output
    assert "staging" not in stand_in.repos["webshop"].environments


def test_self_review_prevention_without_reviewers_is_dropped_not_refused(tmp_path: Path) -> None:
    """Why the program sends prevent_self_review only with reviewers (components/
    github_environment.py): GitHub answers 422, but go-github v88 then sends the environment
    again with only its branch policy (``CreateUpdateEnvironment``'s fallback for plans without
    protection rules), the apply succeeds, GitHub holds no self-review prevention, and the
    provider's Read, which reads that setting only from a reviewers rule, never plans it back."""
    env = _env_resource("dev")
    broken = replace(env, inputs={**env.inputs, "preventSelfReview": True})
    stand_in, _, output, plan_code = _apply_alone(broken, tmp_path)
    assert "Apply complete! Resources: 1 added" in output
    puts = stand_in.calls_to("PUT", "/repos/acme/webshop/environments/development")
    assert [c.status for c in puts] == [422, 200]
    assert puts[0].body["prevent_self_review"] is True
    assert set(puts[1].body) == {"deployment_branch_policy"}
    rules = stand_in.repos["webshop"].environments["development"].body
    assert not rules.get("prevent_self_review")
    assert plan_code == "0"  # the drop is invisible to preview


def test_files_land_before_the_branch_protection_rule_that_admins_bypass(
    applied: tuple[GitHubStandIn, dict[str, Tofu]],
) -> None:
    """dev's first `up` commits its workflow files, then protects develop (depends_on); the rule
    leaves admins out (enforce_admins off), so staging's and prod's files, committed to the
    protected develop afterwards by the admin token, still land."""
    stand_in, _ = applied
    dev_files = {
        r.inputs["file"] for r in rendered("dev").resources if r.type.endswith(":RepositoryFile")
    }
    order: list[tuple[str, str]] = []
    for call in stand_in.calls:
        if call.method == "PUT" and "/contents/.github/" in call.path and call.status < 300:
            order.append(("file", call.path.split("/contents/", 1)[1]))
        elif call.path == "/api/graphql" and "createBranchProtectionRule(" in call.body["query"]:
            order.append(("rule", call.body["variables"]["input"]["pattern"]))
    develop_rule = order.index(("rule", "develop"))
    assert all(order.index(("file", f)) < develop_rule for f in dev_files), order
    later = [path for kind, path in order[develop_rule:] if kind == "file"]
    assert {".github/workflows/stage-deploy.yml", ".github/workflows/prod-deploy.yml"} <= set(later)
    rules = stand_in.repos["webshop"].protection_rules
    assert set(rules) == {"develop", "main"}
    assert rules["develop"]["isAdminEnforced"] is False
    assert rules["main"]["requiredApprovingReviewCount"] >= 1
    assert rules["main"]["requireLastPushApproval"] is True


def test_reviewers_removed_in_github_do_not_show_in_a_plan(
    applied: tuple[GitHubStandIn, dict[str, Tofu]],
) -> None:
    """A blind spot of the provider, shown so nobody relies on it: its Read sets the reviewers
    only from a required_reviewers rule, so when someone removes every reviewer of production in
    GitHub's settings, the state keeps the old list and a preview (or the drift job) plans no
    change. A changed wait timer, by contrast, is planned back."""
    stand_in, runs = applied
    env = stand_in.repos["webshop"].environments["production"]
    saved = dict(env.body)
    env.body = {**saved, "reviewers": None, "prevent_self_review": False}
    try:
        unseen = runs["prod"].plan()
        env.body = {**saved, "wait_timer": 1}
        seen = runs["prod"].plan()
    finally:
        env.body = saved
    assert unseen.returncode == 0, unseen.stdout[-2000:]
    assert seen.returncode == 2, seen.stdout[-2000:]
    assert re.search(r"wait_timer\s+= 1 -> 15", seen.stdout), seen.stdout[-2000:]
