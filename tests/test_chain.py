"""The environment chain's shape rules (components/chain.py)."""

from __future__ import annotations

import pytest

from components.chain import (
    Chain,
    ChainError,
    Stage,
    Tier,
    default_github_environment,
    deploy_switch_variable,
    deploy_workflow_file,
)


def _stage(name: str, promotes_from: str | None, tier: Tier = Tier.STAGING) -> Stage:
    return Stage(name, tier, promotes_from, default_github_environment(name))


def test_orders_stages_from_the_first() -> None:
    chain = Chain.of(
        [
            _stage("prod", "staging"),
            _stage("qa", "dev"),
            _stage("dev", None),
            _stage("staging", "qa"),
        ]
    )
    assert chain.names == ("dev", "qa", "staging", "prod")
    assert chain.previous("staging") == _stage("qa", "dev")
    assert chain.previous("dev") is None
    assert [s.name for s in chain.later("qa")] == ["staging", "prod"]


def test_two_stage_chain() -> None:
    assert Chain.of([_stage("prod", "dev"), _stage("dev", None)]).names == ("dev", "prod")


@pytest.mark.parametrize(
    ("stages", "culprit", "words"),
    [
        ([], "", "no environment stack"),
        ([_stage("dev", "prod"), _stage("prod", "dev")], "dev", "no first stage"),
        ([_stage("dev", None), _stage("qa", None)], "qa", "only the first stage may"),
        ([_stage("dev", None), _stage("prod", "staging")], "prod", "has no stack file"),
        ([_stage("dev", None), _stage("qa", "dev"), _stage("prod", "dev")], "qa", "both promote"),
        ([_stage("dev", None), _stage("a", "b"), _stage("b", "a")], "a", "cycle"),
        ([_stage("dev", None), _stage("dev", None)], "dev", "declared twice"),
        ([_stage("dev", None), _stage("x", "x")], "x", "promotes from itself"),
    ],
)
def test_refuses_what_is_not_one_chain(stages: list[Stage], culprit: str, words: str) -> None:
    with pytest.raises(ChainError) as caught:
        Chain.of(stages)
    assert caught.value.stage == culprit
    assert words in caught.value.message


def test_refuses_a_shared_github_environment() -> None:
    dev = Stage("dev", Tier.DEVELOPMENT, None, "shared")
    prod = Stage("prod", Tier.PRODUCTION, "dev", "Shared")
    with pytest.raises(ChainError, match="share the GitHub environment"):
        Chain.of([dev, prod])


def test_names_keep_the_three_stacks_as_they_were() -> None:
    assert [default_github_environment(s) for s in ("dev", "staging", "prod", "qa")] == [
        "development",
        "staging",
        "production",
        "qa",
    ]
    assert [deploy_workflow_file(s) for s in ("dev", "staging", "prod", "qa")] == [
        "dev-deploy.yml",
        "stage-deploy.yml",
        "prod-deploy.yml",
        "qa-deploy.yml",
    ]
    assert deploy_switch_variable("pre-prod") == "PRE_PROD_DEPLOY_ENABLED"
