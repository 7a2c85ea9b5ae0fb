"""The one test harness: the offline render (render/engine.py) on the example stack files.

The tests' stacks are the fixture examples/webshop (the gitflow three-stage acme/webshop), not
the project's root stack files: a team that adapts the root files to its own app keeps a
passing suite. The root files are only checked to render and to pass the project check
(tests/test_examples.py).

Tests ask for a stack's render through ``rendered(stack)`` (cached: each stack renders once
per test process) or render a variation with ``render_variant(stack, {path: value})``, where a
path is written as in the error messages, ``cicd:canary.steps[0].weight``; ``DELETE`` removes a
key. ``config_problems(stack, changes)`` returns the error lines that bad config produces.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import ConfigError
from render.engine import PROJECT_DIR, Rendered, render
from render.tree import tree

EXAMPLES_DIR: Final = PROJECT_DIR / "examples"
STACKS_DIR: Final = EXAMPLES_DIR / "webshop"
"""The stack files the tests render: the gitflow three-stage example."""
STACKS: Final = ("dev", "staging", "prod")
"""Its stages in chain order (tests/test_examples.py checks this against the chain)."""
DELETE: Final = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def stack_config(stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of the fixture's Pulumi.<stack>.yaml, as a fresh copy."""
    data = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(data["config"])


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    namespace, _, rest = path.partition(":")
    first, _, tail = rest.partition(".")
    if "[" in first:
        first, bracket = first.split("[", 1)
        tail = "[" + bracket + ("." + tail if tail else "")
    key = f"{namespace}:{first}"
    if not tail:
        if value is DELETE:
            config.pop(key, None)
        else:
            config[key] = value
        return
    node: Any = config.setdefault(key, {})
    steps = [m.group(1) or int(m.group(2)) for m in _STEP.finditer(tail)]
    for step in steps[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    last = steps[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


def variant(stack: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    config = stack_config(stack)
    for path, value in changes.items():
        _set(config, path, value)
    return config


def example_copy(
    into: Path, example: str, changes: Mapping[str, Mapping[str, Any] | None] | None = None
) -> Path:
    """A copy of examples/<example>'s stack files (its platform/ ones included) in ``into``,
    with ``changes`` ({stack: {path: value}}, paths as in :func:`variant`) applied; a stack whose
    changes are ``None`` is left out. Returns ``into``."""
    source = EXAMPLES_DIR / example
    for path in source.rglob("Pulumi.*.yaml"):
        target = into / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for stack, stack_changes in (changes or {}).items():
        target = into / f"Pulumi.{stack}.yaml"
        if stack_changes is None:
            target.unlink()
            continue
        data = yaml.safe_load(target.read_text()) if target.is_file() else {"config": {}}
        for path_, value in stack_changes.items():
            _set(data["config"], path_, value)
        target.write_text(yaml.safe_dump(data, sort_keys=False))
    return into


@cache
def rendered(stack: str) -> Rendered:
    """The render of a fixture stack file (cached; treat as read-only)."""
    return render(stack, stacks_dir=STACKS_DIR)


@cache
def files(stack: str) -> dict[str, str]:
    """The file tree ``python -m render`` writes for a fixture stack."""
    return tree(rendered(stack))


def render_variant(stack: str, changes: Mapping[str, Any]) -> Rendered:
    return render(stack, stack_config=variant(stack, changes), stacks_dir=STACKS_DIR)


def config_problems(stack: str, changes: Mapping[str, Any]) -> list[str]:
    """The error lines of a variation that must fail; fails the test if it renders."""
    with pytest.raises(ConfigError) as caught:
        render(stack, stack_config=variant(stack, changes), stacks_dir=STACKS_DIR)
    return list(caught.value.lines)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def project_path(*parts: str) -> Path:
    return PROJECT_DIR.joinpath(*parts)


PROJECT_FOLDERS: Final = ("components", "delivery_metrics", "platform", "render", "security_rescan")
"""What the program needs besides its top-level files: the platform project for the
StackReference, delivery_metrics and security_rescan for the packages the dev stack commits."""


def copy_project(root: Path, example: Path = STACKS_DIR) -> Path:
    """The one project copy the tests make: the program and the platform project with the stack
    files of ``example`` (examples/webshop) as the copy's own; no build output, caches or venv.
    Returns ``root``."""
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.pyc", "build", ".render-manifest.json", "Pulumi.*.yaml"
    )
    shutil.copy2(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copy2(PROJECT_DIR / "__main__.py", root / "__main__.py")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(PROJECT_DIR / folder, root / folder, ignore=ignore)
    for path in example.rglob("Pulumi.*.yaml"):
        target = root / path.relative_to(example)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return root


FULL_TIER: Final = os.environ.get("CICD_CHECK") == "1" or os.environ.get("CI") == "true"
"""``make check`` (and CI) runs every tier: there a missing tool fails its test, never skips it."""


def real_tool(name: str, *, install: str) -> str:
    """The path of a system tool (on PATH), or of a Go-built one of tools/gotools.py (built on
    first use, cached by version under build/tools). Missing: fails under ``make check``/CI,
    skips in the fast tier, naming ``install``, the command that provides it."""
    from tools import gotools

    if name in gotools.TOOLS:
        return str(gotools.ensure(name))
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is missing: {install}"
    if FULL_TIER:
        pytest.fail(message)
    pytest.skip(message)
