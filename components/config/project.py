"""The project's stack files together: one chain of stages, one app, one branching preset.

A stack file is validated alone by components/config/loading.py; what only shows across stack
files is checked here, from the raw ``config:`` mappings (already parsed as untrusted YAML by
render/stackfile.py): the stages form one :class:`components.chain.Chain`, every stack delivers
the same app (owner, repository, default branch, branching preset), and each stage's branch
protection and deploy refs follow the preset for its place in the chain
(components/config/branching.py). render/project.py adds what needs the renders: one owner for
every GitHub object.

Every problem is one line, ``Pulumi.<stack>.yaml: cicd:<key> <what is wrong>``, as a single
stack's problems are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from components.chain import (
    Chain,
    ChainError,
    Stage,
    Tier,
    default_github_environment,
    default_tier,
)
from components.config.app import AppConfig, Branching
from components.config.branching import BranchPolicies, StageRole, branching_rules
from components.config.problems import Problem
from components.config.runner import RunnerConfig, public_runner_problem
from components.messages import escape


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def _mapping(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


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


def app_identity(config: Mapping[str, Any]) -> AppIdentity:
    """The app a stack file states, with the model's defaults for what it leaves out."""
    app = _mapping(config, "cicd:app")
    branching = app.get("branching", _default("branching"))
    return AppIdentity(
        owner=_text(config.get("github:owner")),
        repository=_text(app.get("repository")),
        default_branch=_text(app.get("defaultBranch")) or str(_default("default_branch")),
        branching=Branching(branching) if branching in set(Branching) else Branching.GITFLOW,
    )


def stage_of(stack: str, config: Mapping[str, Any]) -> Stage | Problem:
    """The stack's place in the chain, or the one problem that prevents knowing it."""
    environment = _mapping(config, "cicd:environment")
    promotes_from = environment.get("promotesFrom")
    if promotes_from is not None and not isinstance(promotes_from, str):
        return Problem("environment.promotesFrom", "must be a stack name", str(promotes_from))
    tier_value = environment.get("tier")
    tier = default_tier(stack)
    if tier_value is not None:
        if tier_value not in set(Tier):
            return Problem(
                "environment.tier",
                f"must be one of {', '.join(Tier)}",
                str(tier_value),
            )
        tier = Tier(tier_value)
    if tier is None:
        return Problem(
            "environment.tier",
            f"is required for the stage '{stack}' (development, staging or production): only "
            "dev, staging and prod have a tier without saying",
        )
    github_environment = _text(environment.get("githubEnvironment"))
    return Stage(
        name=stack,
        tier=tier,
        promotes_from=promotes_from,
        github_environment=github_environment or default_github_environment(stack),
    )


def production_stage(chain: Chain) -> Stage:
    """The stage that protects main under gitflow: the last production-tier stage (the last
    stage when none is marked production)."""
    production = [s for s in chain.stages if s.tier is Tier.PRODUCTION]
    return production[-1] if production else chain.stages[-1]


def role_of(chain: Chain, stage: Stage) -> StageRole:
    return StageRole(
        first=stage.is_first,
        production=not stage.is_first and stage == production_stage(chain),
    )


def policies_of(config: Mapping[str, Any]) -> BranchPolicies:
    approval = _mapping(config, "cicd:approval")
    protection = config.get("cicd:branchProtection")
    return BranchPolicies(
        protected_branch=_text(protection.get("branch")) if isinstance(protection, dict) else None,
        branches=_texts(approval.get("branches")),
        tags=_texts(approval.get("tags")),
    )


@dataclass(frozen=True)
class ProjectConfig:
    """The chain the stack files form (None when they do not form one) and what is wrong."""

    chain: Chain | None
    app: AppIdentity | None
    lines: tuple[str, ...]


def check_project_config(configs: Mapping[str, Mapping[str, Any]]) -> ProjectConfig:
    """Check the ``config:`` mappings of every stack file (stack name -> mapping)."""
    lines: list[str] = []
    stages: list[Stage] = []
    for stack in sorted(configs):
        found = stage_of(stack, configs[stack])
        if isinstance(found, Problem):
            lines.append(found.line(stack_file(stack)))
        else:
            stages.append(found)
    if lines:
        return ProjectConfig(None, None, tuple(lines))
    try:
        chain = Chain.of(stages)
    except ChainError as err:
        key = "cicd:environment.promotesFrom"
        if "GitHub environment" in err.message:
            key = "cicd:environment.githubEnvironment"
        where = stack_file(err.stage) if err.stage else "stack files"
        return ProjectConfig(None, None, (escape(f"{where}: {key}: {err.message}"),))
    first = chain.first.name
    app = app_identity(configs[first])
    for stage in chain.stages[1:]:
        for key, theirs, mine in app_identity(configs[stage.name]).differences(app):
            lines.append(
                f"{stack_file(stage.name)}: {key} must be {mine}, as in {stack_file(first)}: "
                f"every stack delivers the same app (got {theirs})"
            )
    if lines:
        return ProjectConfig(chain, None, tuple(lines))
    for stage in chain.stages:
        config = configs[stage.name]
        problems = branching_rules(
            app.branching, app.default_branch, role_of(chain, stage), policies_of(config)
        )
        lines += (p.line(stack_file(stage.name)) for p in problems)
    if _public(configs[first]):
        for stage in chain.stages[1:]:
            runner = _runner(configs[stage.name])
            if runner is not None and (problem := public_runner_problem(runner)) is not None:
                lines.append(problem.line(stack_file(stage.name)))
    return ProjectConfig(chain, app, tuple(lines))


def _public(config: Mapping[str, Any]) -> bool:
    """Whether the first stage says the repository is public (``pipeline.github.visibility``)."""
    github = _mapping(_mapping(config, "cicd:pipeline"), "github")
    return github.get("visibility") == "public"


def _runner(config: Mapping[str, Any]) -> RunnerConfig | None:
    """A stage's ``deploy.runner``; None when unset or invalid (its own render says why)."""
    raw = _mapping(config, "cicd:deploy").get("runner")
    if raw is None:
        return None
    try:
        return RunnerConfig.model_validate(raw)
    except ValidationError:
        return None
