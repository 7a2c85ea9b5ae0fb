"""The project-wide check on bad and borderline input (render/project.py,
components/config/project.py, components/config/stack_facts.py).

Stack files are untrusted (the render runs on pull requests): every key the project check reads
gets malformed values here, and each must end in one clean line, never a traceback or a line
about some other key. Then the production role (one definition for the single-stack render and
the project check), Kubernetes objects owned by two stacks, and the refused stage name ``stage``.
All stacks are built from examples/webshop in a temporary folder.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config import ConfigError
from components.config.stack_facts import READ_KEYS, SECTIONS_READ
from render.engine import PROJECT_DIR, render
from render.project import check_project, main, project_config
from tests.conftest import example_copy

GARBAGE: Final[tuple[Any, ...]] = (
    ["a"],
    7,
    2.5,
    True,
    {"nested": [None, {"x": []}]},
    [[{"a": 1}]],
)
"""Values of the wrong type for a key that holds one string, enum value or mapping."""

LIST_GARBAGE: Final[tuple[Any, ...]] = (
    "v*",
    7,
    True,
    {"nested": [None]},
    [None],
    [["main"]],
    ["main", {"a": 1}],
)
"""Values of the wrong type for a key that holds a list of strings."""

LIST_KEYS: Final = frozenset({"cicd:approval.branches", "cicd:approval.tags"})


def _cases() -> list[tuple[str, Any]]:
    return [
        (key, value)
        for key in READ_KEYS
        for value in (LIST_GARBAGE if key in LIST_KEYS else GARBAGE)
    ]


def _ids(case: tuple[str, Any]) -> str:
    key, value = case
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"


@pytest.mark.parametrize("case", _cases(), ids=[_ids(c) for c in _cases()])
def test_every_read_key_with_a_wrong_type_is_one_clean_line(
    tmp_path: Path, case: tuple[str, Any]
) -> None:
    key, value = case
    folder = example_copy(tmp_path, "webshop", {"prod": {key: value}})
    lines = project_config(folder).lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Pulumi.prod.yaml: {key}"), lines
    assert " must " in lines[0] or " is not a known key " in lines[0], lines


@pytest.mark.parametrize("section", SECTIONS_READ)
@pytest.mark.parametrize("value", [["x"], "prod", 3, True], ids=["list", "text", "int", "bool"])
def test_a_section_that_is_not_a_mapping_is_one_line_and_nothing_else(
    tmp_path: Path, section: str, value: Any
) -> None:
    """No "(got None)" lines about the section's keys, no "all leave promotesFrom unset"."""
    folder = example_copy(tmp_path, "webshop", {"prod": {section: value}})
    lines = project_config(folder).lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Pulumi.prod.yaml: {section} must be a mapping (got "), lines


def test_the_reviewed_cases_say_what_is_wrong(tmp_path: Path) -> None:
    def lines(changes: dict[str, Any]) -> tuple[str, ...]:
        return project_config(example_copy(tmp_path, "webshop", {"prod": changes})).lines

    assert lines({"cicd:environment.tier": ["a"]}) == (
        "Pulumi.prod.yaml: cicd:environment.tier must be one of development, staging, "
        'production (got ["a"])',
    )
    assert lines({"cicd:app.branching": ["trunk"]}) == (
        'Pulumi.prod.yaml: cicd:app.branching must be one of gitflow, trunk (got ["trunk"])',
    )
    assert lines({"cicd:app": ["x"]}) == (
        'Pulumi.prod.yaml: cicd:app must be a mapping (got ["x"])',
    )
    assert lines({"cicd:environment": "prod"}) == (
        "Pulumi.prod.yaml: cicd:environment must be a mapping (got prod)",
    )


def test_an_encrypted_value_in_the_wrong_place_is_not_shown(tmp_path: Path) -> None:
    secure = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    folder = example_copy(tmp_path, "webshop", {"prod": {"cicd:app.repository": secure}})
    assert project_config(folder).lines == (
        "Pulumi.prod.yaml: cicd:app.repository must be a string (got [secret])",
    )


def test_the_command_exits_1_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = example_copy(tmp_path, "webshop", {"prod": {"cicd:environment.tier": ["a"]}})
    assert main(["--stacks", str(folder)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        "Pulumi.prod.yaml: cicd:environment.tier must be one of development, staging, "
        'production (got ["a"])'
    ]


@pytest.mark.subprocess
def test_the_cli_exits_1_on_a_malformed_section(tmp_path: Path) -> None:
    folder = example_copy(tmp_path, "webshop", {"staging": {"cicd:app": ["x"]}})
    done = subprocess.run(
        [sys.executable, "-m", "render", "check-project", "--stacks", str(folder)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == 'Pulumi.staging.yaml: cicd:app must be a mapping (got ["x"])\n'


# --- one production role --------------------------------------------------------------------


def four_stages(into: Path, prod_eu: dict[str, Any] | None = None) -> Path:
    """dev -> staging -> prod-eu -> prod under gitflow, from examples/webshop: prod-eu is prod's
    file renamed (its own namespace, URL and GitHub environment, no branch protection), and
    prod promotes from it. ``prod_eu`` replaces keys of prod-eu's ``config:``."""
    folder = example_copy(into, "webshop", {"prod": {"cicd:environment.promotesFrom": "prod-eu"}})
    document = yaml.safe_load((folder / "Pulumi.prod.yaml").read_text())
    config = copy.deepcopy(document["config"])
    config["cicd:environment"].update(
        name="prod-eu",
        promotesFrom="staging",
        tier="production",
        namespace="webshop-prod-eu",
        url="https://webshop.eu.acme.example",
    )
    config["cicd:canary"]["nginx"]["host"] = "webshop.eu.acme.example"
    del config["cicd:branchProtection"]
    config.update(prod_eu or {})
    (folder / "Pulumi.prod-eu.yaml").write_text(yaml.safe_dump({"config": config}))
    return folder


def test_two_production_stages_under_gitflow_pass_both_checks_with_the_last_protecting_main(
    tmp_path: Path,
) -> None:
    """The single-stack render of prod-eu and the project check agree: prod protects main,
    prod-eu deploys from main and v* tags but protects no branch."""
    result = check_project(four_stages(tmp_path))
    assert result.lines == []
    assert result.chain is not None
    assert result.chain.names == ("dev", "staging", "prod-eu", "prod")
    assert set(result.renders) == set(result.chain.names)
    protections = {
        stack: [
            r.inputs["pattern"]
            for r in rendered.resources
            if r.type == "github:index/branchProtection:BranchProtection"
        ]
        for stack, rendered in result.renders.items()
    }
    assert protections == {"dev": ["develop"], "staging": [], "prod-eu": [], "prod": ["main"]}


def test_an_earlier_production_stage_protecting_main_is_refused_by_both_checks(
    tmp_path: Path,
) -> None:
    folder = four_stages(tmp_path, {"cicd:branchProtection": {"branch": "main"}})
    expected = (
        "Pulumi.prod-eu.yaml: cicd:branchProtection must be removed with app.branching gitflow: "
        "the first stage protects develop and the production stage protects main"
    )
    assert project_config(folder).lines == (expected,)
    with pytest.raises(ConfigError) as caught:
        render("prod-eu", stacks_dir=folder)
    assert expected in caught.value.lines


# --- Kubernetes objects ---------------------------------------------------------------------


def test_two_stacks_in_one_namespace_of_one_cluster_are_refused_object_by_object(
    tmp_path: Path,
) -> None:
    """staging in dev's namespace, both on the nonprod platform: each would own the other's
    Namespace (cluster-scoped), Roles, Rollout..."""
    folder = example_copy(
        tmp_path, "webshop", {"staging": {"cicd:environment.namespace": "webshop-dev"}}
    )
    lines = check_project(folder).lines
    assert lines, "a shared namespace must be refused"
    tail = (
        " on the cluster of the platform stack acme/cicd-platform/nonprod: each stack needs "
        "objects of its own, or destroying one deletes the other's; give each stack on one "
        "cluster its own cicd:environment.namespace"
    )
    head = "Pulumi.dev.yaml and Pulumi.staging.yaml both own the Kubernetes "
    assert all(line.startswith(head) and line.endswith(tail) for line in lines), lines
    objects = {line[len(head) : -len(tail)] for line in lines}
    assert {
        "Namespace webshop-dev (cluster-scoped)",
        "Role webshop-deployer (group rbac.authorization.k8s.io, namespace webshop-dev)",
        "Service webshop (namespace webshop-dev)",
    } <= objects
    assert len(objects) == len(lines)


def test_one_namespace_name_on_two_clusters_is_not_shared(tmp_path: Path) -> None:
    """prod on the prod platform may use the namespace name dev uses on nonprod."""
    folder = example_copy(
        tmp_path, "webshop", {"prod": {"cicd:environment.namespace": "webshop-dev"}}
    )
    assert check_project(folder).lines == []


# --- the stage name `stage` -----------------------------------------------------------------


def test_a_stage_named_stage_is_refused_with_why(tmp_path: Path) -> None:
    """``stage`` would get staging's workflow file stage-deploy.yml."""
    folder = example_copy(tmp_path, "webshop")
    document = yaml.safe_load((folder / "Pulumi.staging.yaml").read_text())
    config = document["config"]
    config["cicd:environment"].update(
        name="stage", promotesFrom="staging", tier="staging", namespace="webshop-stage"
    )
    (folder / "Pulumi.stage.yaml").write_text(yaml.safe_dump(document))
    (folder / "Pulumi.prod.yaml").write_text(
        (folder / "Pulumi.prod.yaml")
        .read_text()
        .replace("promotesFrom: staging", "promotesFrom: stage")
    )
    expected = (
        "Pulumi.stage.yaml: cicd:environment.name must not be stage: staging's deploy workflow "
        "keeps the file name stage-deploy.yml (components/chain.py deploy_workflow_file), so a "
        "stage named stage would write the same file; choose another name, such as stg or "
        "preprod (got stage)"
    )
    assert project_config(folder).lines == (expected,)
    with pytest.raises(ConfigError) as caught:
        render("stage", stacks_dir=folder)
    assert expected in caught.value.lines
