"""Offline ``StackReference``: a platform stack's outputs, taken from that stack's own render.

An environment stack reads what its cluster provides (``cicd:cluster.platformStack``, such as
``acme/cicd-platform/nonprod``) through a StackReference. Offline there is no backend to ask, so
the render renders the referenced stack of the project folder whose ``Pulumi.yaml`` has that
project name (``platform/``), in a child process (the Pulumi runtime is global state, and the
environment program is mid-run), and hands the program that render's ``outputs.json``.

That child render costs about as much CPU as the environment render itself, and every
environment render of a cluster asks for the same platform stack. So its outputs are cached in
``build/render-cache/PROJECT.STACK.json`` (``RENDER_CACHE_DIR`` moves the folder), keyed by a
hash of everything the child render could read (:func:`inputs_key`): every file of the project
folder outside build output, caches and the virtualenv (so the platform's stack files,
``Pulumi.yaml``, the program, ``components/``, ``render/`` and the data files the program reads,
such as the workflow scripts), the Python version and the installed distributions. Any change to
one of them is a miss and a fresh child render, so the cache is never stale; hashing the
project costs a few milliseconds. Only successful renders are cached, one entry per referenced
stack (a new key replaces the old entry), written atomically so that parallel renders never
read half a file; a cache folder that cannot be written only costs the saving. A platform
render run directly (``python -m render --project platform STACK``, which ``make render`` does
first) fills the cache too (:func:`remember`), so the environment renders after it reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import yaml

STACK_REFERENCE: Final = "pulumi:pulumi:StackReference"
CACHE_ENV: Final = "RENDER_CACHE_DIR"
"""Environment variable naming the cache folder (default ``<project>/build/render-cache``)."""

_NOT_INPUTS: Final = frozenset(
    {".git", ".venv", "node_modules", "build", "__pycache__"}
    | {".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
"""Folders a render never reads: version control, the virtualenv, build output, caches."""


class StackReferenceError(Exception):
    """The referenced stack cannot be found or does not render."""


def project_folder(project_dir: Path, project: str) -> Path:
    """The folder under ``project_dir`` (or itself) whose Pulumi.yaml names ``project``."""
    for candidate in (project_dir, *sorted(p for p in project_dir.iterdir() if p.is_dir())):
        pulumi_yaml = candidate / "Pulumi.yaml"
        if pulumi_yaml.is_file() and yaml.safe_load(pulumi_yaml.read_text()).get("name") == project:
            return candidate
    raise StackReferenceError(f"no folder of {project_dir} holds the Pulumi project '{project}'")


def _input_files(project_dir: Path) -> list[Path]:
    """Every file under ``project_dir`` a render could read, in a fixed order."""
    files: list[Path] = []
    for folder, subfolders, names in os.walk(project_dir):
        subfolders[:] = sorted(d for d in subfolders if d not in _NOT_INPUTS)
        files += (Path(folder) / name for name in sorted(names) if not name.endswith(".pyc"))
    return files


def _installed() -> list[str]:
    """The installed distributions (``name-version.dist-info``) on the import path."""
    found: set[str] = set()
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            found.update(n for n in os.listdir(entry) if n.endswith((".dist-info", ".egg-info")))
    return sorted(found)


def inputs_key(project_dir: Path, folder: Path, stack: str, stacks_dir: Path | None = None) -> str:
    """A hash of everything the render of ``stack`` in ``folder`` can depend on (its stack files
    read from ``stacks_dir`` when given)."""
    digest = hashlib.sha256()
    header = [sys.version, sys.executable, str(folder.relative_to(project_dir)), stack]
    if stacks_dir is not None:
        header.append(str(stacks_dir.resolve()))
        header += (path.read_text() for path in sorted(stacks_dir.glob("Pulumi.*.yaml")))
    for line in header + _installed():
        digest.update(line.encode() + b"\0")
    for path in _input_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_dir(project_dir: Path) -> Path:
    return Path(os.environ.get(CACHE_ENV) or project_dir / "build" / "render-cache")


def _cached(entry: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    outputs = data.get("outputs")
    return outputs if isinstance(outputs, dict) else None


def _store(entry: Path, key: str, outputs: dict[str, Any]) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=entry.parent, prefix=f".{entry.name}.", delete=False
        ) as tmp:
            json.dump({"key": key, "outputs": outputs}, tmp, sort_keys=True)
        os.replace(tmp.name, entry)
    except OSError:
        return  # a read-only checkout renders all the same, only without the saving


def _render_outputs(
    project_dir: Path, folder: Path, name: str, stack: str, stacks_dir: Path | None
) -> dict[str, Any]:
    stacks = [] if stacks_dir is None else ["--stacks", str(stacks_dir)]
    with tempfile.TemporaryDirectory(prefix="render-stackref-") as tmp:
        command = [sys.executable, "-m", "render", "--project", str(folder), *stacks, stack]
        done = subprocess.run(
            [*command, "--out", tmp],
            cwd=project_dir,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackReferenceError(
                f"stack reference '{name}': "
                f"{(stacks_dir or folder).name}/Pulumi.{stack}.yaml does not "
                f"render:\n{done.stderr.strip()}"
            )
        outputs: dict[str, Any] = json.loads((Path(tmp) / "outputs.json").read_text())
    return outputs


def _entry_name(project: str, stack: str, stacks_dir: Path | None) -> str:
    """One cache entry per referenced stack file: an example's platform stack has its own."""
    if stacks_dir is None:
        return f"{project}.{stack}.json"
    where = hashlib.sha256(str(stacks_dir.resolve()).encode()).hexdigest()[:12]
    return f"{project}.{stack}.{where}.json"


def referenced_outputs(
    project_dir: Path, name: str, stacks_dir: Path | None = None
) -> dict[str, Any]:
    """Outputs of the stack ``ORG/PROJECT/STACK`` as its own offline render exports them.

    With ``stacks_dir`` (the environment stack files' folder, when it is not the project's),
    the referenced project's stack files are read from the folder of the same name under it
    (``examples/webshop/platform`` for the project folder ``platform``)."""
    parts = name.split("/")
    if len(parts) != 3:
        raise StackReferenceError(f"stack reference '{name}' is not ORG/PROJECT/STACK")
    _, project, stack = parts
    folder = project_folder(project_dir, project)
    platform_stacks = None
    if stacks_dir is not None and folder != project_dir:
        platform_stacks = stacks_dir / folder.relative_to(project_dir)
    key = inputs_key(project_dir, folder, stack, platform_stacks)
    entry = cache_dir(project_dir) / _entry_name(project, stack, platform_stacks)
    outputs = _cached(entry, key)
    if outputs is None:
        outputs = _render_outputs(project_dir, folder, name, stack, platform_stacks)
        _store(entry, key, outputs)
    return outputs


def remember(
    project_dir: Path,
    folder: Path,
    stack: str,
    outputs: dict[str, Any],
    stacks_dir: Path | None = None,
) -> None:
    """Cache the outputs of a render of ``stack`` in ``folder`` made by ``python -m render
    --project folder``: it is the render a StackReference would run, so ``make render``, which
    renders the platform stacks first, leaves the environment stacks nothing to re-render.
    Nothing is cached for a folder outside ``project_dir`` or the project itself."""
    if folder == project_dir or not folder.is_relative_to(project_dir):
        return
    project = read_project_name(folder)
    if project:
        entry = cache_dir(project_dir) / _entry_name(project, stack, stacks_dir)
        _store(entry, inputs_key(project_dir, folder, stack, stacks_dir), outputs)


def read_project_name(folder: Path) -> str | None:
    try:
        name = yaml.safe_load((folder / "Pulumi.yaml").read_text()).get("name")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return name if isinstance(name, str) and name else None


def stack_reference_state(
    project_dir: Path, inputs: dict[str, Any], stacks_dir: Path | None = None
) -> dict[str, Any]:
    """What the engine would return for a StackReference: its name and the stack's outputs."""
    name = str(inputs["name"])
    outputs = referenced_outputs(project_dir, name, stacks_dir)
    return {"name": name, "outputs": outputs, "secretOutputNames": []}
