"""The project's stack files together: one chain of stages, one app, one branching preset.

A stack file is validated alone by components/config/loading.py; what only shows across stack
files is checked here, from the raw ``config:`` mappings (already parsed as untrusted YAML by
render/stackfile.py; every key read is type-checked first, components/config/stack_facts.py): the stages form one :class:`components.chain.Chain`, every stack delivers
the same app (owner, repository, default branch, branching preset), and each stage's branch
protection and deploy refs follow the preset for its place in the chain
(components/config/branching.py). render/project.py adds what needs the renders: one owner for
every GitHub object.

Every problem is one line, ``Pulumi.<stack>.yaml: cicd:<key> <what is wrong>``, as a single
stack's problems are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.chain import (
    Chain,
    ChainError,
    Stage,
    default_github_environment,
    default_tier,
)
from components.config.app import AppConfig, Branching
from components.config.branching import BranchPolicies, branching_rules, stage_role
from components.config.pipeline import RepositoryVisibility
from components.config.problems import Problem
from components.config.runner import public_runner_problem
from components.config.stack_facts import StackFacts, read_facts
from components.messages import escape


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class AppIdentity:
    """What every stack of one project must state alike."""

    owner: str | None
    repository: str | None
    default_branch: str
    branching: Branching

    def differences(self, other: AppIdentity) -> Iterable[tuple[str, str, str]]:
        """(key, this value, other value) for each key that differs."""
        for key, mine, theirs in (
            ("github:owner", self.owner, other.owner),
            ("cicd:app.repository", self.repository, other.repository),
            ("cicd:app.defaultBranch", self.default_branch, other.default_branch),
            ("cicd:app.branching", str(self.branching), str(other.branching)),
        ):
            if mine != theirs:
                yield key, str(mine), str(theirs)


def _default(field: str) -> Any:
    return AppConfig.model_fields[field].default


def app_identity(facts: StackFacts) -> AppIdentity:
    """The app a stack file states, with the model's defaults for what it leaves out."""
    return AppIdentity(
        owner=facts.owner,
        repository=facts.repository,
        default_branch=facts.default_branch or str(_default("default_branch")),
        branching=facts.branching or Branching(_default("branching")),
    )


def stage_of(stack: str, facts: StackFacts) -> Stage | Problem:
    """The stack's place in the chain, or the one problem that prevents knowing it."""
    tier = facts.tier or default_tier(stack)
    if tier is None:
        return Problem(
            "environment.tier",
            f"is required for the stage '{stack}' (development, staging or production): only "
            "dev, staging and prod have a tier without saying",
        )
    return Stage(
        name=stack,
        tier=tier,
        promotes_from=facts.promotes_from,
        github_environment=facts.github_environment or default_github_environment(stack),
    )


def policies_of(facts: StackFacts) -> BranchPolicies:
    return BranchPolicies(
        protected_branch=facts.protected_branch, branches=facts.branches, tags=facts.tags
    )


@dataclass(frozen=True)
class ProjectConfig:
    """The chain the stack files form (None when they do not form one) and what is wrong."""

    chain: Chain | None
    app: AppIdentity | None
    lines: tuple[str, ...]
    facts: Mapping[str, StackFacts] = field(default_factory=dict)
    """What each stack file states of the keys the check reads (every stack, once all read)."""


def check_project_config(configs: Mapping[str, Mapping[str, Any]]) -> ProjectConfig:
    """Check the ``config:`` mappings of every stack file (stack name -> mapping).

    First every read key's type (components/config/stack_facts.py): a stack with a problem
    there gets no later check, and the chain is not built until every stack reads cleanly.
    """
    lines: list[str] = []
    facts: dict[str, StackFacts] = {}
    for stack in sorted(configs):
        read = read_facts(stack, configs[stack])
        if isinstance(read, list):
            lines += (p.line(stack_file(stack)) for p in read)
        else:
            facts[stack] = read
    if lines:
        return ProjectConfig(None, None, tuple(lines))
    stages: list[Stage] = []
    for stack in sorted(configs):
        found = stage_of(stack, facts[stack])
        if isinstance(found, Problem):
            lines.append(found.line(stack_file(stack)))
        else:
            stages.append(found)
    if lines:
        return ProjectConfig(None, None, tuple(lines), facts)
    try:
        chain = Chain.of(stages)
    except ChainError as err:
        key = "cicd:environment.promotesFrom"
        if "GitHub environment" in err.message:
            key = "cicd:environment.githubEnvironment"
        where = stack_file(err.stage) if err.stage else "stack files"
        return ProjectConfig(None, None, (escape(f"{where}: {key}: {err.message}"),), facts)
    first = chain.first.name
    app = app_identity(facts[first])
    for stage in chain.stages[1:]:
        for key, theirs, mine in app_identity(facts[stage.name]).differences(app):
            lines.append(
                escape(
                    f"{stack_file(stage.name)}: {key} must be {mine}, as in {stack_file(first)}: "
                    f"every stack delivers the same app (got {theirs})"
                )
            )
    if lines:
        return ProjectConfig(chain, None, tuple(lines), facts)
    for stage in chain.stages:
        problems = branching_rules(
            app.branching,
            app.default_branch,
            stage_role(chain, stage),
            policies_of(facts[stage.name]),
        )
        lines += (p.line(stack_file(stage.name)) for p in problems)
    if facts[first].visibility is RepositoryVisibility.PUBLIC:
        for stage in chain.stages[1:]:
            runner = facts[stage.name].runner
            if runner is not None and (problem := public_runner_problem(runner)) is not None:
                lines.append(problem.line(stack_file(stage.name)))
    return ProjectConfig(chain, app, tuple(lines), facts)
