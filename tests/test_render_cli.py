"""The render command at its edges: hostile stack files and a careless ``--out``.

Each case runs ``python -m render`` on a copy of the project in a temporary folder and checks
the outcome a user needs: exit 1 with exactly one line ``Pulumi.<stack>.yaml:<line>:<col>: ...``
and no traceback for a broken file; exit 2 and nothing deleted for an ``--out`` the render may not
replace. Hangs are caught by the subprocess timeout of the harness, not by a timed assertion.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from render.tree import MANIFEST
from tests.conftest import copy_project

pytestmark = pytest.mark.subprocess  # renders in child processes (docs/testing.md)

HARNESS_TIMEOUT = 120  # seconds; a render that hangs fails the test instead of the suite


def run_render(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "render", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=HARNESS_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("project"))


BILLION_LAUGHS = (
    "config:\n"
    '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    + "  cicd:app: *a9\n"
)

BROKEN_FILES = [
    ("syntax", "config:\n  cicd:app: [1, 2\n", "Pulumi.dev.yaml:3:1: "),
    ("tab", "config:\n\tcicd:app: {}\n", "Pulumi.dev.yaml:2:1: a tab character"),
    ("empty", "", "Pulumi.dev.yaml:1:1: is empty"),
    ("comment only", "# nothing yet\n", "Pulumi.dev.yaml:1:1: is empty"),
    ("top level a list", "- config\n", "Pulumi.dev.yaml:1:1: must be a mapping"),
    ("top level a string", "config\n", "Pulumi.dev.yaml:1:1: must be a mapping"),
    ("config a list", "config:\n  - a\n", "Pulumi.dev.yaml:1:1: config: must be a mapping"),
    ("config null", "config:\n", "Pulumi.dev.yaml:1:1: config: must be a mapping"),
    ("no config", "encryptionsalt: x\n", "Pulumi.dev.yaml:1:1: has no config: mapping"),
    (
        "duplicate key",
        "config:\n  cicd:deploy:\n    enabled: false\n    enabled: true\n",
        "Pulumi.dev.yaml:4:5: duplicate key 'enabled' (first on line 3)",
    ),
    (
        "duplicate top key",
        "config:\n  github:owner: a\n  github:owner: b\n",
        "Pulumi.dev.yaml:3:3: duplicate key 'github:owner'",
    ),
    ("alias", "config:\n  x: &x 1\n  y: *x\n", "Pulumi.dev.yaml:3:6: aliases (*name) are not"),
    ("billion laughs", BILLION_LAUGHS, "Pulumi.dev.yaml:3:12: aliases (*name) are not"),
    ("merge key", "config:\n  x:\n    <<: {a: 1}\n", "Pulumi.dev.yaml:3:5: merge keys"),
    ("python tag", "config:\n  x: !!python/name:os.system\n", "Pulumi.dev.yaml:2:6: the tag"),
    ("binary tag", "config:\n  x: !!binary aGk=\n", "Pulumi.dev.yaml:2:6: the tag"),
    ("number key", "config:\n  1: x\n", "Pulumi.dev.yaml:2:3: a key must be a string"),
    ("deep nesting", "config:\n  x: " + "[" * 2000 + "]" * 2000 + "\n", "nesting deeper than"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=case) for case, text, expected in BROKEN_FILES],
)
def test_broken_stack_file_is_one_line_and_exit_1(
    project: Path, tmp_path: Path, text: str, expected: str
) -> None:
    root = copy_project(tmp_path)
    (root / "Pulumi.dev.yaml").write_text(text)
    done = run_render(root, "dev", "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert lines[0].startswith("Pulumi.dev.yaml:")
    assert not (tmp_path / "out").exists()


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    (root / "Pulumi.dev.yaml").write_bytes(b"config:\n  cicd:app: \xff\n")
    done = run_render(root, "dev", "--out", str(tmp_path / "out"))
    assert (done.returncode, done.stderr) == (1, "Pulumi.dev.yaml:2:13: is not UTF-8 text\n")


def test_broken_project_file_names_pulumi_yaml(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    (root / "Pulumi.yaml").write_text("name: x\nname: y\n")
    done = run_render(root, "dev", "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert done.stderr.startswith("Pulumi.yaml:2:1: duplicate key 'name'")


# --------------------------------------------------------------------------------------------
# --out
# --------------------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("out", [".", "..", "/", "components/.."])
def test_out_refuses_the_project_and_its_parents(project: Path, out: str) -> None:
    before = _tree(project)
    done = run_render(project, "dev", "--out", out)
    assert done.returncode == 2
    assert "refusing the project folder or a folder containing it" in done.stderr
    assert _tree(project) == before


def test_out_refuses_a_folder_that_is_not_a_render(project: Path, tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    done = run_render(project, "dev", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "not empty and not a previous render" in done.stderr
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_out_refuses_a_file(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep")
    done = run_render(project, "dev", "--out", str(target))
    assert done.returncode == 2
    assert target.read_text() == "keep"


def test_out_replaces_its_own_render_but_not_files_added_to_it(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_render(project, "dev", "--out", str(out)).returncode == 0
    assert (out / MANIFEST).is_file()
    (out / "resources.json").write_text("stale")
    assert run_render(project, "dev", "--out", str(out)).returncode == 0  # its own: replaced
    assert (out / "resources.json").read_text() != "stale"
    (out / "kubernetes" / "mine.yaml").write_text("someone's file")
    done = run_render(project, "dev", "--out", str(out))
    assert done.returncode == 2
    assert "holds files the render did not write (kubernetes/mine.yaml)" in done.stderr
    assert (out / "kubernetes" / "mine.yaml").read_text() == "someone's file"


def test_out_accepts_an_empty_or_new_folder(project: Path, tmp_path: Path) -> None:
    assert run_render(project, "dev", "--out", str(tmp_path)).returncode == 0
    assert (tmp_path / "resources.json").is_file()
    assert run_render(project, "dev", "--out", str(tmp_path / "a" / "b")).returncode == 0


# --------------------------------------------------------------------------------------------
# What the render prints is safe in a CI log
# --------------------------------------------------------------------------------------------


def test_usage_error_echoing_a_hostile_stack_name_stays_one_inert_line(project: Path) -> None:
    done = run_render(project, "::error::x\n::add-mask::y")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    message = [line for line in lines if line.startswith("render:")]
    assert len(message) == 1
    assert all(not line.lstrip().startswith("::") for line in lines)
    assert "\\n" in message[0]


@pytest.mark.parametrize("stack", ["../../etc/passwd", "-dev", "dev/../prod", ""])
def test_a_stack_name_is_a_name_not_a_path(project: Path, stack: str) -> None:
    done = run_render(project, stack if stack else "''", "--out", str(project / "build" / "x"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


_LOADED = """\
import sys
from render.__main__ import main
code = main(sys.argv[1:])
print(" ".join(sorted(m for m in sys.modules if m.startswith(("render.", "grafana_")))))
sys.exit(code)
"""


def _modules_after_render(*args: str) -> set[str]:
    from tests.conftest import project_path

    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *args],
        cwd=project_path(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())


def test_a_plain_render_loads_neither_the_diff_module_nor_the_dashboard_sdk(
    tmp_path: Path,
) -> None:
    """Import cost (issue 14 item 8): render/diff.py only for --diff/--compare, the Grafana SDK
    only for a stack that declares the dashboard (the nonprod platform stack). Measured by
    ``make bench``."""
    for stack in ("prod", "dev"):
        loaded = _modules_after_render(stack, "--out", str(tmp_path / stack))
        assert "render.engine" in loaded
        assert "render.diff" not in loaded
        assert not any(m.startswith("grafana_") for m in loaded)
    platform = _modules_after_render(
        "--project", "platform", "nonprod", "--out", str(tmp_path / "platform")
    )
    assert "grafana_foundation_sdk" in platform
    assert "render.diff" not in platform
