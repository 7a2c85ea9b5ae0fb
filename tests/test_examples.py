"""Every example renders and passes the project check; the check refuses what a per-stack render
cannot see (render/project.py, components/config/project.py).

The suite's stacks come from examples/webshop (tests/conftest.py); the root stack files are only
checked here: they render and pass the project check, whatever a team has adapted them to.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.chain import Chain
from render.engine import PROJECT_DIR, Registration, Rendered, UsageError
from render.examples import unsaved_stack_files, use_example
from render.project import (
    ProjectCheck,
    check_project,
    identity,
    ownership_problems,
    project_config,
)
from render.repo_pipeline import workflows
from render.tree import kubernetes_objects, tree
from tests import validators
from tests.conftest import EXAMPLES_DIR, STACKS, STACKS_DIR, copy_project, example_copy
from tests.test_workflows import repo_files

EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir())


def _check(folder: Path) -> ProjectCheck:
    return check_project(folder)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_renders_and_passes_the_project_check(example: str) -> None:
    result = _check(EXAMPLES_DIR / example)
    assert result.lines == []
    assert result.chain is not None
    assert set(result.renders) == set(result.chain.names)


def test_the_examples_are_the_two_delivery_models() -> None:
    assert {"webshop", "payments"} <= set(EXAMPLES)
    payments = _check(EXAMPLES_DIR / "payments")
    assert payments.chain is not None and payments.chain.names == ("dev", "prod")


def test_the_root_stack_files_render_and_pass_the_project_check() -> None:
    result = _check(PROJECT_DIR)
    assert result.lines == []


def test_the_suite_stacks_are_the_fixture_chain_in_order() -> None:
    result = _check(STACKS_DIR)
    assert result.chain is not None and result.chain.names == STACKS


def test_trunk_dev_and_prod_both_protecting_main_is_refused_naming_dev(tmp_path: Path) -> None:
    folder = example_copy(
        tmp_path, "payments", {"prod": {"cicd:branchProtection": {"branch": "main"}}}
    )
    result = _check(folder)
    assert result.lines == [
        "Pulumi.dev.yaml and Pulumi.prod.yaml both own the GitHub BranchProtection (pattern "
        "main, repositoryId payments): only Pulumi.dev.yaml should (trunk: the first stage "
        "protects the default branch main); remove it from Pulumi.prod.yaml"
    ]


def test_two_stacks_with_one_github_environment_are_refused(tmp_path: Path) -> None:
    folder = example_copy(
        tmp_path, "webshop", {"staging": {"cicd:environment.githubEnvironment": "production"}}
    )
    result = _check(folder)
    assert result.lines == [
        "Pulumi.prod.yaml: cicd:environment.githubEnvironment: stages 'staging' and 'prod' "
        "share the GitHub environment 'production'"
    ]
    assert result.renders == {}  # nothing rendered, nothing written


def test_a_broken_chain_names_the_stage(tmp_path: Path) -> None:
    folder = example_copy(tmp_path, "webshop", {"staging": None})
    assert _check(folder).lines == [
        "Pulumi.prod.yaml: cicd:environment.promotesFrom: stage 'prod' promotes from "
        "'staging', which has no stack file (stages: dev, prod)"
    ]


def test_a_later_stage_on_a_self_hosted_runner_of_a_public_repository_is_refused(
    tmp_path: Path,
) -> None:
    """Only the first stage knows the repository is public; the project check carries it to the
    later stages (components/config/runner.py public_runner_problem)."""
    changes: dict[str, dict[str, Any] | None] = {
        "dev": {"cicd:pipeline.github.visibility": "public"},
        "prod": {"cicd:deploy.runner": {"labels": ["self-hosted", "linux", "payments-prod"]}},
    }
    lines = project_config(example_copy(tmp_path, "payments", changes)).lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "Pulumi.prod.yaml: cicd:deploy.runner must be a GitHub-hosted runner on a public repository"
    )
    hosted: dict[str, dict[str, Any] | None] = {
        **changes,
        "prod": {"cicd:deploy.runner": {"labels": ["ubuntu-24.04"]}},
    }
    assert project_config(example_copy(tmp_path, "payments", hosted)).lines == ()


def test_every_stack_states_the_same_app(tmp_path: Path) -> None:
    folder = example_copy(tmp_path, "payments", {"prod": {"cicd:app.branching": "gitflow"}})
    assert _check(folder).lines == [
        "Pulumi.prod.yaml: cicd:app.branching must be trunk, as in Pulumi.dev.yaml: every "
        "stack delivers the same app (got gitflow)"
    ]


def test_a_later_trunk_stage_deploying_from_a_branch_says_what_to_write(tmp_path: Path) -> None:
    folder = example_copy(tmp_path, "payments", {"prod": {"cicd:approval.branches": ["main"]}})
    assert (
        "Pulumi.prod.yaml: cicd:approval.branches must be empty with app.branching trunk: "
        "stages after the first deploy from tags only; write approval.tags: [v*] (got [main])"
    ) in _check(folder).lines


def test_gitflow_with_main_as_default_branch_is_refused(tmp_path: Path) -> None:
    changes: dict[str, Any] = {"cicd:app.defaultBranch": "main"}
    folder = example_copy(tmp_path, "webshop", dict.fromkeys(STACKS, changes))
    assert (
        "Pulumi.dev.yaml: cicd:app.defaultBranch must not be main with app.branching gitflow: "
        "gitflow merges the default branch (such as develop) into main; write defaultBranch: "
        "develop, or branching: trunk (got main)"
    ) in _check(folder).lines


def _resource(type_: str, name: str, **inputs: Any) -> Registration:
    return Registration(
        type=type_,
        name=name,
        parent=None,
        custom=True,
        inputs=inputs,
        options={"provider": "github"},
        urn=f"urn:{type_}:{name}",
    )


def test_ownership_covers_a_resource_type_it_has_no_rule_for() -> None:
    """A GitHub resource type no stack registers today is keyed by its identifying inputs."""
    chain = _check(STACKS_DIR).chain
    assert isinstance(chain, Chain)
    provider = Registration(
        "pulumi:providers:github", "github", None, True, {"owner": "acme"}, {}, "p"
    )
    team = "github:index/teamRepository:TeamRepository"
    renders = {
        stack: Rendered(stack, [provider, _resource(team, f"t-{stack}", **inputs)], {})
        for stack, inputs in (
            ("dev", {"repository": "webshop", "teamId": "42", "permission": "push"}),
            ("prod", {"repository": "webshop", "teamId": "42", "permission": "pull"}),
        )
    }
    from components.config.project import app_identity
    from components.config.stack_facts import StackFacts, read_facts

    facts = read_facts("dev", {"github:owner": "acme", "cicd:app": {"repository": "webshop"}})
    assert isinstance(facts, StackFacts)
    app = app_identity(facts)
    lines = ownership_problems(chain, app, renders)
    assert len(lines) == 1
    assert lines[0].startswith(
        "Pulumi.dev.yaml and Pulumi.prod.yaml both own the GitHub TeamRepository (repository "
        "webshop, teamId 42): only Pulumi.dev.yaml should"
    )
    obj = identity(_resource(team, "t", repository="webshop", teamId="42"), {"github": "acme"})
    assert obj is not None and obj.owner == "acme"


@pytest.mark.subprocess
def test_the_cli_lists_the_chain_and_exits_1_on_a_problem(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "render", "check-project", *args],
            capture_output=True,
            text=True,
            cwd=PROJECT_DIR,
            check=False,
        )

    listed = cli("--stacks", str(EXAMPLES_DIR / "payments"), "--list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == ["dev", "prod"]
    bad = example_copy(
        tmp_path, "payments", {"prod": {"cicd:branchProtection": {"branch": "main"}}}
    )
    refused = cli("--stacks", str(bad))
    assert refused.returncode == 1
    assert refused.stderr.startswith("Pulumi.dev.yaml and Pulumi.prod.yaml both own")
    assert refused.stdout == ""


def test_using_another_example_replaces_every_stack_file_and_the_workflows_follow(
    tmp_path: Path,
) -> None:
    """make example NAME=payments in a copy of the project: staging is gone, not lingering."""
    root = copy_project(tmp_path)
    shutil.copytree(EXAMPLES_DIR, root / "examples")
    shutil.copytree(PROJECT_DIR / ".github", root / ".github")
    written = use_example("payments", root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "Pulumi.dev.yaml",
        "Pulumi.prod.yaml",
        "platform/Pulumi.nonprod.yaml",
        "platform/Pulumi.prod.yaml",
    ]
    assert not (root / "Pulumi.staging.yaml").exists()
    chain = project_config(root).chain
    assert chain is not None and chain.names == ("dev", "prod")
    deploy = workflows(chain, root)[root / ".github" / "workflows" / "deploy.yml"]
    assert "up-staging" not in deploy and "preview-prod" in deploy
    with pytest.raises(UsageError, match=r"no example 'nope' \(examples: payments, webshop\)"):
        use_example("nope", root)


NOT_CORE: Final = (
    validators.ARGO_KINDS
    | validators.SIGSTORE_KINDS
    | validators.MONITORING_KINDS
    | {"IngressRoute", "TraefikService", "Certificate", "HTTPRoute"}
)
"""Kinds kubernetes-validate has no schema for: the Argo models check Rollouts and analysis, the
router objects are checked against their real CRDs on the control plane
(tests/cluster/test_traffic_routers.py), the others in their own tests."""


@pytest.fixture(scope="module", params=EXAMPLES)
def example_check(request: pytest.FixtureRequest) -> ProjectCheck:
    return _check(EXAMPLES_DIR / str(request.param))


def test_every_example_passes_every_validator(example_check: ProjectCheck) -> None:
    """Each stage of each example: its workflows through actionlint, zizmor and GitHub's workflow
    schema; its Kubernetes objects through kubernetes-validate --strict and the Argo Rollouts
    models."""
    assert example_check.renders
    for stack, rendered in example_check.renders.items():
        files = tree(rendered)
        workflows = {k: v for k, v in files.items() if k.startswith("github/workflows/")}
        assert workflows, stack
        in_repository = repo_files(workflows)
        assert validators.actionlint(in_repository) == [], stack
        assert validators.zizmor(in_repository) == [], stack
        assert validators.workflow_schema(in_repository) == [], stack
        objects = list(kubernetes_objects(rendered).values())
        core = [o for o in objects if o["kind"] not in NOT_CORE]
        assert validators.kubernetes_strict(core) == [], stack
        argo = [o for o in objects if o["kind"] in validators.ARGO_KINDS]
        assert validators.argo_models(argo) == [], stack


def test_payments_is_trunk_based_with_traefik_and_slack_only() -> None:
    """The second delivery model as the issue describes it: dev → prod, prod from v* tags only,
    the canary split by Traefik, every notification to Slack and none to Discord."""
    check = _check(EXAMPLES_DIR / "payments")
    files = {stack: tree(rendered) for stack, rendered in check.renders.items()}
    prod_kinds = {o["kind"] for o in kubernetes_objects(check.renders["prod"]).values()}
    assert {"TraefikService", "IngressRoute"} <= prod_kinds
    workflows = {
        f"{stack}/{name}": text
        for stack, tree_ in files.items()
        for name, text in tree_.items()
        if name.startswith("github/workflows/")
    }
    assert not [name for name, text in workflows.items() if "DISCORD" in text]
    assert "SLACK_WEBHOOK_URL" in workflows["prod/github/workflows/prod-deploy.yml"]
    prod = yaml.safe_load(workflows["prod/github/workflows/prod-deploy.yml"])
    assert "PREVIOUS: development" in workflows["prod/github/workflows/prod-deploy.yml"]
    assert prod["on"].keys() == {"workflow_dispatch"}


def test_use_example_names_the_stack_files_git_could_not_restore(tmp_path: Path) -> None:
    """Stack files with uncommitted changes (or no checkout at all) are what use-example would
    lose for good: they are listed (and main() refuses them without --force)."""
    assert unsaved_stack_files(tmp_path) is None  # not a git checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "platform").mkdir()
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "platform" / "Pulumi.prod.yaml").write_text("config: {}\n")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "stacks"], cwd=tmp_path, check=True)
    assert unsaved_stack_files(tmp_path) == []
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {cicd:registryToken: {secure: v1:x}}\n")
    (tmp_path / "Pulumi.qa.yaml").write_text("config: {}\n")
    (tmp_path / "platform" / "Pulumi.prod.yaml").unlink()
    assert unsaved_stack_files(tmp_path) == [
        "Pulumi.dev.yaml",
        "Pulumi.qa.yaml",
        "platform/Pulumi.prod.yaml",
    ]
