"""``python -m render use-example NAME`` (``make example NAME=payments``): start from an example.

Replaces the project's stack files with those of ``examples/NAME`` (its environment stack files
in the project folder, its ``platform/`` ones in platform/), rewrites this repository's own
workflows for the example's chain (render/repo_pipeline.py) and runs the project check on the
result. The old stack files are removed first, so that a stage the example does not have does
not linger in the chain; git shows (and restores) what changed. That holds only for committed
files: stack files with uncommitted changes (a ``secure:`` value set since the last commit, a new
stage) or outside a git checkout are refused unless ``--force``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from components.messages import escape
from render.engine import PROJECT_DIR, UsageError

EXAMPLES: Final = "examples"
NESTED_PROJECTS: Final = ("platform",)
"""Project folders whose stack files an example carries in a folder of the same name."""


def examples(root: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name for p in (root / EXAMPLES).iterdir() if p.is_dir())


def unsaved_stack_files(root: Path = PROJECT_DIR) -> list[str] | None:
    """The project's stack files git could not restore (changed, new or untracked), or None when
    ``root`` is not a git checkout (nothing could be restored)."""
    patterns = ["Pulumi.*.yaml", *(f"{folder}/Pulumi.*.yaml" for folder in NESTED_PROJECTS)]
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", *patterns],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return sorted(line[3:] for line in done.stdout.splitlines() if line.strip())


def use_example(name: str, root: Path = PROJECT_DIR) -> list[Path]:
    """Copy ``examples/<name>``'s stack files over the project's; returns the files written."""
    known = examples(root)
    if name not in known:
        raise UsageError(f"no example '{name}' (examples: {', '.join(known)})")
    source = root / EXAMPLES / name
    written: list[Path] = []
    for folder in (Path(), *map(Path, NESTED_PROJECTS)):
        if not (source / folder).is_dir():
            continue
        for old in (root / folder).glob("Pulumi.*.yaml"):
            old.unlink()
        for path in sorted((source / folder).glob("Pulumi.*.yaml")):
            target = root / folder / path.name
            shutil.copy2(path, target)
            written.append(target)
    return written


def main(argv: Sequence[str]) -> int:
    from render.__main__ import _Parser
    from render.project import check_project
    from render.repo_pipeline import workflows

    p = _Parser(prog="python -m render use-example", description=__doc__)
    p.add_argument("name", help=f"an example folder: {', '.join(examples())}")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace stack files git could not restore (uncommitted changes, no checkout)",
    )
    args = p.parse_args(list(argv))
    unsaved = unsaved_stack_files()
    if not args.force and unsaved != []:
        what = (
            "this folder is not a git checkout, so the stack files could not be restored"
            if unsaved is None
            else f"these stack files have changes git could not restore: {', '.join(unsaved)}"
        )
        print(escape(f"render use-example: {what}; commit them or pass --force"), file=sys.stderr)
        return 1
    try:
        written = use_example(args.name)
    except UsageError as err:
        print(escape(f"render: {err}"), file=sys.stderr)
        return 2
    for path in written:
        print(escape(f"wrote {path.relative_to(PROJECT_DIR)}"))
    result = check_project(PROJECT_DIR)
    for line in result.lines:
        print(line, file=sys.stderr)
    if result.lines or result.chain is None:
        return 1
    for path, text in workflows(result.chain).items():
        if path.read_text() != text:
            path.write_text(text)
            print(escape(f"wrote {path.relative_to(PROJECT_DIR)}"))
    print(escape(f"stages {' -> '.join(result.chain.names)}: the project check passes"))
    return 0
