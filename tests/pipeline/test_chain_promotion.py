"""Executed scenario of a two-stage chain, dev → prod (issue 26): prod promotes from dev.

The chain is built from fixtures in a project copy (the shipped dev and prod stack files, prod
edited to ``promotesFrom: dev``; no staging). prod-deploy.yml rendered from it runs with act on
the harness (tests/pipeline/harness.py: fake gh holding GitHub's deployment records, fake cosign,
fake kubectl walking the rendered Rollout). It refuses a digest with no accepted deployment in
dev's GitHub environment ``development``, and deploys one that has it. The same workflow with the
earlier hard-coded ``staging`` as the previous environment refuses the digest dev accepted: that
is the bug the chain fixes (a prod release of a chain without staging could never pass).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from render.engine import PROJECT_DIR, Rendered, render
from render.tree import kubernetes_objects, tree
from tests.conftest import copy_project
from tests.pipeline.harness import GitHubEnvironment, Pipeline, RunResult, Scenario
from tests.pipeline.test_deploy_release import (
    COMMIT,
    HEALTHY,
    IMAGE,
    NEW,
    OLD,
    PASSED_CI,
    SIGNED_BY_CI,
    accepted_in,
)

pytestmark = pytest.mark.pipeline

WORKFLOW = "prod-deploy.yml"


def _two_stage_prod(root: Path) -> Rendered:
    """prod of a dev → prod project copy (staging's file removed)."""
    copy_project(root)
    (root / "Pulumi.staging.yaml").unlink()
    path = root / "Pulumi.prod.yaml"
    document: dict[str, Any] = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    document["config"]["cicd:environment"]["promotesFrom"] = "dev"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return render("prod", root)


def _written(rendered: Rendered) -> tuple[dict[str, str], str, dict[str, str]]:
    """Repository variables, the GitHub environment and its variables, as the stack writes them."""
    repository: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {}
    for resource in rendered.resources:
        if resource.type == "github:index/actionsVariable:ActionsVariable":
            repository[resource.inputs["variableName"]] = resource.inputs["value"]
        elif resource.type == "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable":
            variables = own.setdefault(resource.inputs["environment"], {})
            variables[resource.inputs["variableName"]] = resource.inputs["value"]
    ((environment, variables),) = own.items()
    return repository, environment, variables


def _run(tmp_path: Path, workflow: str, rendered: Rendered, github: dict[str, Any]) -> RunResult:
    (rollout,) = [o for o in kubernetes_objects(rendered).values() if o["kind"] == "Rollout"]
    running = copy.deepcopy(rollout)
    running["metadata"]["generation"] = 1
    running["spec"]["template"]["spec"]["containers"][0]["image"] = f"{IMAGE}@{OLD}"
    scenario = Scenario(
        http=HEALTHY,
        kube_objects=(running,),
        signatures={NEW: SIGNED_BY_CI},
        github=github,
    )
    pipe = Pipeline(tmp_path / "run", scenario, app=None)
    pipe.add_workflow(WORKFLOW, workflow)
    repository, environment, variables = _written(rendered)
    return pipe.run(
        "workflow_dispatch",
        WORKFLOW,
        ref="refs/heads/main",
        payload={"inputs": {"release": NEW, "action": "deploy"}},
        variables={**repository, "PROD_DEPLOY_ENABLED": "true"},
        environments={
            environment: GitHubEnvironment(
                {**variables, "DEPLOY_ENABLED": "true"},
                {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"},
            )
        },
    )


ACCEPTED_IN_DEV: dict[str, Any] = {
    **PASSED_CI,
    "deployments": [accepted_in("development", COMMIT, NEW, 6)],
}
ACCEPTED_IN_STAGING_ONLY: dict[str, Any] = {
    **PASSED_CI,
    "deployments": [accepted_in("staging", COMMIT, NEW, 7)],
}


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, str]:
    rendered = _two_stage_prod(tmp_path_factory.mktemp("chain"))
    return rendered, tree(rendered)[f"github/workflows/{WORKFLOW}"]


def test_prod_refuses_a_digest_dev_never_accepted(
    tmp_path: Path, two_stage: tuple[Rendered, str]
) -> None:
    rendered, workflow = two_stage
    result = _run(tmp_path, workflow, rendered, ACCEPTED_IN_STAGING_ONLY)
    assert result.jobs["verify"] == "failure", result.output
    assert result.jobs["deploy"] == "skipped"
    assert any(
        "never deployed successfully to development" in e
        for e in result.annotations("error", "verify")
    ), result.notes


def test_prod_deploys_a_digest_dev_accepted(
    tmp_path: Path, two_stage: tuple[Rendered, str]
) -> None:
    rendered, workflow = two_stage
    result = _run(tmp_path, workflow, rendered, ACCEPTED_IN_DEV)
    assert result.jobs["verify"] == "success", result.output
    assert result.jobs["deploy"] == "success", result.output


def test_the_old_hard_coded_staging_refuses_what_dev_accepted(
    tmp_path: Path, two_stage: tuple[Rendered, str]
) -> None:
    """prod-deploy.yml as it was before the chain (PREVIOUS: staging, fixed): the digest dev
    accepted is refused, so a dev → prod project could never release."""
    rendered, workflow = two_stage
    assert workflow.count("PREVIOUS: development") == 1
    old = workflow.replace("PREVIOUS: development", "PREVIOUS: staging")
    result = _run(tmp_path, old, rendered, ACCEPTED_IN_DEV)
    assert result.jobs["verify"] == "failure", result.output
    assert any(
        "never deployed successfully to staging" in e for e in result.annotations("error", "verify")
    ), result.notes
