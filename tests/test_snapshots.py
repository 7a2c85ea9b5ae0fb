"""Snapshots of the workflow files each stack commits: tests/snapshots/<stack>/<file>.

What a reviewer reads is the rendered YAML, so a change of the generator shows up as a diff of
these files in the pull request, reviewed like code; tests assert *properties* (job graph,
permissions, who signs) and leave exact expressions to the snapshot.

Update after an intended change (docs/testing.md)::

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -p no:xdist tests/test_snapshots.py

then read ``git diff tests/snapshots`` before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import STACKS, files

SNAPSHOTS: Final = Path(__file__).with_name("snapshots")
UPDATE: Final = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def committed(stack: str) -> dict[str, str]:
    """The stack's committed workflow files and dependabot.yml, by snapshot path."""
    return {
        path.removeprefix("github/").removeprefix("workflows/"): text
        for path, text in files(stack).items()
        if path.startswith("github/") and path.endswith(".yml")
    }


def unified_diff(expected: str, actual: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"tests/snapshots/{name} (committed)",
            f"{name} (rendered now)",
        )
    )


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_workflows_match_the_snapshots(stack: str) -> None:
    rendered = committed(stack)
    folder = SNAPSHOTS / stack
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yml"):
            if old.name not in rendered:
                old.unlink()
        for name, text in rendered.items():
            (folder / name).write_text(text)
    stored = {p.name: p.read_text() for p in sorted(folder.glob("*.yml"))}
    problems = [
        f"{stack}/{name}: rendered, but no snapshot" for name in sorted(set(rendered) - set(stored))
    ]
    problems += [
        f"{stack}/{name}: snapshot of a file no longer rendered"
        for name in sorted(set(stored) - set(rendered))
    ]
    diffs = [
        unified_diff(stored[name], rendered[name], f"{stack}/{name}")
        for name in sorted(set(stored) & set(rendered))
        if stored[name] != rendered[name]
    ]
    assert not problems and not diffs, (
        "\n".join(problems + diffs)
        + "\nIf the change is intended: UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py "
        "and review git diff tests/snapshots"
    )


def test_a_changed_render_fails_with_a_unified_diff() -> None:
    """The diff names the file and shows the changed line, so a reviewer sees what moved."""
    diff = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "dev/ci.yml")
    assert "--- tests/snapshots/dev/ci.yml (committed)" in diff
    assert "-b: 2\n+b: 3\n" in diff
