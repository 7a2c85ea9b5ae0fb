"""The README fits on a screen and every relative link in the documentation resolves.

Fast: reads the markdown files only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import project_path

README_MAX_LINES: Final = 200
"""Issue 21: an introduction and an index (about 150 to 200 lines); the rest lives in docs/."""

PARALLEL_DOCS: Final = frozenset(
    {"testing.md", "control-plane.md", "field-ownership.md", "supply-chain.md", "analysis.md"}
)
"""Docs the README indexes that other branches of issue 21's split add; checked like any other
link once they exist."""

_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _markdown() -> list[Path]:
    return [project_path("README.md"), *sorted(project_path("docs").glob("*.md"))]


def test_readme_fits_on_a_screen() -> None:
    lines = project_path("README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("doc", _markdown(), ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target, _anchor in _LINK.findall(doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (doc.parent / target).resolve()
        if path.name in PARALLEL_DOCS and not path.exists():
            continue
        if not path.exists():
            broken.append(target)
    assert broken == [], f"{doc.name}: links to missing files {broken}"


def test_readme_indexes_every_doc() -> None:
    readme = project_path("README.md").read_text()
    unlisted = [p.name for p in project_path("docs").glob("*.md") if f"docs/{p.name}" not in readme]
    assert unlisted == [], f"README.md's index does not list {unlisted}"
