"""The environments of one application as an ordered chain, and the names that follow from them.

A project's environment stacks form one chain: the first stage deploys after green CI, each
later stage promotes from the stage before it (its accepted deployments are what the next one
requires). A stack names its predecessor in ``cicd:environment.promotesFrom``; the stage without
one is the first. Adding a stage is one stack file and one ``promotesFrom`` line in the stage
after it; dropping one is deleting its file and changing that line.

A stage's *tier* (development, staging, production) decides the defaults that used to follow
from the three fixed names: pod security, protection against deletion, whether GitHub records
its deployments as production. The names dev, staging and prod keep their tiers (and their
earlier GitHub environment, workflow file and switch variable names) without saying so, so the
three-stage stacks render as before; any other name must state its tier.

This module holds only names and the chain's shape; config (components/config) validates stack
files into :class:`Stage` values, the project-wide check orders them into a :class:`Chain`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Tier(StrEnum):
    """What kind of environment a stage is; it decides defaults, not the order."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


DEFAULT_TIER: Final = {
    "dev": Tier.DEVELOPMENT,
    "staging": Tier.STAGING,
    "prod": Tier.PRODUCTION,
}
"""Stage names whose tier may be left out (the three stacks this project started with)."""

_LEGACY_GITHUB_ENVIRONMENT: Final = {"dev": "development", "prod": "production"}
_LEGACY_WORKFLOW_FILE: Final = {"staging": "stage-deploy.yml"}


def default_tier(stage: str) -> Tier | None:
    """The tier a stage has when its stack file does not say; None: it must say."""
    return DEFAULT_TIER.get(stage)


def default_github_environment(stage: str) -> str:
    """GitHub deployment environment of a stage whose stack leaves ``githubEnvironment`` unset:
    ``development`` for dev and ``production`` for prod (as before), otherwise the stage name."""
    return _LEGACY_GITHUB_ENVIRONMENT.get(stage, stage)


def deploy_workflow_file(stage: str) -> str:
    """File name of a stage's deploy workflow under .github/workflows: ``<stage>-deploy.yml``,
    except staging's, which keeps its earlier name ``stage-deploy.yml``."""
    return _LEGACY_WORKFLOW_FILE.get(stage, f"{stage}-deploy.yml")


def deploy_switch_variable(stage: str) -> str:
    """The repository variable a stage's deploy workflow reads as its switch:
    ``<STAGE>_DEPLOY_ENABLED`` (``-`` becomes ``_``), written by that stage's stack."""
    return f"{stage.upper().replace('-', '_')}_DEPLOY_ENABLED"


@dataclass(frozen=True)
class Stage:
    """One environment stack's place in the chain."""

    name: str
    """The stack name (``cicd:environment.name`` must equal it)."""
    tier: Tier
    promotes_from: str | None
    """The stage before this one; None for the first stage."""
    github_environment: str
    """Its GitHub deployment environment (resolved: set or default)."""

    @property
    def is_first(self) -> bool:
        """Whether this stage deploys after green CI (and owns the shared pipeline)."""
        return self.promotes_from is None


class ChainError(ValueError):
    """The stages do not form one chain; the message names the stage and what to change."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


@dataclass(frozen=True)
class Chain:
    """The stages in promotion order, first to last."""

    stages: tuple[Stage, ...]

    @classmethod
    def of(cls, stages: Iterable[Stage]) -> Chain:
        """Order the stages; :class:`ChainError` unless they form exactly one chain: one first
        stage, every ``promotes_from`` an existing stage, no stage promoted from by two, no
        cycle, and no two stages sharing a GitHub environment."""
        by_name: dict[str, Stage] = {}
        for stage in stages:
            if stage.name in by_name:
                raise ChainError(stage.name, f"stage '{stage.name}' is declared twice")
            by_name[stage.name] = stage
        if not by_name:
            raise ChainError("", "no environment stack: a chain needs at least one stage")
        firsts = sorted(name for name, stage in by_name.items() if stage.is_first)
        if not firsts:
            raise ChainError(
                min(by_name),
                "no first stage: exactly one stack leaves environment.promotesFrom unset "
                "(the one that deploys after green CI)",
            )
        if len(firsts) > 1:
            raise ChainError(
                firsts[1],
                f"stages {', '.join(firsts)} all leave environment.promotesFrom unset: only the "
                "first stage may; set promotesFrom to the stage each one promotes from",
            )
        successor: dict[str, str] = {}
        for name in sorted(by_name):
            previous = by_name[name].promotes_from
            if previous is None:
                continue
            if previous == name:
                raise ChainError(name, f"stage '{name}' promotes from itself")
            if previous not in by_name:
                raise ChainError(
                    name,
                    f"stage '{name}' promotes from '{previous}', which has no stack file "
                    f"(stages: {', '.join(sorted(by_name))})",
                )
            if previous in successor:
                raise ChainError(
                    name,
                    f"stages '{successor[previous]}' and '{name}' both promote from "
                    f"'{previous}': a chain has one stage after each",
                )
            successor[previous] = name
        ordered = [by_name[firsts[0]]]
        while ordered[-1].name in successor:
            ordered.append(by_name[successor[ordered[-1].name]])
        if len(ordered) != len(by_name):
            stray = sorted(set(by_name) - {stage.name for stage in ordered})
            raise ChainError(
                stray[0],
                f"stages {', '.join(stray)} promote from each other in a cycle, not from "
                f"'{firsts[0]}''s chain",
            )
        seen: dict[str, str] = {}
        for stage in ordered:
            key = stage.github_environment.lower()
            if key in seen:
                raise ChainError(
                    stage.name,
                    f"stages '{seen[key]}' and '{stage.name}' share the GitHub environment "
                    f"'{stage.github_environment}'",
                )
            seen[key] = stage.name
        return cls(tuple(ordered))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def previous(self, name: str) -> Stage | None:
        """The stage ``name`` promotes from; None for the first."""
        promotes_from = self.stage(name).promotes_from
        return None if promotes_from is None else self.stage(promotes_from)

    def later(self, name: str) -> Sequence[Stage]:
        """The stages after ``name``, in order."""
        index = self.names.index(name)
        return self.stages[index + 1 :]
