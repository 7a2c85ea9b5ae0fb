"""What a branching preset (``cicd:app.branching``) requires of one stage's stack file.

Per stage, from the stack file alone: which branch the stage protects (``cicd:branchProtection``)
and which branches and tags its GitHub environment accepts (``cicd:approval``). What needs every
stack file (one app for all stacks, one owner per GitHub object) is the project-wide check,
components/config/project.py.

- gitflow: the default branch is the integration branch (develop), never main; the first stage
  protects it and deploys from it; stages between the first and the production stage deploy from
  it and from release branches (``release/*``, where a release is stabilised before it is merged
  into main; other short-lived branches such as hotfix/* are the team's choice, not checked);
  the production stage protects main and deploys from main and v* tags.
- trunk: one branch, the default branch. The first stage protects it and deploys from pushes to
  it; every later stage deploys from v* tags only (no branch policy). A later stage protecting a
  branch is left to the project-wide check, which names the stack that owns the protection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from components.chain import Chain, Stage, Tier
from components.config.app import Branching
from components.config.problems import Problem

RELEASE_TAG: Final = re.compile(r"v[0-9A-Za-z.*]*")
"""A release tag pattern (v*, v1.*): what later stages deploy from."""
RELEASE_BRANCHES: Final = "release/*"
PRODUCTION_BRANCH: Final = "main"


@dataclass(frozen=True)
class StageRole:
    """Where a stage sits, as far as branching cares."""

    first: bool
    """Deploys after green CI on the default branch."""
    production: bool
    """The production stage (it is not the first)."""


def production_stage(chain: Chain) -> Stage:
    """The production stage: the last stage of tier production (the last stage when none is).

    The one definition of the production *role*, used by the single-stack render (through the
    chain it reads from the sibling stack files, components/config/siblings.py) and by the
    project-wide check alike. Under gitflow this stage alone protects main. Other stages of tier
    production (dev -> staging -> prod-eu -> prod: prod-eu) keep the tier's rules (deploy only
    from main or v* tags, approval, protection against deletion) but protect no branch: one
    branch protection has one owner.
    """
    production = [s for s in chain.stages if s.tier is Tier.PRODUCTION]
    return production[-1] if production else chain.stages[-1]


def stage_role(chain: Chain, stage: Stage) -> StageRole:
    """Where ``stage`` sits in ``chain``, as branching cares."""
    return StageRole(
        first=stage.is_first,
        production=not stage.is_first and stage.name == production_stage(chain).name,
    )


@dataclass(frozen=True)
class BranchPolicies:
    """The branch protection and deploy refs one stage's stack file states."""

    protected_branch: str | None
    branches: tuple[str, ...]
    tags: tuple[str, ...]


def expected_protection(branching: Branching, default_branch: str, role: StageRole) -> str | None:
    """The branch a stage protects under the preset; None: it protects none."""
    if role.first:
        return default_branch
    if branching is Branching.GITFLOW and role.production:
        return PRODUCTION_BRANCH
    return None


def suggested_refs(
    branching: Branching, default_branch: str, role: StageRole
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(branches, tags) to write in ``cicd:approval`` when a stage contradicts its preset."""
    if role.first:
        return (default_branch,), ()
    if branching is Branching.TRUNK:
        return (), ("v*",)
    if role.production:
        return (PRODUCTION_BRANCH,), ("v*",)
    return (default_branch, RELEASE_BRANCHES), ()


def _yaml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(items) + "]"


def branching_rules(
    branching: Branching, default_branch: str, role: StageRole, policies: BranchPolicies
) -> Iterable[Problem]:
    """Problems of one stage that contradicts its preset, each saying what to write instead."""
    preset = f"with app.branching {branching}"
    if branching is Branching.GITFLOW and default_branch == PRODUCTION_BRANCH:
        yield Problem(
            "app.defaultBranch",
            f"must not be main {preset}: gitflow merges the default branch (such as develop) "
            "into main; write defaultBranch: develop, or branching: trunk",
            default_branch,
        )
        return
    wanted = expected_protection(branching, default_branch, role)
    got = policies.protected_branch
    if wanted is not None and got != wanted:
        where = "the first stage" if role.first else "the production stage"
        yield Problem(
            "branchProtection.branch",
            f"must be {wanted} {preset}: {where} protects {wanted}",
            got,
        )
    elif wanted is None and got is not None and branching is Branching.GITFLOW:
        yield Problem(
            "branchProtection",
            f"must be removed {preset}: the first stage protects {default_branch} and the "
            "production stage protects main",
        )
    elif wanted is None and got not in (None, default_branch):
        yield Problem(
            "branchProtection",
            f"must be removed {preset}: the one branch, {default_branch}, is protected by the "
            "first stage",
        )
    _, tags = suggested_refs(branching, default_branch, role)
    if role.first:
        for index, branch in enumerate(policies.branches):
            if branch != default_branch:
                yield Problem(
                    f"approval.branches[{index}]",
                    f"must be {default_branch} {preset}: the first stage deploys from the "
                    "default branch",
                    branch,
                )
        if policies.tags:
            yield Problem(
                "approval.tags",
                f"must be empty {preset}: the first stage deploys from the default branch, "
                "not from tags",
                _yaml_list(policies.tags),
            )
        return
    if branching is Branching.TRUNK and policies.branches:
        yield Problem(
            "approval.branches",
            f"must be empty {preset}: stages after the first deploy from tags only; write "
            f"approval.tags: {_yaml_list(tags)}",
            _yaml_list(policies.branches),
        )
    if branching is Branching.TRUNK and not policies.tags:
        yield Problem(
            "approval.tags",
            f"must list a release tag pattern {preset}: write approval.tags: {_yaml_list(tags)}",
        )
    if role.production:
        return  # the production stage's tag patterns: approval_rules (components/config/rules.py)
    for index, tag in enumerate(policies.tags):
        if not RELEASE_TAG.fullmatch(tag):
            yield Problem(
                f"approval.tags[{index}]", "must be a release tag pattern such as v*", tag
            )
