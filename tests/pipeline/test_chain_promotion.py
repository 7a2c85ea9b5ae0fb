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
from tests.conftest import EXAMPLES_DIR, STACKS_DIR, copy_project
from tests.pipeline.harness import (
    REPOSITORY,
    GitHubEnvironment,
    HttpRule,
    Pipeline,
    Response,
    RunResult,
    Scenario,
    written_by,
)
from tests.pipeline.test_deploy_release import (
    COMMIT,
    HEALTHY,
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
    document: dict[str, Any] = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())
    document["config"]["cicd:environment"]["promotesFrom"] = "dev"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return render("prod", root)


def _run(
    tmp_path: Path,
    workflow: str,
    rendered: Rendered,
    github: dict[str, Any],
    ref: str = "refs/heads/main",
    signature: dict[str, Any] = SIGNED_BY_CI,
    http: tuple[HttpRule, ...] = HEALTHY,
) -> RunResult:
    (rollout,) = [o for o in kubernetes_objects(rendered).values() if o["kind"] == "Rollout"]
    running = copy.deepcopy(rollout)
    running["metadata"]["generation"] = 1
    container = running["spec"]["template"]["spec"]["containers"][0]
    repository = container["image"].split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    container["image"] = f"{repository}@{OLD}"
    scenario = Scenario(
        http=http,
        kube_objects=(running,),
        signatures={NEW: signature},
        github=github,
    )
    pipe = Pipeline(tmp_path / "run", scenario, app=None)
    pipe.add_workflow(WORKFLOW, workflow)
    variables, environments = written_by(rendered, {"KUBECONFIG": "apiVersion: v1\nkind: Config\n"})
    return pipe.run(
        "workflow_dispatch",
        WORKFLOW,
        ref=ref,
        payload={"inputs": {"release": NEW, "action": "deploy"}},
        variables={**variables, "PROD_DEPLOY_ENABLED": "true"},
        environments={
            name: GitHubEnvironment({**own.variables, "DEPLOY_ENABLED": "true"}, own.secrets)
            for name, own in environments.items()
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


PAYMENTS_SIGNED_BY_CI: dict[str, Any] = {
    **SIGNED_BY_CI,
    # trunk-based: CI publishes from main (examples/payments); the repository is the harness's
    # (github.repository, which the verify step's identity is built from)
    "identity": f"https://github.com/{REPOSITORY}/.github/workflows/ci.yml@refs/heads/main",
}
PAYMENTS_HEALTHY = (HttpRule(r"/health$", (Response(200, '{"status":"ok"}'),)),)
"""examples/payments' app.healthPath."""
PAYMENTS_ACCEPTED_IN_DEV: dict[str, Any] = {
    "ci_runs": [{"head_sha": COMMIT, "branch": "main", "conclusion": "success"}],
    "deployments": [accepted_in("development", COMMIT, NEW, 6)],
}


@pytest.fixture(scope="module")
def payments() -> tuple[Rendered, str]:
    """prod of examples/payments: trunk-based dev → prod, Traefik, Slack only."""
    rendered = render("prod", PROJECT_DIR, stacks_dir=EXAMPLES_DIR / "payments")
    return rendered, tree(rendered)[f"github/workflows/{WORKFLOW}"]


def test_the_payments_example_promotes_a_tag_dev_accepted(
    tmp_path: Path, payments: tuple[Rendered, str]
) -> None:
    """The trunk-based example's prod releases a v* tag whose digest dev accepted, and refuses
    the same release dispatched from main (its environment deploys from tags only)."""
    rendered, workflow = payments
    result = _run(
        tmp_path / "tag",
        workflow,
        rendered,
        PAYMENTS_ACCEPTED_IN_DEV,
        ref="refs/tags/v0.9.1",
        signature=PAYMENTS_SIGNED_BY_CI,
        http=PAYMENTS_HEALTHY,
    )
    assert result.jobs["verify"] == "success", result.output
    assert result.jobs["deploy"] == "success", result.output
    refused = _run(
        tmp_path / "main",
        workflow,
        rendered,
        PAYMENTS_ACCEPTED_IN_DEV,
        signature=PAYMENTS_SIGNED_BY_CI,
    )
    # the dispatch guard: a ref the environment's policy does not list runs nothing
    assert refused.jobs["verify"] == "skipped", refused.output
    assert refused.jobs["deploy"] == "skipped", refused.output
