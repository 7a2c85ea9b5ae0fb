"""``python -m render doctor``: the app preflight finds each gap planted in the sample app.

Fast tier: the sample app (tests/pipeline/sample-app, the one the executed CI scenarios run) is
copied without node_modules and changed in one way per case; nothing is installed or run. The
stack file is the dev stack with the sample's package names, as the pipeline scenarios set it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from render.__main__ import main as render_main
from tests.conftest import STACKS_DIR, project_path, variant

SAMPLE_APP = project_path("tests", "pipeline", "sample-app")
PACKAGES = ["@acme/api", "@acme/shared"]


def _doctor(*argv: str) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = render_main(["doctor", *argv])
    return code, out.getvalue().splitlines(), err.getvalue().splitlines()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, copy, ignore=shutil.ignore_patterns("node_modules", "dist"))
    return copy


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "stacks" / "Pulumi.dev.yaml"
    path.parent.mkdir()
    config = variant("dev", {"cicd:pipeline.packages": PACKAGES})
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def test_the_sample_app_meets_the_contract(app: Path, stack_file: Path) -> None:
    assert _doctor(str(app), str(stack_file)) == (
        0,
        [f"{app}: meets the app contract"],
        [],
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def _no_version(app: Path) -> None:
    _edit(app / "package.json", '"version": "1.4.2",\n', "")


def _renamed_package(app: Path) -> None:
    _edit(app / "apps/api/package.json", '"name": "@acme/api"', '"name": "@acme/backend"')


def _no_root_script(app: Path) -> None:
    _edit(app / "package.json", '"lint": "eslint .",\n', "")


def _no_package_test_script(app: Path) -> None:
    _edit(app / "libs/shared/package.json", '"test": "vitest run"', '"check": "vitest run"')


def _no_coverage_summary(app: Path) -> None:
    _edit(app / "libs/shared/vitest.config.ts", '"lcov", "json-summary"', '"html"')


def _single_stage(app: Path) -> None:
    text = (app / "Dockerfile").read_text()
    (app / "Dockerfile").write_text(text[text.index("# Runtime stage") :])


def _other_port(app: Path) -> None:
    _edit(app / "Dockerfile", "EXPOSE 8080", "EXPOSE 3000")


def _no_dockerfile(app: Path) -> None:
    (app / "Dockerfile").unlink()


def _other_health_path(app: Path) -> None:
    for pattern in ("*.ts", "*.js"):
        for source in app.rglob(pattern):
            source.write_text(source.read_text().replace("/healthz", "/status"))


def _no_lock_file(app: Path) -> None:
    (app / "package-lock.json").unlink()


GAPS: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "version",
        _no_version,
        'package.json: has no "version"; CI tags the image <version>-<run> and a v* tag must '
        "equal it (fix: set one: npm version 1.0.0 --no-git-tag-version)",
    ),
    (
        "package name",
        _renamed_package,
        "package.json: no workspace package is named @acme/api, which cicd:pipeline.packages "
        "lists (workspace packages: @acme/backend, @acme/shared) (fix: write @acme/backend in "
        "cicd:pipeline.packages)",
    ),
    (
        "root npm script",
        _no_root_script,
        'package.json: has no "lint" script; cicd:pipeline.commands.lint runs: npm run lint '
        '(fix: add "scripts": {"lint": ...} to package.json, or change '
        "cicd:pipeline.commands.lint)",
    ),
    (
        "workspace npm script",
        _no_package_test_script,
        'libs/shared/package.json: has no "test" script; cicd:pipeline.commands.unitTest runs '
        "it in each of cicd:pipeline.packages (@acme/shared) (fix: add "
        '"scripts": {"test": ...} to libs/shared/package.json)',
    ),
    (
        "coverage reporter",
        _no_coverage_summary,
        "libs/shared: the tests of @acme/shared write no coverage report the delivery metrics "
        "read (coverage-summary.json or lcov.info) (fix: add the json-summary reporter: "
        'coverage: { reporter: ["text", "json-summary"] } in vitest.config.ts (Jest: '
        "coverageReporters))",
    ),
    (
        "one stage",
        _single_stage,
        "Dockerfile: has 1 stage(s); CI builds the last stage and expects a build stage before "
        "it, so the image carries no compiler or dev dependencies (fix: split it: FROM node AS "
        "build (npm ci, compile), then a runtime FROM that copies the output)",
    ),
    (
        "port",
        _other_port,
        "Dockerfile: the runtime stage exposes 3000, but cicd:app.port is 8080 (the probes and "
        "Services use it) (fix: EXPOSE 8080 and listen on it, or set cicd:app.port)",
    ),
    (
        "no Dockerfile",
        _no_dockerfile,
        "Dockerfile: is missing; CI builds the image from it (cicd:pipeline.dockerfile) (fix: "
        "add a multi-stage Dockerfile, or point cicd:pipeline.dockerfile at yours)",
    ),
    (
        "health path",
        _other_health_path,
        "/healthz: no source file mentions the health path; probes and the canary analysis GET "
        'it and expect 200 with JSON {"status": "ok"} (fix: serve /healthz, or set '
        "cicd:app.healthPath to the path the app serves)",
    ),
    (
        "lock file",
        _no_lock_file,
        "package-lock.json: is missing; cicd:pipeline.commands.install runs npm ci, which needs "
        "it (fix: run npm install and commit package-lock.json)",
    ),
]


@pytest.mark.parametrize(
    ("plant", "expected"), [pytest.param(plant, line, id=case) for case, plant, line in GAPS]
)
def test_each_planted_gap_is_one_line_with_its_fix(
    app: Path, stack_file: Path, plant: Callable[[Path], None], expected: str
) -> None:
    plant(app)
    assert _doctor(str(app), str(stack_file)) == (1, [expected], [])


def test_a_package_listed_by_its_unscoped_name_gets_the_scoped_one(
    app: Path, tmp_path: Path
) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    config = variant("dev", {"cicd:pipeline.packages": ["api", "@acme/shared"]})
    path.write_text(yaml.safe_dump({"config": config}))
    code, out, _ = _doctor(str(app), str(path))
    assert code == 1
    assert out[0].endswith("(fix: write @acme/api in cicd:pipeline.packages)"), out


def test_the_staging_commands_are_checked_too(app: Path, stack_file: Path) -> None:
    """The default stack files include staging, whose E2E command runs npm run test:e2e: the
    sample app has it; without it, the gap is named."""
    staging = STACKS_DIR / "Pulumi.staging.yaml"
    assert _doctor(str(app), str(stack_file), str(staging))[0] == 0
    manifest = json.loads((app / "package.json").read_text())
    del manifest["scripts"]["test:e2e"]
    (app / "package.json").write_text(json.dumps(manifest))
    code, out, _ = _doctor(str(app), str(stack_file), str(staging))
    assert code == 1
    assert any(line.startswith('package.json: has no "test:e2e" script') for line in out), out


def test_a_broken_stack_file_is_its_problem_line_and_exit_1(app: Path, tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": variant("dev", {"cicd:pipeline.pakages": []})}))
    assert _doctor(str(app), str(path)) == (
        1,
        [],
        ["Pulumi.dev.yaml: cicd:pipeline.pakages is not a known key; did you mean packages?"],
    )


def test_not_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _doctor(str(tmp_path / "nothing"))
    assert code == 2
    assert err == [f"doctor: {tmp_path / 'nothing'} is not a folder"]
