"""What the stacks write to GitHub and what the workflows read are the same set.

On the rendered files, not on the generator's intentions: every ``vars.NAME`` and
``secrets.NAME`` a workflow file holds must be written by the stack that commits that file
(github/settings.yaml: its environment's variables and secrets, its repository variables; the
repository secrets are the dev stack's), and every variable or secret a stack writes must be read
by a workflow. Variables and secrets stack config adds for the application itself
(``cicd:environment.variables`` / ``.secrets``) are not the workflows' and are left out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest
import yaml

from components.workflows import contract
from render.tree import tree
from tests.conftest import STACKS, files, render_variant, stack_config, variant

Ref = tuple[bool, str]
"""(is_secret, NAME)."""

_OIDC: Final = {"cicd:cluster.access": "githubOidc"}


@dataclass(frozen=True)
class StackSide:
    """One stack's render, seen from GitHub: what it writes and which workflows it commits."""

    environment: frozenset[Ref]
    repository_variables: frozenset[str]
    repository_secrets: frozenset[str]
    workflows: Mapping[str, frozenset[Ref]]


def app_owned(config: Mapping[str, Any]) -> frozenset[Ref]:
    """What stack config adds to the environment for the application's own use."""
    environment = config.get("cicd:environment", {})
    return frozenset(
        {(False, name) for name in environment.get("variables", {})}
        | {(True, entry["name"]) for entry in environment.get("secrets", [])}
    )


def side(tree_files: Mapping[str, str], config: Mapping[str, Any]) -> StackSide:
    settings = yaml.safe_load(tree_files["github/settings.yaml"])
    (environment,) = settings["environments"].values()
    written = frozenset(
        {(False, name) for name in environment["variables"]}
        | {(True, name) for name in environment["secrets"]}
    )
    return StackSide(
        environment=written - app_owned(config),
        repository_variables=frozenset(settings["repository_variables"]),
        repository_secrets=frozenset(settings["repository_secrets"]),
        workflows={
            path.removeprefix("github/workflows/"): contract.reads(text)
            for path, text in tree_files.items()
            if path.startswith("github/workflows/")
        },
    )


def mismatches(own: StackSide, dev: StackSide, all_reads: frozenset[Ref]) -> list[str]:
    """Reads nobody writes, and writes nobody reads, of one stack."""
    problems: list[str] = []
    written = (
        own.environment
        | {(False, name) for name in own.repository_variables}
        | {(True, name) for name in dev.repository_secrets}
    )
    for workflow, read in sorted(own.workflows.items()):
        for ref in sorted(read):
            entry = contract.lookup(ref)
            if entry is None:
                problems.append(f"{workflow} reads {ref[1]}, which is not in the contract")
                continue
            if not contract.reads_in(entry, workflow):
                problems.append(f"{workflow} reads {ref[1]}; the contract says it does not")
            if entry.where is not contract.Where.AUTOMATIC and ref not in written:
                problems.append(f"{workflow} reads {ref[1]}, which this stack does not write")
    own_reads = frozenset().union(*own.workflows.values())
    for ref in sorted(own.environment | {(False, name) for name in own.repository_variables}):
        if ref not in own_reads:
            problems.append(f"writes {ref[1]}, which none of its workflows reads")
    for name in sorted(own.repository_secrets):
        if (True, name) not in all_reads:
            problems.append(f"writes repository secret {name}, which no workflow reads")
    return problems


def _check(sides: Mapping[str, StackSide]) -> dict[str, list[str]]:
    all_reads = frozenset().union(*(r for s in sides.values() for r in s.workflows.values()))
    return {
        stack: problems
        for stack, own in sides.items()
        if (problems := mismatches(own, sides["dev"], all_reads))
    }


def test_every_stack_writes_what_its_workflows_read_and_reads_what_it_writes() -> None:
    sides = {stack: side(files(stack), stack_config(stack)) for stack in STACKS}
    assert _check(sides) == {}
    # The repository secrets are read across stacks: staging's Slack alert uses dev's secret.
    assert (True, "SLACK_WEBHOOK_URL") in sides["staging"].workflows["stage-deploy.yml"]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_github_oidc_mode_writes_the_kubeconfig_variables_its_workflow_reads(stack: str) -> None:
    sides = {name: side(files(name), stack_config(name)) for name in STACKS}
    sides[stack] = side(tree(render_variant(stack, _OIDC)), variant(stack, _OIDC))
    assert _check(sides) == {}
    read = sides[stack].workflows[f"{'dev' if stack == 'dev' else 'stage'}-deploy.yml"]
    assert {(False, "KUBE_SERVER"), (False, "KUBE_AUDIENCE")} <= read
    assert (True, "KUBECONFIG") not in read


def _side(environment: set[Ref], repo_vars: set[str], reads_: set[Ref]) -> StackSide:
    return StackSide(
        frozenset(environment),
        frozenset(repo_vars),
        frozenset({"DISCORD_WEBHOOK_URL"}),
        {"dev-deploy.yml": frozenset(reads_)},
    )


def test_the_check_finds_both_directions_of_the_earlier_bugs() -> None:
    """The bug class this guards: a variable set but never read (DEPLOY_ENABLED everywhere but
    read only by prod), and one read but never written (the OIDC variables in token mode)."""
    read = {(False, "APP_URL"), (False, "KUBE_SERVER"), (True, "DISCORD_WEBHOOK_URL")}
    dev = _side({(False, "APP_URL"), (False, "DEPLOY_ENABLED")}, {"DEV_DEPLOY_ENABLED"}, read)
    assert mismatches(dev, dev, frozenset(read)) == [
        "dev-deploy.yml reads KUBE_SERVER, which this stack does not write",
        "writes DEPLOY_ENABLED, which none of its workflows reads",
        "writes DEV_DEPLOY_ENABLED, which none of its workflows reads",
    ]
    unknown = _side(set(), set(), {(False, "NOT_IN_CONTRACT"), (True, "SNYK_TOKEN")})
    assert mismatches(unknown, unknown, frozenset()) == [
        "dev-deploy.yml reads NOT_IN_CONTRACT, which is not in the contract",
        "dev-deploy.yml reads SNYK_TOKEN; the contract says it does not",
        "dev-deploy.yml reads SNYK_TOKEN, which this stack does not write",
        "writes repository secret DISCORD_WEBHOOK_URL, which no workflow reads",
    ]


def test_the_generators_cannot_name_a_variable_outside_the_contract() -> None:
    assert contract.var("APP_URL") == "${{ vars.APP_URL }}"
    assert contract.secret("KUBECONFIG") == "${{ secrets.KUBECONFIG }}"
    assert contract.deploy_switch("prod") == "PROD_DEPLOY_ENABLED"
    assert contract.deploy_switch("pre-prod") == "PRE_PROD_DEPLOY_ENABLED"
    assert contract.var("QA_DEPLOY_ENABLED") == "${{ vars.QA_DEPLOY_ENABLED }}"
    switch = contract.lookup((False, "QA_DEPLOY_ENABLED"))
    assert switch is not None and switch.read_by == ("qa-deploy.yml",)
    with pytest.raises(KeyError, match=r"LOG_LEVEL is not in components/workflows/contract\.py"):
        contract.var("LOG_LEVEL")
    with pytest.raises(KeyError, match="secret APP_URL"):
        contract.secret("APP_URL")


def test_no_generator_spells_a_variable_secret_or_branch_ref_itself() -> None:
    from tests.conftest import project_path

    spelled = re.compile(r"""["'](vars|secrets)\.|refs/heads/|refs/tags/""")
    for path in sorted(project_path("components", "workflows").glob("*.py")):
        if path.name == "contract.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not spelled.search(line), f"{path.name}:{number}: {line.strip()}"


def scope(tree_files: Mapping[str, str]) -> list[str]:
    """What GitHub would show as empty: every job's reads against its environment (contract)."""
    settings = yaml.safe_load(tree_files["github/settings.yaml"])
    (environment,) = settings["environments"]
    return [
        problem
        for path, text in sorted(tree_files.items())
        if path.startswith("github/workflows/")
        for problem in contract.scope_problems(
            path.removeprefix("github/workflows/"), yaml.safe_load(text), environment
        )
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_job_reads_only_what_github_shows_it(stack: str) -> None:
    """Environment values only in jobs that enter that environment, never in a job's if:;
    repository secrets on pull requests only where an empty value is handled."""
    assert scope(files(stack)) == []


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_github_oidc_mode_reads_its_variables_in_scope(stack: str) -> None:
    assert scope(tree(render_variant(stack, _OIDC))) == []


def test_the_scope_check_names_the_workflow_job_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug class: verify read the staging environment's IMAGE without entering staging,
    so GitHub gave it an empty value (issue 29); the same for a job if: and a fork's PR."""
    workflow = yaml.safe_load(
        """
on: {pull_request: {}, workflow_dispatch: {}}
jobs:
  verify:
    env: {URL: "${{ vars.APP_URL }}"}
  deploy:
    if: vars.DEPLOY_ENABLED == 'true'
    environment: {name: staging, url: "${{ vars.APP_URL }}"}
    steps: [{run: echo, env: {K: "${{ secrets.KUBECONFIG }}"}}]
  elsewhere:
    environment: production
    steps: [{run: echo, env: {N: "${{ vars.NAMESPACE }}"}}]
  pr:
    steps: [{run: echo, env: {T: "${{ secrets.KUBECONFIG }}", D: "${{ secrets.DISCORD_WEBHOOK_URL }}"}}]
  published:
    if: github.event_name == 'push' && github.ref == 'refs/heads/develop'
    steps: [{run: echo, env: {W: "${{ secrets.DISCORD_WEBHOOK_URL }}"}}]
"""
    )
    assert contract.scope_problems("stage-deploy.yml", workflow, "staging") == [
        "stage-deploy.yml: job verify reads vars.APP_URL, a value of GitHub environment "
        "staging, but the job does not enter it (environment: none): empty there",
        "stage-deploy.yml: job deploy reads vars.DEPLOY_ENABLED in a job key GitHub evaluates "
        "before the job enters environment staging (if, runs-on, concurrency, strategy, name): "
        "empty there",
        "stage-deploy.yml: job elsewhere reads vars.NAMESPACE, a value of GitHub environment "
        "staging, but the job does not enter it (environment: production): empty there",
        "stage-deploy.yml: job pr reads secrets.KUBECONFIG, a value of GitHub environment "
        "staging, but the job does not enter it (environment: none): empty there",
    ]
    repository_secret = dict(workflow["jobs"]["pr"])
    repository_secret["steps"] = [{"run": "x", "env": {"S": "${{ secrets.SNYK_TOKEN }}"}}]
    workflow["jobs"] = {"pr": repository_secret}
    assert contract.scope_problems("ci.yml", workflow, "development") == []
    unguarded = dataclasses.replace(contract.CONTRACT[(True, "SNYK_TOKEN")], may_be_absent=False)
    monkeypatch.setitem(contract.CONTRACT, (True, "SNYK_TOKEN"), unguarded)
    assert contract.scope_problems("ci.yml", workflow, "development") == [
        "ci.yml: job pr reads secrets.SNYK_TOKEN, which GitHub withholds from pull requests "
        "from forks and Dependabot, and the job runs on pull_request without checking for it"
    ]
