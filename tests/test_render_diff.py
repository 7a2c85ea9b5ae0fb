"""``python -m render STACK --diff REF`` and ``--compare OTHER``: what a reviewer reads on a PR.

Given a throwaway git repository holding a copy of the program, when one stack value changes in a
commit, then ``--diff HEAD~1`` reports that value and nothing else. The assertions hold whatever
resources the stacks declare, so they keep working as components are added.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from render import COMMENT_BUDGET
from render.diff import build_report, config_diff, format_config_diff, stack_config
from render.engine import PROJECT_DIR
from tests.conftest import copy_project, files
from tests.conftest import stack_config as stack_file_config

pytestmark = pytest.mark.subprocess  # renders in child processes (docs/testing.md)

PYTHON = PROJECT_DIR / ".venv" / "bin" / "python"
if not PYTHON.exists():  # a checkout whose tests run from another interpreter
    PYTHON = Path(sys.executable)
# The one value the throwaway repository changes: an environment variable of the dev stack.
OLD_LINE, NEW_LINE = "LOG_LEVEL: debug", "LOG_LEVEL: info"
CHANGED_KEY = "cicd:environment.variables.LOG_LEVEL"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PYTHON), "-m", "render", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _section(markdown: str, heading: str) -> list[str]:
    """Lines of the fenced block that follows the bold ``heading`` (``Config``, ``Resources``)."""
    match = re.search(
        rf"^\*\*{heading}\*\*:[^\n]*\n\n(`{{3,}})diff\n(.*?)^\1$", markdown, re.S | re.M
    )
    assert match, f"no {heading} section in:\n{markdown}"
    return match.group(2).splitlines()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with the program at HEAD~1 and one changed dev value at HEAD."""
    root = tmp_path_factory.mktemp("repo")
    copy_project(root)
    _git(root, "init", "--quiet")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "program as it is")
    stack_file = root / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    assert text.count(OLD_LINE) == 1, f"Pulumi.dev.yaml no longer has one {OLD_LINE!r}"
    stack_file.write_text(text.replace(OLD_LINE, NEW_LINE))
    _git(root, "commit", "--quiet", "-am", "dev logs less")
    return root


@pytest.fixture(scope="module")
def diffed(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """stdout of ``render dev --diff HEAD~1`` and the --report file it wrote."""
    out = tmp_path_factory.mktemp("out")
    done = _run(
        repo,
        "dev",
        "--diff",
        "HEAD~1",
        "--out",
        str(out / "render"),
        "--report",
        str(out / "dev.md"),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, (out / "dev.md").read_text()


def test_diff_reports_the_changed_config_value_and_nothing_else(diffed: tuple[str, str]) -> None:
    stdout, _ = diffed
    assert _section(stdout, "Config") == [f"~ {CHANGED_KEY}: debug → info"]


def test_diff_resource_summary_holds_only_that_change(diffed: tuple[str, str]) -> None:
    stdout, _ = diffed
    assert re.search(
        r"^\*\*Resources\*\*: 0 to add, [1-9]\d* to change, 0 to remove$", stdout, re.M
    )
    lines = _section(stdout, "Resources")
    resources = [line for line in lines if line.startswith("~ ")]
    fields = [line for line in lines if not line.startswith("~ ")]
    assert any("ActionsEnvironmentVariable" in r and "log_level" in r.lower() for r in resources)
    assert fields, lines
    for line in fields:
        assert re.fullmatch(r"    inputs\.[\w.\[\]/-]+: debug → info", line), line


def test_diff_files_change_only_in_that_value(diffed: tuple[str, str]) -> None:
    stdout, _ = diffed
    changed = [
        line
        for line in stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---", "+ ", "- "))
    ]
    assert changed, "the rendered files did not change"
    assert all(re.search(r"\bdebug\b", line) for line in changed if line.startswith("-")), changed
    assert all(re.search(r"\binfo\b", line) for line in changed if line.startswith("+")), changed


def test_report_file_is_the_markdown_and_fits_a_comment(diffed: tuple[str, str]) -> None:
    stdout, report = diffed
    assert report.startswith("## Stack `dev`: `HEAD~1` → working tree")
    assert report in stdout  # small enough: nothing trimmed
    assert len(report) <= COMMENT_BUDGET


def test_diff_against_the_same_revision_reports_no_difference(repo: Path, tmp_path: Path) -> None:
    done = _run(repo, "dev", "--diff", "HEAD", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "No difference between HEAD and working-tree." in done.stdout


@pytest.mark.parametrize("ref", ["no-such-ref", "--output=/tmp/x", "0123456789abcdef0123"])
def test_bad_ref_exits_2(repo: Path, tmp_path: Path, ref: str) -> None:
    done = _run(repo, "dev", f"--diff={ref}", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "is not a" in done.stderr
    assert "Traceback" not in done.stderr


def test_report_without_diff_or_compare_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(PROJECT_DIR, "dev", "--report", str(tmp_path / "r.md"), "--out", str(tmp_path))
    assert done.returncode == 2
    assert "--report needs --diff or --compare" in done.stderr


def test_compare_lists_the_namespace_difference(tmp_path: Path) -> None:
    dev_ns = stack_file_config("dev")["cicd:environment"]["namespace"]
    staging_ns = stack_file_config("staging")["cicd:environment"]["namespace"]
    assert dev_ns != staging_ns
    done = _run(PROJECT_DIR, "staging", "--compare", "dev", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "## Stack `dev` → stack `staging`" in done.stdout
    assert f"~ cicd:environment.namespace: {dev_ns} → {staging_ns}" in _section(
        done.stdout, "Config"
    )
    resources = "\n".join(_section(done.stdout, "Resources"))
    assert re.search(
        rf"^~ kubernetes:core/v1:Namespace \S+\n(    .*\n)*?    inputs\.metadata\.name: "
        rf"{dev_ns} → {staging_ns}$",
        resources,
        re.M,
    ), resources


def test_report_is_trimmed_to_the_limit_and_says_where_the_rest_is() -> None:
    report = build_report(
        "Stack `staging` vs dev", "dev", "staging", {}, {}, files("dev"), files("staging")
    )
    full = report.markdown()
    limit = 3000
    assert len(full) > limit  # dev and staging differ in every namespaced file
    trimmed = report.markdown(limit, more="see the artifact")
    assert len(trimmed) <= limit
    assert "see the artifact" in trimmed
    assert "**Resources**" in trimmed
    fences = re.findall(r"^`{3,}", trimmed, re.M)
    assert len(fences) % 2 == 0, trimmed  # every code block is closed
    assert trimmed.count("<details>") == trimmed.count("</details>")


def test_secret_values_show_as_changed_without_their_ciphertext(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, ciphertext in ((old, "v1:b2xkLWNpcGhlcg=="), (new, "v1:bmV3LWNpcGhlcg==")):
        folder.mkdir()
        shutil.copy2(PROJECT_DIR / "Pulumi.yaml", folder / "Pulumi.yaml")
        config = stack_file_config("dev")
        config["cicd:registryToken"] = {"secure": ciphertext}
        (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    changes = config_diff(stack_config("dev", old), stack_config("dev", new))
    assert [path for path, _, _ in changes] == ["cicd:registryToken"]
    text = format_config_diff(changes)
    assert re.fullmatch(
        r"~ cicd:registryToken: \[secret [0-9a-f]{8}\] → \[secret [0-9a-f]{8}\]\n", text
    )
    assert "Y2lwaGVy" not in text and "cipher" not in text
