"""What the project-wide check reads of one stack file, type-checked before anything uses it.

The project check (components/config/project.py, render/project.py) reads a handful of keys of
every stack file straight from the parsed ``config:`` mapping, before any stack is validated
alone. Stack files are untrusted input (the render runs on pull requests), so every key read here
is checked for its type first: a value of the wrong type is one line,
``Pulumi.<stack>.yaml: cicd:<key> must be ...``, never a traceback and never a guess (a list
where a mapping belongs must not read as "unset" and produce lines about other keys).

A section that is not a mapping is one line, ``cicd:<section> must be a mapping``, and none of
its keys is read. A stack with any problem here gets no later project check: its facts are None.
``null`` (a key or section written without a value) means unset, as in the single-stack loader.

:data:`READ_KEYS` lists every key read here; the tests feed malformed values to each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import TypeAdapter, ValidationError

from components.chain import Tier
from components.config.app import Branching
from components.config.environment import StageName, not_reserved
from components.config.pipeline import RepositoryVisibility
from components.config.problems import NAMESPACE, Problem, problems_from, show_value
from components.config.runner import RunnerConfig

READ_KEYS: Final = (
    "github:owner",
    "cicd:app.repository",
    "cicd:app.defaultBranch",
    "cicd:app.branching",
    "cicd:environment.name",
    "cicd:environment.promotesFrom",
    "cicd:environment.tier",
    "cicd:environment.githubEnvironment",
    "cicd:approval.branches",
    "cicd:approval.tags",
    "cicd:branchProtection.branch",
    "cicd:pipeline.github.visibility",
    "cicd:deploy.runner",
    "cicd:cluster.platformStack",
)
"""Every key the project check reads (``namespace:section.key``)."""

SECTIONS_READ: Final = tuple(
    dict.fromkeys(key.split(".")[0] for key in READ_KEYS if key.startswith(f"{NAMESPACE}:"))
)
"""The ``cicd:`` sections those keys live in."""

_STAGE_NAME: Final = TypeAdapter[str](StageName)

E = TypeVar("E", bound=StrEnum)


def _shown(value: Any) -> str:
    """The value for a problem line; a ``secure:`` value is never shown, even encrypted."""
    if isinstance(value, dict) and "secure" in value:
        return "[secret]"
    return show_value(value)


@dataclass(frozen=True)
class StackFacts:
    """The keys of one stack file the project check reads, each of its type (None: unset)."""

    owner: str | None
    repository: str | None
    default_branch: str | None
    branching: Branching | None
    promotes_from: str | None
    tier: Tier | None
    github_environment: str | None
    branches: tuple[str, ...]
    tags: tuple[str, ...]
    protected_branch: str | None
    visibility: RepositoryVisibility | None
    runner: RunnerConfig | None
    platform_stack: str | None


@dataclass
class _Reader:
    config: Mapping[str, Any]
    problems: list[Problem] = field(default_factory=list)

    def _bad(self, path: str, message: str, value: Any) -> None:
        self.problems.append(Problem(path, message, _shown(value)))

    def section(self, name: str) -> Mapping[str, Any] | None:
        """``cicd:<name>``: {} when unset, None (and a problem) when not a mapping."""
        value = self.config.get(f"{NAMESPACE}:{name}")
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self._bad(name, "must be a mapping", value)
        return None

    def text(self, mapping: Mapping[str, Any] | None, path: str) -> str | None:
        value = None if mapping is None else mapping.get(path.rsplit(".", 1)[-1])
        if value is None or isinstance(value, str):
            return value
        self._bad(path, "must be a string", value)
        return None

    def texts(self, mapping: Mapping[str, Any] | None, path: str) -> tuple[str, ...]:
        value = None if mapping is None else mapping.get(path.rsplit(".", 1)[-1])
        if value is None:
            return ()
        if not isinstance(value, list):
            self._bad(path, "must be a list of strings", value)
            return ()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self._bad(f"{path}[{index}]", "must be a string", item)
                return ()
        return tuple(value)

    def choice(self, mapping: Mapping[str, Any] | None, path: str, kind: type[E]) -> E | None:
        value = None if mapping is None else mapping.get(path.rsplit(".", 1)[-1])
        if value is None:
            return None
        if isinstance(value, str) and value in {member.value for member in kind}:
            return kind(value)
        self._bad(path, f"must be one of {', '.join(member.value for member in kind)}", value)
        return None

    def stage_name(self, mapping: Mapping[str, Any] | None, path: str) -> str | None:
        value = self.text(mapping, path)
        if value is None:
            return None
        try:
            return _STAGE_NAME.validate_python(value)
        except ValidationError as err:
            self._bad(path, str(err.errors()[0]["msg"]).removeprefix("Value error, "), value)
            return None

    def runner(self, deploy: Mapping[str, Any] | None) -> RunnerConfig | None:
        value = None if deploy is None else deploy.get("runner")
        if value is None:
            return None
        try:
            return RunnerConfig.model_validate(value)
        except ValidationError as err:
            for problem in problems_from(err, RunnerConfig):
                path = f"deploy.runner.{problem.path}" if problem.path else "deploy.runner"
                self.problems.append(Problem(path, problem.message, problem.got))
            return None


def read_facts(stack: str, config: Mapping[str, Any]) -> StackFacts | list[Problem]:
    """The facts of stack ``stack``'s ``config:`` mapping, or every problem that prevents them.

    ``environment.name`` must be the stack name (a stage name, components/config/environment.py)
    when set; the facts use the stack name.
    """
    read = _Reader(config)
    owner = config.get("github:owner")
    if owner is not None and not isinstance(owner, str):
        read.problems.append(Problem("owner", "must be a string", _shown(owner), "github"))
        owner = None
    app = read.section("app")
    environment = read.section("environment")
    approval = read.section("approval")
    protection = read.section("branchProtection")
    pipeline = read.section("pipeline")
    deploy = read.section("deploy")
    cluster = read.section("cluster")
    name = read.stage_name(environment, "environment.name")
    if name is not None and name != stack:
        read._bad("environment.name", f"must match the stack name '{stack}'", name)
    elif name is not None:
        try:
            not_reserved(name)
        except ValueError as err:
            read._bad("environment.name", str(err), name)
    github: Mapping[str, Any] | None = None
    if pipeline is not None:
        raw_github = pipeline.get("github")
        if raw_github is None or isinstance(raw_github, dict):
            github = raw_github or {}
        else:
            read._bad("pipeline.github", "must be a mapping", raw_github)
    facts = StackFacts(
        owner=owner,
        repository=read.text(app, "app.repository"),
        default_branch=read.text(app, "app.defaultBranch"),
        branching=read.choice(app, "app.branching", Branching),
        promotes_from=read.stage_name(environment, "environment.promotesFrom"),
        tier=read.choice(environment, "environment.tier", Tier),
        github_environment=read.text(environment, "environment.githubEnvironment"),
        branches=read.texts(approval, "approval.branches"),
        tags=read.texts(approval, "approval.tags"),
        protected_branch=read.text(protection, "branchProtection.branch"),
        visibility=read.choice(github, "pipeline.github.visibility", RepositoryVisibility),
        runner=read.runner(deploy),
        platform_stack=read.text(cluster, "cluster.platformStack"),
    )
    return read.problems or facts
