"""docs/configuration.md is generated from the config models and must stay in step with them.

Fast: no render, no subprocess. The reference is regenerated in memory and compared with the
file; the project files' key declarations (Pulumi.yaml, platform/Pulumi.yaml) are compared with
the models; every key the real stack files set must be in the reference.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import PLATFORM_NAMESPACE, PLATFORM_SECTIONS, SECTIONS
from components.config.keys import keys_of, models_of
from components.config.platform import PlatformSettings
from components.config.reference import (
    COMMAND,
    SECRET_KEYS,
    environment_rows,
    platform_rows,
    reference_markdown,
)
from components.config.settings import PIPELINE_SECRET_KEYS, StackSettings
from render.__main__ import REFERENCE_FILE
from render.__main__ import main as render_main
from tests.conftest import project_path


def test_the_reference_file_is_what_the_models_generate() -> None:
    assert REFERENCE_FILE.read_text() == reference_markdown(), (
        f"docs/configuration.md is stale: run {COMMAND}"
    )


def test_every_row_says_what_the_key_does() -> None:
    rows = environment_rows() + platform_rows()
    assert [r.key for r in rows if not r.description.strip()] == []
    assert len({r.key for r in rows}) == len(rows), "a key is listed twice"


def _paths(prefix: str, value: Any, maps: frozenset[str] = frozenset()) -> Iterator[str]:
    """Key paths of a stack file's value, lists as ``[]`` (as the reference writes them); the
    entries of a free mapping (``maps``: names to values, such as labels) are not keys."""
    yield prefix
    if prefix in maps:
        return
    if isinstance(value, dict) and "secure" not in value:
        for key, child in value.items():
            yield from _paths(f"{prefix}.{key}", child, maps)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                for key, child in item.items():
                    yield from _paths(f"{prefix}[].{key}", child, maps)


@pytest.mark.parametrize(
    ("folder", "rows"),
    [
        *((f, environment_rows) for f in (".", "examples/webshop", "examples/payments")),
        *((f, platform_rows) for f in ("platform", "examples/webshop/platform")),
        ("examples/payments/platform", platform_rows),
    ],
)
def test_every_key_the_stack_files_set_is_in_the_reference(folder: str, rows: Any) -> None:
    """The root stack files and every example's."""
    documented = {r.key for r in rows()}
    maps = frozenset(r.key for r in rows() if r.type.startswith("mapping of"))
    stack_files = sorted(project_path(folder).glob("Pulumi.*.yaml"))
    assert stack_files, folder
    for path in stack_files:
        stack = path.name
        config = yaml.safe_load(path.read_text())["config"]
        for key, value in config.items():
            if key.startswith("pulumi:") or key.endswith("environment.variables"):
                continue
            prefix = key
            paths = set(_paths(prefix, value, maps))
            if key == "cicd:environment":  # variables is a mapping of names, not keys
                paths = {p for p in paths if ".variables." not in p}
            assert paths <= documented, (stack, sorted(paths - documented))


def _declared(project_file: Path) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = yaml.safe_load(project_file.read_text())["config"]
    return {k: v for k, v in config.items() if not k.startswith("pulumi:")}


def _section_models(root: Any, section: str) -> list[Any]:
    for name, info in root.model_fields.items():
        if section in (name, info.alias):
            return models_of(info.annotation)
    raise AssertionError(f"{section} is not a section of {root.__name__}")


@pytest.mark.parametrize(
    ("project_file", "namespace", "root", "sections", "secrets"),
    [
        ("Pulumi.yaml", "cicd", StackSettings, SECTIONS, tuple(SECRET_KEYS)),
        ("platform/Pulumi.yaml", PLATFORM_NAMESPACE, PlatformSettings, PLATFORM_SECTIONS, ()),
    ],
)
def test_project_file_declares_every_key_as_the_models_do(
    project_file: str,
    namespace: str,
    root: Any,
    sections: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Pulumi.yaml declares each section (an object) and each secret key (a secret string), and
    a section's description names every key the section's model has, so `pulumi config` users
    see the same keys as the reference."""
    declared = _declared(project_path(project_file))
    assert set(declared) == {f"{namespace}:{k}" for k in (*sections, *secrets)}
    for section in sections:
        entry = declared[f"{namespace}:{section}"]
        assert entry["type"] == "object", section
        words = set(re.findall(r"[A-Za-z][A-Za-z0-9]*", entry["description"]))
        missing = [k for k in keys_of(_section_models(root, section)) if k not in words]
        assert missing == [], f"{project_file}: {namespace}:{section} does not mention {missing}"
    for key in secrets:
        entry = declared[f"{namespace}:{key}"]
        assert entry["type"] == "string" and entry.get("description"), key
        assert entry.get("secret") is True or entry.get("default") == "", key


def test_the_reference_describes_every_pipeline_secret() -> None:
    assert set(PIPELINE_SECRET_KEYS) <= set(SECRET_KEYS)


def test_check_fails_on_a_stale_file_and_names_the_command(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(reference_markdown().replace("| `cicd:app.port` |", "| `cicd:app.prot` |"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = render_main(["config-reference", "--check", "--out", str(stale)])
    assert (code, err.getvalue()) == (1, f"render: {stale} is stale; run {COMMAND}\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert render_main(["config-reference", "--out", str(stale)]) == 0
        assert render_main(["config-reference", "--check", "--out", str(stale)]) == 0
    assert stale.read_text() == reference_markdown()
