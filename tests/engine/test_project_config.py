"""The Pulumi CLI's own check of stack config against the project's ``config:`` block.

Before it runs a program, ``pulumi up``/``preview`` refuses a stack that lacks a key the project
declares without a ``default`` ("validating stack config: Stack 'staging' is missing
configuration value 'cicd:network'", the engine tier's first ``pulumi up`` of staging, CLI
v3.274.0). The render never runs that check (it reads the stack files itself), so this fast test
repeats it for every stack of both projects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.engine.harness import PROJECT_DIR

PROJECTS: Final = {
    PROJECT_DIR: ("dev", "staging", "prod"),
    PROJECT_DIR / "platform": ("nonprod", "prod"),
}


def required_keys(project: Path) -> list[str]:
    """Keys of the project's ``config:`` block that have neither ``default`` nor ``value``."""
    declared: dict[str, Any] = yaml.safe_load((project / "Pulumi.yaml").read_text())["config"]
    return [
        key
        for key, spec in declared.items()
        if isinstance(spec, dict) and "default" not in spec and "value" not in spec
    ]


@pytest.mark.parametrize(
    ("project", "stack"),
    [(project, stack) for project, stacks in PROJECTS.items() for stack in stacks],
    ids=lambda value: (
        ("platform" if value.name == "platform" else "environment")
        if isinstance(value, Path)
        else str(value)
    ),
)
def test_every_stack_sets_every_key_the_project_requires(project: Path, stack: str) -> None:
    config = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())["config"]
    missing = [key for key in required_keys(project) if key not in config]
    assert missing == [], f"{project.name}/Pulumi.{stack}.yaml lacks {missing}: the CLI refuses it"
