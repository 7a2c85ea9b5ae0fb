"""Offline ``StackReference``: a platform stack's outputs, taken from that stack's own render.

An environment stack reads what its cluster provides (``cicd:cluster.platformStack``, such as
``acme/cicd-platform/nonprod``) through a StackReference. Offline there is no backend to ask, so
the render renders the referenced stack of the project folder whose ``Pulumi.yaml`` has that
project name (``platform/``), in a child process (the Pulumi runtime is global state, and the
environment program is mid-run), and hands the program that render's ``outputs.json``. Each
referenced stack renders once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

STACK_REFERENCE: Final = "pulumi:pulumi:StackReference"


class StackReferenceError(Exception):
    """The referenced stack cannot be found or does not render."""


def project_folder(project_dir: Path, project: str) -> Path:
    """The folder under ``project_dir`` (or itself) whose Pulumi.yaml names ``project``."""
    for candidate in (project_dir, *sorted(p for p in project_dir.iterdir() if p.is_dir())):
        pulumi_yaml = candidate / "Pulumi.yaml"
        if pulumi_yaml.is_file() and yaml.safe_load(pulumi_yaml.read_text()).get("name") == project:
            return candidate
    raise StackReferenceError(f"no folder of {project_dir} holds the Pulumi project '{project}'")


@cache
def referenced_outputs(project_dir: Path, name: str) -> dict[str, Any]:
    """Outputs of the stack ``ORG/PROJECT/STACK`` as its own offline render exports them."""
    parts = name.split("/")
    if len(parts) != 3:
        raise StackReferenceError(f"stack reference '{name}' is not ORG/PROJECT/STACK")
    folder = project_folder(project_dir, parts[1])
    with tempfile.TemporaryDirectory(prefix="render-stackref-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "render", "--project", str(folder), parts[2], "--out", tmp],
            cwd=project_dir,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackReferenceError(
                f"stack reference '{name}': {folder.name}/Pulumi.{parts[2]}.yaml does not "
                f"render:\n{done.stderr.strip()}"
            )
        outputs: dict[str, Any] = json.loads((Path(tmp) / "outputs.json").read_text())
    return outputs


def stack_reference_state(project_dir: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the engine would return for a StackReference: its name and the stack's outputs."""
    name = str(inputs["name"])
    return {"name": name, "outputs": referenced_outputs(project_dir, name), "secretOutputNames": []}
