"""Differences between two renders: stack config, resources (added, changed, removed) and files.

Used by ``python -m render STACK --diff REF`` (this stack at a git revision against the working
tree, what a pull request changes) and ``--compare OTHER`` (two environments side by side, to spot
unintended differences between, say, staging and prod). Resources are matched by type and logical
name, which the components keep the same in every stack.

The report is markdown meant for a pull request comment or a job summary: a short heading, the
config keys that differ, one block per resource with each changed field as ``old → new``, and the
unified diff of the rendered files folded away. Everything is sorted, so the same change always
reads the same. ``report(..., limit=N)`` keeps the text under N characters (GitHub comments stop at
65,536) by cutting the least important parts first and saying where the rest is.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from components.messages import escape
from render.engine import read_stack_files
from render.stackfile import config_mapping

Key = tuple[str, str]


class _Missing:
    """A field or key present on one side only."""

    def __repr__(self) -> str:
        return "(none)"


MISSING: Final = _Missing()


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


# --------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------


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


_NUMBER = re.compile(r"(\d+)")


def _natural(path: str) -> list[Any]:
    """Sort key that puts ``steps[2]`` before ``steps[10]``."""
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(path)]


def _field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    a, b = _flatten(dict(before)), _flatten(dict(after))
    paths = sorted(a.keys() | b.keys(), key=_natural)
    return [
        (p, a.get(p, MISSING), b.get(p, MISSING))
        for p in paths
        if a.get(p, MISSING) != b.get(p, MISSING)
    ]


def resource_diff(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> ResourceDiff:
    """Compare two ``resources.json`` lists."""
    before = {(str(r["type"]), str(r["name"])): r for r in old}
    after = {(str(r["type"]), str(r["name"])): r for r in new}
    changed: list[Change] = []
    for key in after.keys() & before.keys():
        fields = _field_changes(
            {"inputs": before[key]["inputs"], "options": before[key]["options"]},
            {"inputs": after[key]["inputs"], "options": after[key]["options"]},
        )
        if fields:
            changed.append(Change(key[0], key[1], fields))
    return ResourceDiff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(changed, key=lambda c: (c.type, c.name)),
    )


def _mask_secure(value: Any) -> Any:
    """``{secure: ciphertext}`` → a marker that shows whether the ciphertext changed, not it."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            digest = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:8]
            return f"[secret {digest}]"
        return {k: _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value


def stack_config(stack: str, project_dir: Path) -> dict[str, Any]:
    """Effective config of a stack (Pulumi.yaml defaults + stack file), secrets masked.

    A missing stack file counts as no config, so that a pull request adding a stack reads as
    everything added.
    """
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        return {}
    masked = _mask_secure(config_mapping(stack_file))
    return dict(read_stack_files(stack, project_dir, stack_config=masked).config)


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Config keys (flattened, ``cicd:app.replicas``) whose value differs, sorted.

    An empty section (``cicd:canary: {}``, a default in Pulumi.yaml) says nothing its keys do not
    say, so it is left out rather than listed next to them.
    """
    return [
        (path, was, now)
        for path, was, now in _field_changes(old, new)
        if not (_empty_section(was) and _empty_section(now))
    ]


def _empty_section(value: Any) -> bool:
    return value is MISSING or value == {}


def file_diff(old: Mapping[str, str], new: Mapping[str, str], left: str, right: str) -> str:
    """Unified diff of two file trees (resources.json left out: the summary covers it)."""
    chunks: list[str] = []
    for path in sorted(old.keys() | new.keys()):
        if path == "resources.json":
            continue
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        lines = list(
            difflib.unified_diff(
                (a or "").splitlines(keepends=True),
                (b or "").splitlines(keepends=True),
                fromfile=f"{left}/{path}" if a is not None else "/dev/null",
                tofile=f"{right}/{path}" if b is not None else "/dev/null",
            )
        )
        chunks.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(chunks)


def changed_files(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    return sorted(
        p for p in old.keys() | new.keys() if p != "resources.json" and old.get(p) != new.get(p)
    )


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    text = value if isinstance(value, str) and value else json.dumps(value, sort_keys=True)
    text = escape(text)  # one line, nothing a CI log reads as a command
    return text if len(text) <= 80 else text[:77] + "..."


def format_config_diff(changes: list[tuple[str, Any, Any]]) -> str:
    """One line per key: ``+`` added, ``-`` removed, ``~`` changed (``old → new``)."""
    lines = []
    for path, was, now in changes:
        if was is MISSING:
            lines.append(f"+ {path}: {_short(now)}")
        elif now is MISSING:
            lines.append(f"- {path}: {_short(was)}")
        else:
            lines.append(f"~ {path}: {_short(was)} → {_short(now)}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_resource_diff(diff: ResourceDiff) -> str:
    """``+``/``-`` per added/removed resource, ``~`` per changed one with its fields below."""
    lines = [f"+ {type_} {name}" for type_, name in diff.added]
    lines += [f"- {type_} {name}" for type_, name in diff.removed]
    for change in diff.changed:
        lines.append(f"~ {change.type} {change.name}")
        lines += [f"    {path}: {_short(was)} → {_short(now)}" for path, was, now in change.fields]
    return "\n".join(lines) + ("\n" if lines else "")


def resource_counts(diff: ResourceDiff) -> str:
    return f"{len(diff.added)} to add, {len(diff.changed)} to change, {len(diff.removed)} to remove"


def _fence(body: str) -> str:
    """A code fence longer than any backtick run in ``body``, so the body cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _block(body: str, budget: int, more: str) -> str:
    """``body`` in a ```diff fence, cut at a line boundary to fit ``budget`` characters."""
    fence = _fence(body)
    wrap = 2 * len(fence) + len("diff\n\n")
    if len(body) + wrap <= budget:
        return f"{fence}diff\n{body}{fence}\n"
    total = body.count("\n")
    keep = budget - wrap - len(f"... {total} more lines: {more}\n")
    if keep <= 0:
        return f"_{total} lines left out: {more}._\n"
    cut = body[:keep]
    cut = cut[: cut.rfind("\n") + 1]
    dropped = total - cut.count("\n")
    return f"{fence}diff\n{cut}... {dropped} more lines: {more}\n{fence}\n"


@dataclass(frozen=True)
class Report:
    """What differs between a left and a right render of one stack (or two stacks)."""

    title: str
    left: str
    right: str
    config: list[tuple[str, Any, Any]]
    resources: ResourceDiff
    files: list[str]
    file_diff: str

    @property
    def empty(self) -> bool:
        return not (self.config or self.files) and self.resources.empty

    def markdown(self, limit: int | None = None, more: str = "see the full render diff") -> str:
        """The report; with ``limit``, at most that many characters (file diff cut first)."""
        head = f"## {self.title}\n\n"
        if self.empty:
            return head + f"No difference between {self.left} and {self.right}.\n"
        sections = [
            (
                f"**Config**: {len(self.config)} key(s) differ ({self.left} → {self.right})\n\n",
                format_config_diff(self.config),
                "",
            ),
            (
                f"**Resources**: {resource_counts(self.resources)}\n\n",
                format_resource_diff(self.resources),
                "",
            ),
            (
                f"<details><summary>Rendered files: {len(self.files)} changed</summary>\n\n",
                self.file_diff,
                "\n</details>\n",
            ),
        ]
        budget = (limit if limit is not None else 10**12) - len(head)
        # Headings first, so that every section is at least named; bodies in order of importance.
        # (plus room for the one-line note that replaces a body left out entirely).
        budget -= sum(len(h) + len(t) + len(more) + 40 for h, _, t in sections)
        out = [head]
        for heading, body, tail in sections:
            if not body:
                continue
            block = _block(body, max(0, budget), more)
            budget -= len(block)
            out.append(heading + block + tail + "\n")
        return "".join(out)


def build_report(
    title: str,
    left: str,
    right: str,
    old_config: Mapping[str, Any],
    new_config: Mapping[str, Any],
    old_files: Mapping[str, str],
    new_files: Mapping[str, str],
) -> Report:
    """Compare two renders (their file trees, as ``render.tree.tree`` returns) and their config."""
    return Report(
        title=title,
        left=left,
        right=right,
        config=config_diff(old_config, new_config),
        resources=resource_diff(
            json.loads(old_files.get("resources.json", "[]")),
            json.loads(new_files.get("resources.json", "[]")),
        ),
        files=changed_files(old_files, new_files),
        file_diff=file_diff(old_files, new_files, left, right),
    )
