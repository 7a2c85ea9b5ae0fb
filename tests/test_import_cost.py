"""Import cost and CPU of the render (issue 14 item 8), checked by structure, never by time.

``make bench`` measures the CPU (tools/bench.py). These tests guard what the figures rest on:
a plain render does not load what only ``--diff`` needs; an environment render answers its
StackReference from the platform cache when nothing changed, and from a fresh platform render
whenever anything the platform render reads changed (never stale); the libyaml emitter the render
uses writes the same bytes as PyYAML's Python emitter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import stackref
from render.engine import Rendered, render
from render.tree import to_yaml
from tests.conftest import copy_project, project_path

pytestmark = pytest.mark.subprocess  # renders in child processes (docs/testing.md)

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"

_LOADED = """\
import sys
from render.__main__ import main
code = main(sys.argv[1:])
print(" ".join(sorted(sys.modules)))
sys.exit(code)
"""


def test_a_plain_render_does_not_load_what_only_diff_needs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, "prod", "--out", str(tmp_path / "prod")],
        cwd=project_path(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.splitlines()[-1].split())
    assert "render.engine" in loaded
    assert not {"render.diff", "tarfile"} & loaded


def _ingress_class(result: Rendered) -> Any:
    (ingress,) = result.of_type(INGRESS)
    return ingress.inputs["spec"]["ingressClassName"]


def _set_ingress_class(project: Path, name: str) -> None:
    path = project / "platform" / "Pulumi.nonprod.yaml"
    config = yaml.safe_load(path.read_text())
    config["config"]["cicd-platform:cluster"]["ingressClassName"] = name
    path.write_text(yaml.safe_dump(config))


def _project_with_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of the project, and an empty platform-output cache the render is pointed at."""
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    cache = tmp_path / "cache"
    monkeypatch.setenv(stackref.CACHE_ENV, str(cache))
    return project, cache


def test_the_platform_cache_answers_repeated_renders_and_is_never_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, cache = _project_with_cache(tmp_path, monkeypatch)
    first = render("staging", project)
    assert (cache / "cicd-platform.nonprod.json").is_file()

    # Nothing changed: the second render takes the platform's outputs from the cache.
    def no_child_render(*args: Any) -> dict[str, Any]:
        raise AssertionError(f"the platform stack was rendered again: {args}")

    with monkeypatch.context() as patched:
        patched.setattr(stackref, "_render_outputs", no_child_render)
        again = render("staging", project)
    assert [r.as_json() for r in again.resources] == [r.as_json() for r in first.resources]

    # The platform's stack file changed: the cached outputs are not used, the change shows.
    _set_ingress_class(project, "nginx-internal")
    assert _ingress_class(render("staging", project)) == "nginx-internal"


def test_rendering_a_platform_stack_fills_the_cache_its_environments_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # make render renders the platform stacks first: the environment renders then reuse them.
    project, cache = _project_with_cache(tmp_path, monkeypatch)
    done = subprocess.run(
        [sys.executable, "-m", "render", "--project", "platform", "nonprod"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (cache / "cicd-platform.nonprod.json").is_file()

    def no_child_render(*args: Any) -> dict[str, Any]:
        raise AssertionError(f"the platform stack was rendered again: {args}")

    monkeypatch.setattr(stackref, "_render_outputs", no_child_render)
    assert _ingress_class(render("staging", project)) == "nginx"


@pytest.mark.parametrize(
    "changed",
    [
        "platform/Pulumi.nonprod.yaml",
        "platform/Pulumi.yaml",
        "platform/__main__.py",
        "components/platform_stack.py",
        "components/config/platform.py",
        "render/engine.py",
        "components/workflows/scripts/notify.sh",
        "new_module.py",
    ],
)
def test_the_platform_cache_key_covers_what_the_platform_render_reads(
    tmp_path: Path, changed: str
) -> None:
    project = copy_project(tmp_path)
    key = stackref.inputs_key(project, project / "platform", "nonprod")
    assert stackref.inputs_key(project, project / "platform", "prod") != key
    path = project / changed
    path.write_text((path.read_text() if path.exists() else "") + "\n# changed\n")
    assert stackref.inputs_key(project, project / "platform", "nonprod") != key


def test_the_platform_cache_key_ignores_build_output_and_bytecode(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    key = stackref.inputs_key(project, project / "platform", "nonprod")
    (project / "build" / "render" / "dev").mkdir(parents=True)
    (project / "build" / "render" / "dev" / "outputs.json").write_text("{}\n")
    (project / "render" / "__pycache__").mkdir(exist_ok=True)
    (project / "render" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\0")
    assert stackref.inputs_key(project, project / "platform", "nonprod") == key


def test_a_cache_entry_for_other_inputs_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv(stackref.CACHE_ENV, str(cache))
    # An entry written for other inputs (or a half-written file) is a miss, never an answer.
    entry = cache / "cicd-platform.nonprod.json"
    entry.write_text('{"key": "0000", "outputs": {"ingressClassName": "stale"}}')
    assert _ingress_class(render("staging", project)) == "nginx"
    entry.write_text('{"key": ')
    assert _ingress_class(render("staging", project)) == "nginx"


def test_the_libyaml_emitter_writes_what_the_python_emitter_writes() -> None:
    class PythonDumper(yaml.SafeDumper):
        pass

    from render import tree

    PythonDumper.add_representer(str, tree._str)
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"a/b": "c", "empty": "", "yes": "yes", "n": "1"}},
        "data": {
            "script": "set -eu\necho \"${HOME}\" 'quoted' # not a comment\n\n  indented\n",
            "long": "word " * 60,
            "unicode": "caf\u00e9 \u2013 na\u00efve \u2713",
            "special": ": starts with a colon, has # and {braces} and [brackets] *star &amp",
            "trailing": "trailing space ",
            "tab": "a\tb",
            "numbers": [1, 2.5, -3, True, None],
            "nested": [{"k": ["x", {"deep": "y\nz"}]}],
        },
    }
    expected = yaml.dump(
        tree._ordered(document),
        Dumper=PythonDumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    assert to_yaml(document) == expected
