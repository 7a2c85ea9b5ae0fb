"""The ``verify`` job of every later stage's deploy workflow (stage-deploy.yml, prod-deploy.yml,
...): outside the environment, one digest, verified, in promotion order, recorded, shown to the
reviewer (custody.py holds the scripts).

Promotion order: the digest must have an accepted deployment in the GitHub environment of the
stage this one promotes from (``cicd:environment.promotesFrom``), whose name the render reads from
that stage's stack file (components/config/siblings.py), so a renamed environment is followed."""

from __future__ import annotations

from components.workflows import ci, custody
from components.workflows.common import (
    run,
)
from components.workflows.custody import RECORD_STEP, RELEASE_STEP, SIGNATURE_STEP
from components.workflows.deploy.shared import ACTION_INPUT, RELEASE_INPUT, dispatch_guard, enabled
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    all_of,
    expr,
)
from components.workflows.spec import WorkflowsSpec


def verify_job(spec: WorkflowsSpec) -> Job:
    """Outside the environment: one digest, verified, in order, recorded, shown to the reviewer."""
    stage = spec.stage
    previous = stage.previous_github_environment
    if previous is None:
        raise ValueError(f"stage {stage.name} is the first: it has no verify job")
    branch = spec.default_branch
    refs = spec.deploy.dispatch_refs
    guard = all_of(enabled(spec), dispatch_guard(refs)) if refs is not None else enabled(spec)
    return Job(
        name="verify",
        if_=guard,
        timeout_minutes=15,
        permissions=(
            Grant(Scope.DEPLOYMENTS, Access.WRITE, "read the promotion record, open a deployment"),
            Grant(Scope.PACKAGES, Access.READ, "resolve a tag and read signatures from ghcr.io"),
        ),
        outputs={
            "image": RELEASE_STEP.output("image"),
            "digest": RELEASE_STEP.output("digest"),
            "commit": SIGNATURE_STEP.output("commit"),
            "deployment-id": RECORD_STEP.output("deployment-id"),
        },
        steps=(
            custody.resolve(RELEASE_INPUT, ACTION_INPUT),
            *custody.checks(
                branch,
                previous,
                ACTION_INPUT,
            ),
            run(
                "Open the GitHub deployment and summarise for the reviewer",
                custody.RECORD,
                {
                    "GH_TOKEN": expr("github.token"),
                    "ACTION": expr(f"inputs.{ACTION_INPUT}"),
                    "COMMIT": SIGNATURE_STEP.output("commit"),
                    "DIGEST": RELEASE_STEP.output("digest"),
                    "IMAGE_REF": RELEASE_STEP.output("image"),
                    "ENVIRONMENT": spec.deploy.github_environment,
                    "PRODUCTION": "true" if stage.is_production else "false",
                    "SIGNER_IDENTITY": custody.signer_identity(branch),
                    "RUN_URL": ci.RUN_URL,
                },
                id=RECORD_STEP.id,
            ),
        ),
    )
