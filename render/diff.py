"""Differences between two renders: per resource (added, changed, removed) and per file.

Used by ``python -m render STACK --diff REF`` (this stack at a git revision against the working
tree, what a pull request changes) and ``--compare OTHER`` (two environments side by side, to spot
unintended drift between, say, staging and prod). Resources are matched by type and logical name,
which the components keep the same in every stack.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]


@dataclass
class Change:
    """One resource present on both sides with different inputs or options."""

    type: str
    name: str
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass
class ResourceDiff:
    added: list[Key]
    removed: list[Key]
    changed: list[Change]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def resource_diff(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> ResourceDiff:
    """Compare two ``resources.json`` lists."""
    before = {(str(r["type"]), str(r["name"])): r for r in old}
    after = {(str(r["type"]), str(r["name"])): r for r in new}
    changed: list[Change] = []
    for key in after.keys() & before.keys():
        a = _flatten({"inputs": before[key]["inputs"], "options": before[key]["options"]})
        b = _flatten({"inputs": after[key]["inputs"], "options": after[key]["options"]})
        fields = [
            (p, a.get(p), b.get(p)) for p in sorted(a.keys() | b.keys()) if a.get(p) != b.get(p)
        ]
        if fields:
            changed.append(Change(key[0], key[1], fields))
    return ResourceDiff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(changed, key=lambda c: (c.type, c.name)),
    )


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."


def format_resource_diff(diff: ResourceDiff, left: str, right: str) -> str:
    """Markdown that reads well in a pull request comment or job summary."""
    if diff.empty:
        return f"No resource differs between {left} and {right}.\n"
    lines = [
        f"**{len(diff.added)} to add, {len(diff.changed)} to change, {len(diff.removed)} to remove** "
        f"({left} → {right})",
        "",
    ]
    for type_, name in diff.added:
        lines.append(f"+ `{type_}` **{name}**")
    for type_, name in diff.removed:
        lines.append(f"- `{type_}` **{name}**")
    for change in diff.changed:
        lines.append(f"~ `{change.type}` **{change.name}**")
        for path, was, now in change.fields:
            lines.append(f"    ~ {path}: {_short(was)} → {_short(now)}")
    return "\n".join(lines) + "\n"


def file_diff(old: Mapping[str, str], new: Mapping[str, str], left: str, right: str) -> str:
    """Unified diff of two file trees (resources.json left out: the summary covers it)."""
    chunks: list[str] = []
    for path in sorted(old.keys() | new.keys()):
        if path == "resources.json":
            continue
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        chunks.extend(
            difflib.unified_diff(
                (a or "").splitlines(keepends=True),
                (b or "").splitlines(keepends=True),
                fromfile=f"{left}/{path}" if a is not None else "/dev/null",
                tofile=f"{right}/{path}" if b is not None else "/dev/null",
            )
        )
    return "".join(chunks)
