"""``python -m render doctor APP [STACK_FILE ...]``: an application checkout against the app contract.

What the generated workflows and the stack take for granted about the application repository
(docs/app-contract.md), checked on a checkout before the first pipeline run fails on it:

- the root ``package.json`` has a ``version`` (CI tags the image with it; a ``v*`` tag must equal
  it, components/workflows/scripts/read_version.sh) and ``workspaces``;
- every name in ``cicd:pipeline.packages`` is the ``name`` of a workspace package;
- every npm script a configured command runs exists: ``npm run X`` / ``npm test`` at the root,
  ``--workspace "$PACKAGE"`` in each listed package; ``npm ci`` needs ``package-lock.json``;
- each listed package's tests write a coverage report the delivery metrics read
  (delivery_metrics/coverage.py: Istanbul ``coverage-summary.json`` from the ``json-summary``
  reporter, else ``lcov.info``). Jest writes ``lcov`` by default (``coverageReporters`` default
  ``["clover", "json", "lcov", "text"]``, jestjs.io configuration docs, Jest 29/30); Vitest
  does not (``coverage.reporter`` default ``['text', 'html', 'clover', 'json']``, vitest.dev
  config docs, Vitest 3/4), so a Vitest package must name one in its config;
- the Dockerfile ``cicd:pipeline.dockerfile`` exists, is multi-stage (a build stage, then the
  runtime stage CI builds: the last one, no ``target``) and its runtime stage exposes
  ``cicd:app.port`` if it exposes anything;
- the health path (``cicd:app.healthPath``) appears in the application's source, and the k6
  script ``cicd:deploy.tests.performanceScript`` exists.

The stack files are the project's environment stacks unless given; they are validated as the
render validates them (a broken one is its problem lines and exit 1). Nothing is installed or
run: the checks read files only, so they suit the fast test tier. Each gap is one line,
``<file>: <what is missing> (fix: <what to do>)``; exit 1 when there are gaps, 0 when clean,
2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from components.config.keys import closest
from components.messages import escape
from render.engine import PROJECT_DIR
from render.stackfile import StackFileError, config_mapping

ENVIRONMENT_STACKS: Final = ("dev", "staging", "prod")
_CONFIG_FILES: Final = ("vitest.config", "vite.config", "vitest.workspace", "jest.config")
_CONFIG_EXTENSIONS: Final = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json")
_COVERAGE_OUTPUTS: Final = ("json-summary", "lcov")
_SOURCE_EXTENSIONS: Final = frozenset({".ts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"})
_SKIPPED_FOLDERS: Final = frozenset({"node_modules", ".git", "dist", "build", "coverage"})
_NPM_WORKSPACE_FLAGS: Final = frozenset({"--workspace", "-w"})


@dataclass(frozen=True)
class Gap:
    """One thing the application lacks: where, what, and the fix."""

    file: str
    problem: str
    fix: str

    def line(self) -> str:
        return escape(f"{self.file}: {self.problem} (fix: {self.fix})")


@dataclass(frozen=True)
class Contract:
    """What the stack files expect of the application, gathered over every stack."""

    packages: tuple[str, ...]
    commands: tuple[tuple[str, str], ...]
    """(config key, command) of every command a workflow runs in the application."""
    dockerfile: str | None
    ports: tuple[int, ...]
    health_paths: tuple[str, ...]
    performance_scripts: tuple[str, ...]


def read_contract(stack_files: Iterable[Path]) -> Contract:
    """The contract the stack files set; raises ConfigError/StackFileError on a broken one."""
    from components.config import ConfigError, Problem, parse_sections

    packages: list[str] = []
    commands: list[tuple[str, str]] = []
    dockerfile: str | None = None
    ports: list[int] = []
    health: list[str] = []
    perf: list[str] = []
    for path in stack_files:
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        config = config_mapping(path)
        raw = {
            key.partition(":")[2]: value
            for key, value in config.items()
            if key.startswith("cicd:") and not (isinstance(value, dict) and "secure" in value)
        }
        settings, problems = parse_sections(raw, stack)
        if settings is None or problems:
            raise ConfigError(path.name, problems or [Problem("", "is not valid")])
        if settings.pipeline is not None:
            pipeline = settings.pipeline
            packages += pipeline.packages
            dockerfile = pipeline.dockerfile
            c = pipeline.commands
            commands += [
                ("pipeline.commands.install", c.install),
                ("pipeline.commands.lint", c.lint),
                ("pipeline.commands.formatCheck", c.format_check),
                ("pipeline.commands.typecheck", c.typecheck),
                ("pipeline.commands.unitTest", c.unit_test),
                ("pipeline.commands.integrationTest", c.integration_test),
            ]
        tests = settings.deploy.tests
        for key, command in (("integration", tests.integration), ("e2e", tests.e2e)):
            if command is not None:
                commands.append((f"deploy.tests.{key} in {path.name}", command))
        if tests.performance_script is not None:
            perf.append(tests.performance_script)
        ports.append(settings.app.port)
        if settings.app.health_path is not None:
            health.append(settings.app.health_path)
    return Contract(
        tuple(dict.fromkeys(packages)),
        tuple(dict.fromkeys(commands)),
        dockerfile,
        tuple(dict.fromkeys(ports)),
        tuple(dict.fromkeys(health)),
        tuple(dict.fromkeys(perf)),
    )


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def workspace_packages(app: Path, root: dict[str, Any]) -> dict[str, Path]:
    """npm name -> folder of each workspace package (``workspaces`` globs, as npm expands them)."""
    patterns = root.get("workspaces")
    if isinstance(patterns, dict):  # the {"packages": [...]} form
        patterns = patterns.get("packages")
    found: dict[str, Path] = {}
    for pattern in patterns if isinstance(patterns, list) else []:
        if not isinstance(pattern, str):
            continue
        for folder in sorted(app.glob(pattern.rstrip("/"))):
            manifest = _json(folder / "package.json")
            if manifest is not None and isinstance(manifest.get("name"), str):
                found[manifest["name"]] = folder
    return found


def npm_scripts(command: str) -> Iterator[tuple[str, bool]]:
    """(script, per workspace) for each ``npm run X`` / ``npm test`` in a shell command;
    ``npm ci`` yields ``("ci", False)``. Scripts run with ``--if-present`` are skipped."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return
    for start, word in enumerate(words):
        if word != "npm" or start + 1 >= len(words):
            continue
        rest = words[start + 1 :]
        end = next((i for i, w in enumerate(rest) if w in {"&&", "||", ";", "|", "--"}), len(rest))
        args = rest[:end]
        if "--if-present" in args:
            continue
        per_workspace = any(a in _NPM_WORKSPACE_FLAGS or a.startswith("--workspace=") for a in args)
        verb = args[0]
        if verb in {"run", "run-script"} and len(args) > 1:
            script = next((a for a in args[1:] if not a.startswith("-")), None)
            if script is not None and script not in {"$PACKAGE", '"$PACKAGE"'}:
                yield script, per_workspace
        elif verb in {"test", "t", "tst"}:
            yield "test", per_workspace
        elif verb == "ci":
            yield "ci", False


def _stages(dockerfile: str) -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage of a Dockerfile."""
    stages: list[tuple[str, list[str]]] = []
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"(?i)^FROM\s", line):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def _mentions(app: Path, text: str) -> bool:
    """Whether a source file of the application (dependencies and build output not walked)
    contains ``text``."""
    for folder, subfolders, files in os.walk(app):
        subfolders[:] = [d for d in subfolders if d not in _SKIPPED_FOLDERS]
        for name in files:
            path = Path(folder, name)
            if path.suffix in _SOURCE_EXTENSIONS and text in path.read_text(errors="replace"):
                return True
    return False


def _coverage_config(app: Path, folder: Path, manifest: dict[str, Any]) -> str | None:
    """The text of the first test-runner config of a package (its folder, then the root)."""
    for where in (folder, app):
        for stem in _CONFIG_FILES:
            for extension in _CONFIG_EXTENSIONS:
                candidate = where / f"{stem}{extension}"
                if candidate.is_file():
                    return candidate.read_text(errors="replace")
    jest = manifest.get("jest")
    return json.dumps(jest) if jest is not None else None


def check(app: Path, contract: Contract) -> list[Gap]:
    """Every gap between the application checkout ``app`` and the contract."""
    gaps: list[Gap] = []
    root = _json(app / "package.json")
    if root is None:
        return [
            Gap(
                "package.json",
                "is missing or not a JSON object; the pipeline is for an npm workspaces repository",
                "run npm init at the repository root",
            )
        ]
    if not isinstance(root.get("version"), str) or not root["version"]:
        gaps.append(
            Gap(
                "package.json",
                'has no "version"; CI tags the image <version>-<run> and a v* tag must equal it',
                "set one: npm version 1.0.0 --no-git-tag-version",
            )
        )
    workspaces = workspace_packages(app, root)
    if "workspaces" not in root:
        gaps.append(
            Gap(
                "package.json",
                'has no "workspaces"; cicd:pipeline.packages are unit-tested as workspaces',
                'list the package folders, e.g. "workspaces": ["apps/*", "libs/*"]',
            )
        )
    for name in contract.packages:
        if name not in workspaces:
            unlisted = [w for w in workspaces if w not in contract.packages]
            unscoped = [w for w in unlisted if w.rpartition("/")[2] == name]
            near = unscoped[0] if unscoped else closest(name, unlisted)
            gaps.append(
                Gap(
                    "package.json",
                    f"no workspace package is named {name}, which cicd:pipeline.packages lists "
                    f"(workspace packages: {', '.join(sorted(workspaces)) or 'none'})",
                    f"write {near} in cicd:pipeline.packages"
                    if near
                    else f"set the name of its package.json to {name}, or correct the list",
                )
            )
    gaps += _script_gaps(app, root, workspaces, contract)
    gaps += _coverage_gaps(app, workspaces, contract)
    gaps += _dockerfile_gaps(app, contract)
    for health in contract.health_paths:
        if not _mentions(app, health):
            gaps.append(
                Gap(
                    health,
                    "no source file mentions the health path; probes and the canary analysis "
                    'GET it and expect 200 with JSON {"status": "ok"}',
                    f"serve {health}, or set cicd:app.healthPath to the path the app serves",
                )
            )
    for script in contract.performance_scripts:
        if not (app / script).is_file():
            gaps.append(
                Gap(
                    script,
                    "is missing; stage-deploy runs it with k6 (cicd:deploy.tests.performanceScript)",
                    "add the k6 script, or unset performanceScript",
                )
            )
    return gaps


def _script_gaps(
    app: Path, root: dict[str, Any], workspaces: dict[str, Path], contract: Contract
) -> Iterator[Gap]:
    root_scripts = root.get("scripts") if isinstance(root.get("scripts"), dict) else {}
    assert isinstance(root_scripts, dict)
    for key, command in contract.commands:
        for script, per_workspace in npm_scripts(command):
            if script == "ci":
                if not (app / "package-lock.json").is_file():
                    yield Gap(
                        "package-lock.json",
                        f"is missing; cicd:{key} runs npm ci, which needs it",
                        "run npm install and commit package-lock.json",
                    )
                continue
            if not per_workspace:
                if script not in root_scripts:
                    yield Gap(
                        "package.json",
                        f'has no "{script}" script; cicd:{key} runs: {command}',
                        f'add "scripts": {{"{script}": ...}} to package.json, or change cicd:{key}',
                    )
                continue
            for name in contract.packages:
                folder = workspaces.get(name)
                manifest = _json(folder / "package.json") if folder else None
                scripts = (manifest or {}).get("scripts") or {}
                if folder is not None and script not in scripts:
                    where = str((folder / "package.json").relative_to(app))
                    yield Gap(
                        where,
                        f'has no "{script}" script; cicd:{key} runs it in each of '
                        f"cicd:pipeline.packages ({name})",
                        f'add "scripts": {{"{script}": ...}} to {where}',
                    )


def _coverage_gaps(app: Path, workspaces: dict[str, Path], contract: Contract) -> Iterator[Gap]:
    for name in contract.packages:
        folder = workspaces.get(name)
        manifest = _json(folder / "package.json") if folder else None
        if folder is None or manifest is None:
            continue
        test = str((manifest.get("scripts") or {}).get("test", ""))
        config = _coverage_config(app, folder, manifest)
        where = str(folder.relative_to(app))
        if "jest" in test and (config is None or "coverageReporters" not in config):
            continue  # Jest's default reporters include lcov
        if config is not None and any(output in config for output in _COVERAGE_OUTPUTS):
            continue
        yield Gap(
            where,
            f"the tests of {name} write no coverage report the delivery metrics read "
            "(coverage-summary.json or lcov.info)",
            'add the json-summary reporter: coverage: { reporter: ["text", "json-summary"] } '
            "in vitest.config.ts (Jest: coverageReporters)",
        )


def _dockerfile_gaps(app: Path, contract: Contract) -> Iterator[Gap]:
    if contract.dockerfile is None:
        return
    path = app / contract.dockerfile
    if not path.is_file():
        yield Gap(
            contract.dockerfile,
            "is missing; CI builds the image from it (cicd:pipeline.dockerfile)",
            "add a multi-stage Dockerfile, or point cicd:pipeline.dockerfile at yours",
        )
        return
    stages = _stages(path.read_text(errors="replace"))
    if len(stages) < 2:
        yield Gap(
            contract.dockerfile,
            f"has {len(stages)} stage(s); CI builds the last stage and expects a build stage "
            "before it, so the image carries no compiler or dev dependencies",
            "split it: FROM node AS build (npm ci, compile), then a runtime FROM that copies "
            "the output",
        )
    if not stages:
        return
    exposed = {
        int(port.split("/")[0])
        for line in stages[-1][1]
        if re.match(r"(?i)^EXPOSE\s", line)
        for port in line.split()[1:]
        if port.split("/")[0].isdigit()
    }
    for port in contract.ports:
        if exposed and port not in exposed:
            yield Gap(
                contract.dockerfile,
                f"the runtime stage exposes {', '.join(map(str, sorted(exposed)))}, but "
                f"cicd:app.port is {port} (the probes and Services use it)",
                f"EXPOSE {port} and listen on it, or set cicd:app.port",
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m render doctor",
        description="Check an application checkout against the app contract "
        "(docs/app-contract.md).",
    )
    parser.add_argument("app", type=Path, help="the application repository's checkout")
    parser.add_argument(
        "stack_files",
        type=Path,
        nargs="*",
        help="environment stack files to read the contract from (default: the project's "
        "Pulumi.dev.yaml, Pulumi.staging.yaml, Pulumi.prod.yaml)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    app: Path = args.app
    if not app.is_dir():
        print(escape(f"doctor: {app} is not a folder"), file=sys.stderr)
        return 2
    files = args.stack_files or [PROJECT_DIR / f"Pulumi.{s}.yaml" for s in ENVIRONMENT_STACKS]
    from components.config import ConfigError

    try:
        contract = read_contract(files)
    except (ConfigError, StackFileError) as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
    except OSError as err:
        print(escape(f"doctor: {err}"), file=sys.stderr)
        return 2
    gaps = check(app.resolve(), contract)
    for gap in gaps:
        print(gap.line())
    if not gaps:
        print(escape(f"{app}: meets the app contract"))
    return 1 if gaps else 0
