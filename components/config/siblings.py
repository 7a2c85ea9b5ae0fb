"""Reading the other stack files of the project: the sibling stages of the chain.

A stack's render needs facts it cannot hold itself: the GitHub environment of the stage it
promotes from (whose accepted deployments its verify job requires), and, for the first stage, the
GitHub environments of every stage (the default lists of metrics.yml and rescan.yml). Both come
from the sibling stack files ``Pulumi.<stage>.yaml`` in the folder of the stack's own file.

Those files are untrusted input like the stack's own (the render runs on pull requests): each is
parsed by render/stackfile.py's safe reader (no aliases, no tags, bounded size and depth), and
only the ``cicd:environment`` section's ``name``, ``tier``, ``promotesFrom`` and
``githubEnvironment`` are read and validated; nothing else of a sibling is looked at, so a
sibling's secrets are never read. A missing file or a bad value is a
:class:`~components.config.problems.Problem` on ``cicd:environment.promotesFrom`` of the stack
being rendered, naming the sibling file.

:func:`read_section` is the reusable part: one section of one sibling, as plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import pulumi
from pydantic import TypeAdapter, ValidationError

from components.chain import (
    Chain,
    ChainError,
    Stage,
    Tier,
    default_github_environment,
    default_tier,
)
from components.config.environment import EnvironmentConfig, StageName
from components.config.fields import Slug
from components.config.problems import NAMESPACE, Problem, show_value

STACK_FILE_PREFIX: Final = "Pulumi."
STACK_FILE_SUFFIX: Final = ".yaml"
PROJECT_FILE: Final = "Pulumi.yaml"
PROMOTES_FROM: Final = "environment.promotesFrom"

_STAGE_NAME: Final = TypeAdapter[str](StageName)
_SLUG: Final = TypeAdapter[str](Slug)


class SiblingError(ValueError):
    """A sibling stack file that cannot be read as a stage: the message names file and key."""


def project_directory() -> Path:
    """The folder of the stack files: the Pulumi project's root (where Pulumi.yaml is).

    The Pulumi engine tells the program its root directory (``pulumi.get_root_directory``); the
    offline render sets the same (render/engine.py). Without one (an older engine), the program's
    working directory, which the Pulumi CLI sets to the project folder.
    """
    root = pulumi.get_root_directory()
    if root and Path(root).is_dir():
        return Path(root)
    return Path.cwd()


def stack_file(directory: Path, stack: str) -> Path:
    return directory / f"{STACK_FILE_PREFIX}{stack}{STACK_FILE_SUFFIX}"


def stack_names(directory: Path) -> list[str]:
    """The stacks whose files are in ``directory`` (``Pulumi.<stack>.yaml``), sorted by name."""
    names = []
    for path in directory.glob(f"{STACK_FILE_PREFIX}*{STACK_FILE_SUFFIX}"):
        if path.name == PROJECT_FILE or not path.is_file():
            continue
        names.append(path.name[len(STACK_FILE_PREFIX) : -len(STACK_FILE_SUFFIX)])
    return sorted(names)


def read_section(directory: Path, stack: str, section: str) -> Mapping[str, Any] | None:
    """The ``cicd:<section>`` mapping of a sibling stack file, as plain data; None when unset.

    :class:`SiblingError` when the file is missing, is not safe plain YAML, or the section is not
    a mapping.
    """
    # Imported here: render/stackfile.py is the project's one untrusted-YAML reader, and the
    # render package must not be loaded by components/config's import.
    from render.stackfile import StackFileError, config_mapping

    path = stack_file(directory, stack)
    if not path.is_file():
        raise SiblingError(f"{path.name} does not exist")
    try:
        config = config_mapping(path)
    except StackFileError as err:
        raise SiblingError(err.line_text) from None
    except OSError as err:
        raise SiblingError(f"{path.name} cannot be read ({err.strerror})") from None
    value = config.get(f"{NAMESPACE}:{section}")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SiblingError(f"{path.name}: {NAMESPACE}:{section}: must be a mapping")
    return value


def _field(
    environment: Mapping[str, Any], file_name: str, key: str, check: TypeAdapter[str]
) -> str | None:
    value = environment.get(key)
    if value is None:
        return None
    try:
        return check.validate_python(value) if isinstance(value, str) else _bad(value)
    except (ValidationError, ValueError) as err:
        reason = (
            err.errors()[0]["msg"].removeprefix("Value error, ")
            if isinstance(err, ValidationError)
            else str(err)
        )
        raise SiblingError(
            f"{file_name}: {NAMESPACE}:environment.{key}: {reason} (got {show_value(value)})"
        ) from None


def _bad(value: object) -> str:
    raise ValueError("must be a string")


def read_stage(directory: Path, stack: str) -> Stage:
    """A sibling stack's place in the chain, from its ``cicd:environment`` section alone."""
    file_name = stack_file(directory, stack).name
    environment = read_section(directory, stack, "environment")
    if environment is None:
        raise SiblingError(f"{file_name}: {NAMESPACE}:environment: is required")
    name = _field(environment, file_name, "name", _STAGE_NAME)
    if name != stack:
        raise SiblingError(
            f"{file_name}: {NAMESPACE}:environment.name: must match the stack name '{stack}'"
        )
    raw_tier = environment.get("tier")
    if raw_tier is None:
        tier = default_tier(stack)
        if tier is None:
            raise SiblingError(
                f"{file_name}: {NAMESPACE}:environment.tier: is required for a stage named "
                f"'{stack}'"
            )
    elif isinstance(raw_tier, str) and raw_tier in {t.value for t in Tier}:
        tier = Tier(raw_tier)
    else:
        raise SiblingError(
            f"{file_name}: {NAMESPACE}:environment.tier: must be one of "
            f"{', '.join(t.value for t in Tier)} (got {show_value(raw_tier)})"
        )
    return Stage(
        name=stack,
        tier=tier,
        promotes_from=_field(environment, file_name, "promotesFrom", _STAGE_NAME),
        github_environment=(
            _field(environment, file_name, "githubEnvironment", _SLUG)
            or default_github_environment(stack)
        ),
    )


def own_stage(environment: EnvironmentConfig) -> Stage:
    """The stage of the stack being rendered, from its validated section."""
    return Stage(
        name=environment.name,
        tier=environment.stage_tier,
        promotes_from=environment.promotes_from,
        github_environment=environment.github_environment_name,
    )


def read_chain(directory: Path, own: Stage) -> Chain:
    """The chain of ``own`` and every sibling stack file in ``directory``.

    :class:`SiblingError` when the stage ``own`` promotes from has no readable file, or any
    sibling is unreadable; :class:`~components.chain.ChainError` when the stages do not form one
    chain.
    """
    if own.promotes_from is not None and own.promotes_from != own.name:
        previous = stack_file(directory, own.promotes_from)
        if not previous.is_file():
            raise SiblingError(
                f"names stage '{own.promotes_from}', which has no stack file {previous.name} "
                f"beside this one (stacks: {', '.join(stack_names(directory)) or 'none'})"
            )
    stages = [own]
    for name in stack_names(directory):
        if name != own.name:
            stages.append(read_stage(directory, name))
    return Chain.of(stages)


def chain_problems(environment: EnvironmentConfig, directory: Path) -> list[Problem]:
    """At most one Problem: a GitHub environment another stage owns (on
    ``environment.githubEnvironment``), else why the chain cannot be read (on
    ``environment.promotesFrom``)."""
    own = own_stage(environment)
    try:
        read_chain(directory, own)
    except SiblingError as err:
        message = str(err)
        if not message.startswith("names "):
            message = f"cannot be checked against the other stack files: {message}"
        return [Problem(PROMOTES_FROM, message, environment.promotes_from)]
    except ChainError as err:
        quoted = err.message.split("'")[1:4:2]  # the two stages of a shared GitHub environment
        if "share the GitHub environment" in err.message and own.name in quoted:
            other = next(name for name in quoted if name != own.name)
            return [
                Problem(
                    "environment.githubEnvironment",
                    f"is the {other} stack's GitHub environment; each stack owns its own "
                    f"(default {default_github_environment(own.name)})",
                    own.github_environment,
                )
            ]
        where = (
            ""
            if err.stage in ("", environment.name)
            else f" ({stack_file(directory, err.stage).name})"
        )
        return [
            Problem(
                PROMOTES_FROM,
                f"does not make one chain: {err.message}{where}",
                environment.promotes_from,
            )
        ]
    return []


def chain_of(environment: EnvironmentConfig, directory: Path) -> Chain:
    """The chain, for a stack whose :func:`chain_problems` found none."""
    return read_chain(directory, own_stage(environment))


def names_in_order(directory: Path) -> list[str]:
    """The stacks of ``directory`` in chain order; :class:`SiblingError` or
    :class:`~components.chain.ChainError` when they do not form one chain."""
    stages: Iterable[Stage] = [read_stage(directory, name) for name in stack_names(directory)]
    return list(Chain.of(stages).names)
